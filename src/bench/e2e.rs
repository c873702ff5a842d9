//! End-to-end latency against the critical path, and an alert storm, through the real daemon
//! with fake upstreams of fixed latency.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::fakes::{self, Latencies, Upstreams};
use super::{Daemon, TOKEN, percentile};

#[derive(Debug, Serialize)]
pub struct EndToEndResult {
    pub incidents: usize,
    /// Requests the Kubernetes, AWS and Cloudflare fakes answered (the collectors ran).
    pub other_requests: usize,
    pub delivered: usize,
    pub datadog_ms: u64,
    pub model_ms: u64,
    pub slack_ms: u64,
    pub critical_path_ms: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub overhead_ratio_p50: f64,
    pub overhead_ratio_p99: f64,
    pub overhead_p50_ms: f64,
    pub overhead_p99_ms: f64,
    /// Incidents whose progressive card reached Slack, and how long after the 202.
    pub cards: usize,
    pub card_p50_ms: f64,
    pub card_p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct StormResult {
    pub webhooks: usize,
    pub alerts: usize,
    pub seconds: u64,
    pub acknowledged: usize,
    pub errors: usize,
    pub incidents_created: usize,
    pub model_peak_concurrency: usize,
    pub model_concurrency_limit: usize,
    pub model_calls: usize,
    pub slack_parent_posts: usize,
    pub duplicate_posts: usize,
    pub drained: bool,
    pub peak_rss_mib: f64,
}

/// Routes every benchmark service to its own channel, as one channel per service would be
/// in production (Slack paces new messages per channel).
fn config_with_routes(dir: &Path, services: usize) -> anyhow::Result<std::path::PathBuf> {
    let mut text = String::from("[slack]\ndefault_channel = \"C0BENCH\"\n");
    for i in 0..services {
        text.push_str(&format!(
            "[[slack.routes]]\nservice = \"svc-{i}\"\nchannel = \"C{i:05}\"\n"
        ));
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn env(upstreams: &Upstreams, workers: usize, model_concurrency: usize) -> Vec<(String, String)> {
    [
        ("DD_API_KEY", "bench".to_string()),
        ("DD_APP_KEY", "bench".to_string()),
        ("TRIAGED__DATADOG__API_BASE", upstreams.datadog.clone()),
        ("OPENAI_API_KEY", "sk-bench".to_string()),
        ("TRIAGED__LLM__BASE_URL", format!("{}/v1", upstreams.model)),
        ("TRIAGED__LLM__ESCALATE_AT_OR_BELOW", "never".to_string()),
        (
            "TRIAGED__LLM__MAX_CONCURRENCY",
            model_concurrency.to_string(),
        ),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_string()),
        ("TRIAGED__SLACK__API_BASE", upstreams.slack.clone()),
        ("TRIAGED__WORKERS__COUNT", workers.to_string()),
        ("TRIAGED__KUBERNETES__ENABLED", "true".to_string()),
        ("TRIAGED__KUBERNETES__API_URL", upstreams.kubernetes.clone()),
        ("TRIAGED__AWS__ENABLED", "true".to_string()),
        ("TRIAGED__AWS__ENDPOINT_URL", upstreams.aws.clone()),
        ("TRIAGED__AWS__REGION", "eu-west-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIABENCHBENCHBENCH0".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_string()),
        ("CLOUDFLARE_API_TOKEN", "bench".to_string()),
        (
            "TRIAGED__CLOUDFLARE__API_BASE",
            upstreams.cloudflare.clone(),
        ),
        ("TRIAGED__CLOUDFLARE__ZONE_ID", "benchzone".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn payload(delivery: usize, alert: usize, transition: &str) -> String {
    json!({
        "id": format!("bench-{delivery}"),
        "alert_id": format!("{}", 700_000 + alert),
        "alert_cycle_key": format!("cycle-{alert}"),
        "transition": transition,
        "title": format!("[{transition}] svc-{alert} p99 latency above 2s"),
        "query": "avg(last_5m):avg:trace.http.request.duration{service:svc} > 2",
        "scope": format!("service:svc-{alert}"),
        "priority": "P2",
        "tags": format!("service:svc-{alert},env:prod,kube_namespace:production,kube_deployment:svc-{alert},dbinstanceidentifier:bench-db-{alert}"),
        "date": chrono::Utc::now().timestamp_millis().to_string(),
    })
    .to_string()
}

async fn post(client: &reqwest::Client, base: &str, body: String) -> Option<Value> {
    let response = client
        .post(format!("{base}/webhooks/datadog"))
        .header("content-type", "application/json")
        .header("x-triaged-token", TOKEN)
        .body(body)
        .send()
        .await
        .ok()?;
    (response.status() == reqwest::StatusCode::ACCEPTED).then_some(())?;
    response.json().await.ok()
}

pub async fn end_to_end(
    incidents: usize,
    rate: u32,
    latencies: Latencies,
    scratch: &Path,
) -> anyhow::Result<EndToEndResult> {
    let upstreams = fakes::start(latencies).await?;
    let dir = scratch.join("e2e");
    std::fs::create_dir_all(&dir)?;
    let config = config_with_routes(&dir, incidents)?;
    let daemon = Daemon::start_with(
        &dir,
        Some(&config),
        &env(&upstreams, incidents.clamp(4, 256), 256),
    )
    .await?;
    let client = reqwest::Client::new();
    let mut acknowledged: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    for n in 0..incidents {
        ticker.tick().await;
        if let Some(receipt) = post(&client, &daemon.base, payload(n, n, "Triggered")).await
            && let Some(id) = receipt["incident_id"].as_str()
        {
            acknowledged.insert(id.to_string(), Instant::now());
        }
    }
    let critical = latencies.datadog + latencies.model + latencies.slack;
    let deadline = Instant::now() + critical * 4 + Duration::from_secs(30);
    while Instant::now() < deadline
        && upstreams.recorder.brief_at.lock().await.len() < acknowledged.len()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = upstreams.recorder.brief_at.lock().await.clone();
    let mut durations: Vec<Duration> = acknowledged
        .iter()
        .filter_map(|(id, at)| {
            delivered
                .get(id)
                .map(|done| done.saturating_duration_since(*at))
        })
        .collect();
    durations.sort();
    let cards = upstreams.recorder.card_at.lock().await.clone();
    let mut card_durations: Vec<Duration> = acknowledged
        .iter()
        .filter_map(|(id, at)| cards.get(id).map(|c| c.saturating_duration_since(*at)))
        .collect();
    card_durations.sort();
    let critical_ms = critical.as_secs_f64() * 1000.0;
    let (p50, p95, p99) = (
        percentile(&durations, 0.5),
        percentile(&durations, 0.95),
        percentile(&durations, 0.99),
    );
    // What the collectors reported for one incident, so a misconfigured fake shows.
    if let Some(id) = acknowledged.keys().next() {
        let detail: Value = client
            .get(format!("{}/api/incidents/{id}", daemon.base))
            .send()
            .await?
            .json()
            .await?;
        let sources: Vec<String> = detail["evidence"]["reports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{} {} {} ms{}",
                    r["source"].as_str().unwrap_or("?"),
                    r["status"].as_str().unwrap_or("?"),
                    r["elapsed_ms"],
                    r["message"]
                        .as_str()
                        .map_or(String::new(), |m| format!(" ({m})"))
                )
            })
            .collect();
        println!("sources of one incident: {}", sources.join("; "));
    }
    drop(daemon);
    Ok(EndToEndResult {
        incidents,
        other_requests: upstreams.recorder.other_requests.load(Ordering::SeqCst),
        delivered: durations.len(),
        datadog_ms: latencies.datadog.as_millis() as u64,
        model_ms: latencies.model.as_millis() as u64,
        slack_ms: latencies.slack.as_millis() as u64,
        critical_path_ms: critical.as_millis() as u64,
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
        overhead_ratio_p50: p50 / critical_ms,
        overhead_ratio_p99: p99 / critical_ms,
        overhead_p50_ms: p50 - critical_ms,
        overhead_p99_ms: p99 - critical_ms,
        cards: card_durations.len(),
        card_p50_ms: percentile(&card_durations, 0.5),
        card_p99_ms: percentile(&card_durations, 0.99),
    })
}

pub async fn storm(
    webhooks: usize,
    alerts: usize,
    seconds: u64,
    latencies: Latencies,
    scratch: &Path,
) -> anyhow::Result<StormResult> {
    let upstreams = fakes::start(latencies).await?;
    let dir = scratch.join("storm");
    std::fs::create_dir_all(&dir)?;
    let config = config_with_routes(&dir, alerts)?;
    let model_limit = 4;
    let daemon = Daemon::start_with(&dir, Some(&config), &env(&upstreams, 4, model_limit)).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let interval = Duration::from_secs_f64(seconds as f64 / webhooks.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..webhooks {
        ticker.tick().await;
        let alert = n % alerts.max(1);
        let transition = if n < alerts {
            "Triggered"
        } else {
            "Re-Triggered"
        };
        let (client, base, body) = (
            client.clone(),
            daemon.base.clone(),
            payload(n, alert, transition),
        );
        tasks.spawn(async move { post(&client, &base, body).await });
    }
    let (mut acknowledged, mut errors, mut created) = (0, 0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.ok().flatten() {
            Some(receipt) => {
                acknowledged += 1;
                created += usize::from(receipt["outcome"] == "new");
            }
            None => errors += 1,
        }
    }
    // Wait for the queue to drain.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut drained = false;
    while Instant::now() < deadline {
        let metrics = client
            .get(format!("{}/metrics", daemon.base))
            .send()
            .await?
            .text()
            .await?;
        let pending = ["queued", "running"].iter().any(|state| {
            metrics
                .lines()
                .find(|l| l.starts_with(&format!("triaged_jobs{{state=\"{state}\"}}")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0)
        });
        if !pending {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let incidents: Vec<Value> = client
        .get(format!("{}/api/incidents?limit=500", daemon.base))
        .send()
        .await?
        .json()
        .await?;
    let parents = upstreams.recorder.parents.lock().await.clone();
    let peak_rss_mib = daemon.rss_mib("VmHWM:");
    drop(daemon);
    Ok(StormResult {
        webhooks,
        alerts,
        seconds,
        acknowledged,
        errors,
        incidents_created: incidents.len().max(created),
        model_peak_concurrency: upstreams.recorder.model_peak.load(Ordering::SeqCst),
        model_concurrency_limit: model_limit,
        model_calls: upstreams.recorder.model_calls.load(Ordering::SeqCst),
        slack_parent_posts: parents.values().sum(),
        duplicate_posts: parents.values().map(|n| n.saturating_sub(1)).sum(),
        drained,
        peak_rss_mib,
    })
}
