//! `triaged bench`: starts the real daemon as a child process and measures webhook
//! acknowledgement latency at a fixed rate, the maximum sustained accepted rate, and the
//! daemon's idle and peak memory, on SQLite and (when given) PostgreSQL.

mod daemon;
mod e2e;
pub mod fakes;
mod fanout;
mod retrieval;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use tokio::process::{Child, Command};

use daemon::{Daemon, meminfo_total_mib};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fixed request rate for the latency run, per second.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Seconds of the fixed-rate run.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Seconds of the closed-loop throughput run.
    #[arg(long, default_value_t = 10)]
    pub sustained_secs: u64,
    /// Concurrent senders in the throughput run.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Incidents in the end-to-end run (webhook accepted → brief in Slack).
    #[arg(long, default_value_t = 200)]
    pub e2e_incidents: usize,
    /// Webhooks per second in the end-to-end run.
    #[arg(long, default_value_t = 20)]
    pub e2e_rate: u32,
    /// Latency of the fake Datadog API (the slowest collector) in the end-to-end run.
    #[arg(long, default_value_t = 2000)]
    pub collector_ms: u64,
    /// Latency of the fake model in the end-to-end run.
    #[arg(long, default_value_t = 3000)]
    pub model_ms: u64,
    /// Latency of the fake Slack API.
    #[arg(long, default_value_t = 50)]
    pub slack_ms: u64,
    /// Storm: webhooks, distinct alerts, seconds.
    #[arg(long, default_value_t = 5000)]
    pub storm_webhooks: usize,
    #[arg(long, default_value_t = 50)]
    pub storm_alerts: usize,
    #[arg(long, default_value_t = 30)]
    pub storm_secs: u64,
    /// Fan-out runs (collectors with fixed latencies through the real fan-out).
    #[arg(long, default_value_t = 50)]
    pub fanout_runs: usize,
    /// Chunk counts for the retrieval run.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub retrieval_chunks: Vec<usize>,
    /// Dimensions of the fake embeddings for the hybrid retrieval run.
    #[arg(long, default_value_t = 256)]
    pub embedding_dimensions: usize,
    /// Latency of the fake embeddings endpoint per request.
    #[arg(long, default_value_t = 5)]
    pub embedding_ms: u64,
    /// Largest chunk count the hybrid run is measured at.
    #[arg(long, default_value_t = 100_000)]
    pub hybrid_max_chunks: usize,
    /// Near-limit (~1000 KiB) webhooks per pass of the retained-memory run (two passes).
    #[arg(long, default_value_t = 300)]
    pub large_bodies: usize,
    /// Which parts to run: any of parse, intake, fanout, e2e, storm, retrieval.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "parse,intake,fanout,e2e,storm,retrieval"
    )]
    pub only: Vec<String>,
    /// Also run against this PostgreSQL database.
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Machine {
    cores: usize,
    memory_mib: u64,
}

#[derive(Debug, Serialize)]
struct BackendResult {
    backend: String,
    idle_rss_mib: f64,
    fixed_rate_per_sec: u32,
    fixed_rate_requests: usize,
    fixed_rate_errors: usize,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    ack_max_ms: f64,
    sustained_accepted: usize,
    sustained_errors: usize,
    sustained_per_sec: f64,
    peak_rss_mib: f64,
    /// RSS a few seconds after each pass of near-limit bodies: retained, not in use.
    rss_after_large_bodies_mib: Vec<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    results: Vec<BackendResult>,
    fanout: Option<fanout::FanoutResult>,
    end_to_end: Option<e2e::EndToEndResult>,
    storm: Option<e2e::StormResult>,
    retrieval: Vec<retrieval::RetrievalResult>,
}

