//! Retrieval: index build rate and query latency of the embedded knowledge index at a given
//! number of chunks, on generated runbook sections.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::knowledge::KnowledgeIndex;

#[derive(Debug, Serialize)]
pub struct RetrievalResult {
    pub mode: String,
    pub chunks: usize,
    pub build_secs: f64,
    pub chunks_per_sec: f64,
    pub queries: usize,
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
    pub index_mib: f64,
}

const SERVICES: [&str; 12] = [
    "checkout-api",
    "payments-api",
    "game-api",
    "search",
    "ledger",
    "inventory",
    "auth",
    "notifications",
    "media",
    "storefront",
    "recommendations",
    "billing-worker",
];
const TOPICS: [&str; 10] = [
    "High CPU on the primary",
    "Connection pool exhausted",
    "Consumer lag rising",
    "Pods OOMKilled",
    "5xx at the edge",
    "Certificate expiry",
    "Disk filling up",
    "Replica lag",
    "Cache evictions",
    "Cron job overrunning",
];

/// Writes `chunks` sections (ten per file) and indexes them; then runs `queries` searches.
pub fn run(
    chunks: usize,
    queries: usize,
    scratch: &std::path::Path,
    embedder: Option<crate::knowledge::Embedder>,
) -> anyhow::Result<RetrievalResult> {
    let mode = if embedder.is_some() { "hybrid" } else { "bm25" };
    let docs = scratch.join(format!("retrieval-{chunks}/runbooks"));
    std::fs::create_dir_all(&docs)?;
    for file in 0..chunks.div_ceil(10) {
        let service = SERVICES[file % SERVICES.len()];
        let mut text = format!("# {service} runbook {file}\n");
        for section in 0..10.min(chunks - file * 10) {
            let topic = TOPICS[(file + section) % TOPICS.len()];
            text.push_str(&format!(
                "## {topic} {file}-{section}\nWhen {service} shows {topic}, check the dashboards for instance {service}-{file}-{section}. \
                 Compare against the last deploy, look at pg_stat_activity, kubectl describe the pods, and page the owning team \
                 if the error budget burns faster than 2x. Rollback is the safest first action after a recent rollout.\n"
            ));
        }
        std::fs::write(docs.join(format!("{service}-{file}.md")), text)?;
    }
    let index_dir = scratch.join(format!("retrieval-{chunks}-{mode}/index"));
    let index = KnowledgeIndex::open_with(&index_dir, embedder)?;
    let started = Instant::now();
    let report = index.index_path("runbooks", &docs)?;
    let build = started.elapsed();
    let mut latencies: Vec<Duration> = Vec::with_capacity(queries);
    for n in 0..queries {
        let query = format!(
            "{} {} instance {}-{}-{}",
            SERVICES[n % SERVICES.len()],
            TOPICS[n % TOPICS.len()],
            SERVICES[n % SERVICES.len()],
            n % chunks.div_ceil(10).max(1),
            n % 10
        );
        let started = Instant::now();
        let hits = index.search(&query, 3)?;
        latencies.push(started.elapsed());
        anyhow::ensure!(!hits.is_empty(), "no hit for {query}");
    }
    latencies.sort();
    Ok(RetrievalResult {
        mode: mode.into(),
        index_mib: dir_size(&index_dir) as f64 / 1_048_576.0,
        chunks: report.chunks,
        build_secs: build.as_secs_f64(),
        chunks_per_sec: report.chunks as f64 / build.as_secs_f64().max(1e-9),
        queries,
        query_p50_ms: super::percentile(&latencies, 0.5),
        query_p99_ms: super::percentile(&latencies, 0.99),
    })
}

fn dir_size(path: &std::path::Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum(),
        Err(_) => 0,
    }
}
