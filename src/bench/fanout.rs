//! Fan-out overhead: collectors with fixed latencies run through the real
//! `collect_with_deadline`; overhead is what the bundle takes beyond the slowest collector.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use crate::collectors::{
    CollectError, Collected, Collector, Deadlines, Registered, collect_with_deadline,
};
use crate::domain::{EvidenceItem, Series, Targets, Window};

/// Answers after a fixed delay with `items` realistic items (each a 60-point series).
struct FixedLatency {
    name: &'static str,
    latency: Duration,
    items: usize,
}

#[async_trait]
impl Collector for FixedLatency {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn collect(&self, _: &Targets, window: &Window) -> Result<Collected, CollectError> {
        tokio::time::sleep(self.latency).await;
        let start = window.start.timestamp_millis();
        let items = (0..self.items)
            .map(|n| {
                let points: Vec<(i64, f64)> = (0..120).map(|i| (start + i * 15_000, 40.0 + ((i * 7 + n as i64) % 50) as f64)).collect();
                EvidenceItem {
                    id: format!("{}.metric.{n}", self.name),
                    source: self.name.into(),
                    kind: "metric".into(),
                    at: None,
                    summary: format!("{} metric {n}: last 71.0, max 89.0, before onset 44.2 (user jane@example.com)", self.name),
                    anomaly: (n % 10) as f64 / 10.0,
                    data: json!({ "series": Series::from_points(points, window.onset.timestamp_millis(), 60) }),
                }
            })
            .collect();
        Ok(Collected {
            items,
            warnings: Vec::new(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct FanoutResult {
    pub runs: usize,
    pub slowest_collector_ms: u64,
    pub overhead_p50_ms: f64,
    pub overhead_p99_ms: f64,
    pub items_collected: usize,
    pub items_kept: usize,
    pub bundle_chars: usize,
    pub budget_chars: usize,
}

pub async fn run(runs: usize) -> FanoutResult {
    let collectors: Vec<Registered> = [
        ("datadog", 180, 40),
        ("kubernetes", 120, 60),
        ("aws", 300, 30),
        ("cloudflare", 90, 8),
    ]
    .into_iter()
    .map(|(name, ms, items)| {
        Registered::Ready(Arc::new(FixedLatency {
            name,
            latency: Duration::from_millis(ms),
            items,
        }))
    })
    .collect();
    let slowest = Duration::from_millis(300);
    let budget = 24_000;
    let onset = Utc::now();
    let window = Window {
        start: onset - chrono::Duration::minutes(30),
        onset,
        end: onset,
    };
    let deadlines = Deadlines {
        per_source: Duration::from_secs(8),
        overall: Duration::from_secs(12),
    };
    let mut overheads = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let bundle =
            collect_with_deadline(&collectors, &Targets::default(), &window, deadlines, budget)
                .await;
        overheads.push(started.elapsed().saturating_sub(slowest));
        last = Some(bundle);
    }
    overheads.sort();
    let bundle = last.expect("at least one run");
    FanoutResult {
        runs: overheads.len(),
        slowest_collector_ms: slowest.as_millis() as u64,
        overhead_p50_ms: super::percentile(&overheads, 0.50),
        overhead_p99_ms: super::percentile(&overheads, 0.99),
        items_collected: bundle.items.len() + bundle.dropped.len(),
        items_kept: bundle.items.len(),
        bundle_chars: serde_json::to_string(&bundle).map_or(0, |s| s.len()),
        budget_chars: budget,
    }
}