const TOKEN: &str = "bench-token";

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_mib: meminfo_total_mib().unwrap_or(0),
    };
    println!(
        "machine: {} cores, {} MiB",
        machine.cores, machine.memory_mib
    );
    let wants = |section: &str| args.only.iter().any(|s| s == section);
    let data = tempfile::tempdir().context("creating a scratch data directory")?;
    let mut report = Report {
        machine,
        results: Vec::new(),
        fanout: None,
        end_to_end: None,
        storm: None,
        retrieval: Vec::new(),
    };

    if wants("parse") {
        println!("\n[parse] the door's CPU cost per delivery, in process (5,000 each)");
        for (name, source, file) in [
            (
                "datadog",
                crate::domain::AlertSource::Datadog,
                "datadog_triggered.json",
            ),
            (
                "alertmanager",
                crate::domain::AlertSource::Alertmanager,
                "alertmanager_group.json",
            ),
            (
                "pagerduty",
                crate::domain::AlertSource::Pagerduty,
                "pagerduty_incident_triggered.json",
            ),
        ] {
            let path = std::path::Path::new("config/samples").join(file);
            let Ok(body) = std::fs::read(&path) else {
                println!(
                    "{name}: {} not found (run from the repository root)",
                    path.display()
                );
                continue;
            };
            let (redacted, raw) = (
                parse_cost(source, &body, false),
                parse_cost(source, &body, true),
            );
            println!(
                "{name:<13} {} bytes: parse + redaction + stored body p50 {:.1} µs, p99 {:.1} µs; \
                 with intake.keep_raw (stored body not redacted) p50 {:.1} µs",
                body.len(),
                redacted.0,
                redacted.1,
                raw.0
            );
        }
    }

    if wants("intake") {
        report
            .results
            .push(bench_backend("sqlite", None, data.path(), &args).await?);
        if let Some(url) = &args.postgres_url {
            report
                .results
                .push(bench_backend("postgres", Some(url), data.path(), &args).await?);
        }
        println!(
            "\n{:<9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>10} {:>10}",
            "backend",
            "idle MiB",
            "p50 ms",
            "p99 ms",
            "max ms",
            "sustained/s",
            "errors",
            "peak MiB"
        );
        let mut retained = Vec::new();
        for r in &report.results {
            println!(
                "{:<9} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>10} {:>10.1}",
                r.backend,
                r.idle_rss_mib,
                r.ack_p50_ms,
                r.ack_p99_ms,
                r.ack_max_ms,
                r.sustained_per_sec,
                r.fixed_rate_errors + r.sustained_errors,
                r.peak_rss_mib
            );
            let passes: Vec<String> = r
                .rss_after_large_bodies_mib
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect();
            retained.push(format!(
                "{}: RSS after each pass of {} ~1000 KiB bodies: {} MiB",
                r.backend,
                args.large_bodies,
                passes.join(" → ")
            ));
        }
        for line in retained {
            println!("{line}");
        }
    }

    if wants("fanout") {
        println!(
            "\n[fan-out] {} runs: 4 collectors at 90/120/180/300 ms, 138 items",
            args.fanout_runs
        );
        let fanout = fanout::run(args.fanout_runs).await;
        println!(
            "fan-out overhead beyond the slowest collector: p50 {:.2} ms, p99 {:.2} ms; bundle {} of {} items kept, {} chars (budget {})",
            fanout.overhead_p50_ms,
            fanout.overhead_p99_ms,
            fanout.items_kept,
            fanout.items_collected,
            fanout.bundle_chars,
            fanout.budget_chars
        );
        report.fanout = Some(fanout);
    }

    if wants("e2e") {
        let latencies = fakes::Latencies {
            datadog: Duration::from_millis(args.collector_ms),
            model: Duration::from_millis(args.model_ms),
            slack: Duration::from_millis(args.slack_ms),
            other: Duration::from_millis(args.collector_ms / 4),
        };
        println!(
            "\n[end-to-end] {} incidents at {}/s; Datadog {} ms, Kubernetes/AWS/Cloudflare {} ms per request, model {} ms, Slack {} ms",
            args.e2e_incidents,
            args.e2e_rate,
            args.collector_ms,
            args.collector_ms / 4,
            args.model_ms,
            args.slack_ms
        );
        let e = e2e::end_to_end(args.e2e_incidents, args.e2e_rate, latencies, data.path()).await?;
        println!(
            "Kubernetes API, AWS and Cloudflare fakes answered {} requests",
            e.other_requests
        );
        println!(
            "webhook accepted → brief in Slack: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms ({} of {} delivered); critical path {} ms; overhead ratio p50 {:.3}, p99 {:.3}; absolute overhead p50 {:.0} ms, p99 {:.0} ms",
            e.p50_ms,
            e.p95_ms,
            e.p99_ms,
            e.delivered,
            e.incidents,
            e.critical_path_ms,
            e.overhead_ratio_p50,
            e.overhead_ratio_p99,
            e.overhead_p50_ms,
            e.overhead_p99_ms
        );
        println!(
            "webhook accepted → first card in Slack (before any source answers): p50 {:.0} ms, p99 {:.0} ms ({} of {} incidents), in the same run as the overhead ratio above",
            e.card_p50_ms, e.card_p99_ms, e.cards, e.incidents
        );
        report.end_to_end = Some(e);
    }

    if wants("storm") {
        let latencies = fakes::Latencies {
            datadog: Duration::from_millis(100),
            model: Duration::from_millis(300),
            slack: Duration::from_millis(20),
            other: Duration::from_millis(25),
        };
        println!(
            "\n[storm] {} webhooks for {} alerts in {} s (Datadog 100 ms, model 300 ms, Slack 20 ms)",
            args.storm_webhooks, args.storm_alerts, args.storm_secs
        );
        let s = e2e::storm(
            args.storm_webhooks,
            args.storm_alerts,
            args.storm_secs,
            latencies,
            data.path(),
        )
        .await?;
        println!(
            "acknowledged {} ({} errors); incidents {}; model calls {} with peak concurrency {} (limit {}); Slack parent posts {} ({} duplicates); queue drained: {}; peak RSS {:.1} MiB",
            s.acknowledged,
            s.errors,
            s.incidents_created,
            s.model_calls,
            s.model_peak_concurrency,
            s.model_concurrency_limit,
            s.slack_parent_posts,
            s.duplicate_posts,
            s.drained,
            s.peak_rss_mib
        );
        report.storm = Some(s);
    }

    if wants("retrieval") {
        // Hybrid runs embed through a fake OpenAI-compatible embeddings endpoint with a fixed
        // latency per request, so the numbers show the index's own cost plus that latency.
        let fake = fakes::embeddings(
            args.embedding_dimensions,
            Duration::from_millis(args.embedding_ms),
            None,
        )
        .await?;
        for &chunks in &args.retrieval_chunks {
            for hybrid in [false, true] {
                let mode = if hybrid {
                    format!(
                        "hybrid BM25 + {}-d dense, fused by closeness; fake embeddings endpoint {} ms/request",
                        args.embedding_dimensions, args.embedding_ms
                    )
                } else {
                    "BM25".to_string()
                };
                if hybrid && chunks > args.hybrid_max_chunks {
                    println!(
                        "\n[retrieval] {chunks} chunks ({mode}): skipped (above --hybrid-max-chunks)"
                    );
                    continue;
                }
                println!(
                    "\n[retrieval] {chunks} chunks ({mode}, embedded Qdrant Edge), 200 queries"
                );
                let scratch = data.path().to_path_buf();
                let embedder = hybrid.then(|| {
                    crate::knowledge::Embedder::from_settings(
                        &crate::config::EmbeddingSettings {
                            base_url: fake.url.clone(),
                            model: "bench-embedding".into(),
                            dimensions: args.embedding_dimensions,
                            batch_size: 256,
                            timeout_secs: 30,
                            ..Default::default()
                        },
                        None,
                    )
                });
                let r = tokio::task::spawn_blocking(move || {
                    retrieval::run(chunks, 200, &scratch, embedder.flatten())
                })
                .await??;
                println!(
                    "indexed {} chunks in {:.1} s ({:.0} chunks/s); query p50 {:.2} ms, p99 {:.2} ms; index {:.1} MiB on disk",
                    r.chunks,
                    r.build_secs,
                    r.chunks_per_sec,
                    r.query_p50_ms,
                    r.query_p99_ms,
                    r.index_mib
                );
                report.retrieval.push(r);
            }
        }
    }

    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// A Datadog webhook in the recommended template; each call is a distinct delivery and
/// every 20 deliveries share a monitor, so intake both opens and groups incidents.
fn datadog_payload(run: &str, n: usize) -> String {
    serde_json::json!({
        "id": format!("{run}-{n}"),
        "alert_id": format!("{}", n / 20),
        "alert_cycle_key": format!("{run}-cycle-{}", n / 20),
        "transition": if n.is_multiple_of(20) { "Triggered" } else { "Re-Triggered" },
        "title": format!("[Triggered] p99 latency high on checkout-api ({n})"),
        "message": "p99 latency above 800 ms for 5 minutes",
        "query": "avg(last_5m):p99:trace.http.request.duration{service:checkout-api} > 0.8",
        "scope": "service:checkout-api,env:prod",
        "priority": "P2",
        "tags": "service:checkout-api,env:prod,team:payments",
        "date": "1732170000000",
        "link": "https://app.datadoghq.com/monitors/1",
        "hostname": "$HOSTNAME",
    })
    .to_string()
}

async fn post(client: &reqwest::Client, base: &str, body: String) -> Result<Duration, ()> {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/webhooks/datadog"))
        .header("content-type", "application/json")
        .header("x-triaged-token", TOKEN)
        .body(body)
        .send()
        .await
        .map_err(|_| ())?;
    let elapsed = started.elapsed();
    if response.status() == reqwest::StatusCode::ACCEPTED {
        Ok(elapsed)
    } else {
        Err(())
    }
}

/// Microseconds (p50, p99) to parse, sanitize and make the stored body of one delivery.
fn parse_cost(source: crate::domain::AlertSource, body: &[u8], keep_raw: bool) -> (f64, f64) {
    let mut times = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let started = Instant::now();
        let parsed = crate::intake::parse(
            source,
            &crate::intake::Delivery {
                body,
                header_delivery_id: Some("bench"),
                received_at: chrono::Utc::now(),
                keep_raw,
            },
        );
        std::hint::black_box(parsed.ok());
        times.push(started.elapsed());
    }
    times.sort();
    (
        percentile(&times, 0.5) * 1000.0,
        percentile(&times, 0.99) * 1000.0,
    )
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

async fn bench_backend(
    backend: &str,
    database_url: Option<&str>,
    scratch: &Path,
    args: &BenchArgs,
) -> anyhow::Result<BackendResult> {
    let data_dir = scratch.join(backend);
    std::fs::create_dir_all(&data_dir)?;
    println!("\n[{backend}] starting daemon");
    let daemon = Daemon::start(database_url, &data_dir).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss_mib = daemon.rss_mib("VmRSS:");
    let run = uuid::Uuid::now_v7().simple().to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    // Fixed rate: one request every 1/rate seconds regardless of how long earlier ones take.
    let total = (u64::from(args.rate) * args.duration_secs) as usize;
    println!("[{backend}] {total} webhooks at {}/s", args.rate);
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        ticker.tick().await;
        let (client, base, body) = (
            client.clone(),
            daemon.base.clone(),
            datadog_payload(&run, n),
        );
        tasks.spawn(async move { post(&client, &base, body).await });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut fixed_errors = 0;
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(latency)) => latencies.push(latency),
            _ => fixed_errors += 1,
        }
    }
    latencies.sort();

    // Sustained: `concurrency` senders as fast as the daemon acknowledges.
    println!(
        "[{backend}] closed loop, {} senders for {} s",
        args.concurrency, args.sustained_secs
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(total));
    let deadline = Instant::now() + Duration::from_secs(args.sustained_secs);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, base, run, next) = (
            client.clone(),
            daemon.base.clone(),
            run.clone(),
            Arc::clone(&next),
        );
        senders.spawn(async move {
            let (mut ok, mut errors) = (0usize, 0usize);
            while Instant::now() < deadline {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match post(&client, &base, datadog_payload(&run, n)).await {
                    Ok(_) => ok += 1,
                    Err(()) => errors += 1,
                }
            }
            (ok, errors)
        });
    }
    let (mut accepted, mut sustained_errors) = (0, 0);
    while let Some(result) = senders.join_next().await {
        let (ok, errors) = result.unwrap_or((0, 1));
        accepted += ok;
        sustained_errors += errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak_rss_mib = daemon.rss_mib("VmHWM:");

    // Retained memory: near-limit bodies, eight at a time, then what stays once they are done.
    let filler = "x".repeat(1000 * 1024 - 600);
    let mut rss_after_large_bodies_mib = Vec::new();
    for pass in 0..2 {
        let mut tasks = tokio::task::JoinSet::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(8));
        for n in 0..args.large_bodies {
            let mut body: serde_json::Value =
                serde_json::from_str(&datadog_payload(&format!("{run}-large{pass}"), n))?;
            body["message"] = serde_json::Value::String(filler.clone());
            let (client, base, gate) = (client.clone(), daemon.base.clone(), Arc::clone(&gate));
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                post(&client, &base, body.to_string()).await
            });
        }
        while tasks.join_next().await.is_some() {}
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss_after_large_bodies_mib.push(daemon.rss_mib("VmRSS:"));
    }
    drop(daemon);

    Ok(BackendResult {
        backend: backend.to_string(),
        idle_rss_mib,
        fixed_rate_per_sec: args.rate,
        fixed_rate_requests: total,
        fixed_rate_errors: fixed_errors,
        ack_p50_ms: percentile(&latencies, 0.50),
        ack_p99_ms: percentile(&latencies, 0.99),
        ack_max_ms: percentile(&latencies, 1.0),
        sustained_accepted: accepted,
        sustained_errors,
        sustained_per_sec: accepted as f64 / elapsed,
        peak_rss_mib,
        rss_after_large_bodies_mib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
