//! Live, read-only context: one collector per upstream, run concurrently under deadlines.
//!
//! A collector that is slow, down, rate-limited or not configured never holds up the others:
//! it becomes a [`SourceReport`] saying why, and everything else still arrives. Every
//! collected string is redacted here, at the one place all evidence passes through.
//!
//! What every item must carry, and how to add a collector: `src/collectors/README.md`.

pub mod aws;
pub mod cloudflare;
pub mod datadog;
pub mod http;
pub mod kubernetes;
pub mod recorded;
pub mod templates;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::catalog::Targets;
use crate::config::{Secrets, Settings};
use crate::domain::{EvidenceBundle, EvidenceItem, SourceReport, SourceStatus, Window};
use crate::redact::{redact, redact_value};

/// Why a collection failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CollectError(pub String);

/// What a collector found, plus notes on the parts that failed while the rest succeeded
/// ("logs: HTTP 500").
#[derive(Debug, Default)]
pub struct Collected {
    pub items: Vec<EvidenceItem>,
    pub warnings: Vec<String>,
}

impl Collected {
    /// Adds a sub-query's outcome: items on success, a warning on failure.
    /// A part's answer, or nothing with a warning naming the part and why.
    pub fn or_warn<T: Default>(&mut self, part: &str, result: Result<T, CollectError>) -> T {
        result.unwrap_or_else(|error| {
            self.warnings.push(format!("{part}: {error}"));
            T::default()
        })
    }

    pub fn absorb(&mut self, part: &str, result: Result<Vec<EvidenceItem>, CollectError>) {
        match result {
            Ok(items) => self.items.extend(items),
            Err(error) => self.warnings.push(format!("{part}: {error}")),
        }
    }
}

#[async_trait]
pub trait Collector: Send + Sync {
    fn name(&self) -> &'static str;
    async fn collect(&self, targets: &Targets, window: &Window) -> Result<Collected, CollectError>;
}

/// A collector ready to run, or the reason it cannot.
pub enum Registered {
    Ready(Arc<dyn Collector>),
    NotConfigured { name: &'static str, reason: String },
}

impl Registered {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready(collector) => collector.name(),
            Self::NotConfigured { name, .. } => name,
        }
    }
}

/// The one explicit list of collectors. A new collector is one file plus one line here.
pub async fn registry(settings: &Settings, secrets: &Secrets) -> Vec<Registered> {
    let mut collectors = vec![
        datadog::DatadogCollector::register(settings, secrets),
        kubernetes::KubernetesCollector::register(settings).await,
        aws::AwsCollector::register(settings).await,
        cloudflare::CloudflareCollector::register(settings, secrets),
    ];
    collectors.extend(recorded::RecordedCollector::register(settings));
    collectors
}

#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub per_source: Duration,
    pub overall: Duration,
}

impl Deadlines {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            per_source: Duration::from_secs(settings.collectors.source_timeout_secs),
            overall: Duration::from_secs(settings.collectors.overall_timeout_secs),
        }
    }
}

/// One source's outcome as soon as it is known, for a card that shows collection live: its
/// report and the summary of its most anomalous item (redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUpdate {
    pub report: SourceReport,
    pub top: Option<String>,
}

/// Where [`collect_reporting`] sends each source's outcome as it arrives.
pub type Progress = tokio::sync::mpsc::UnboundedSender<SourceUpdate>;

/// Runs every collector at once, each under its own deadline and all under the overall one,
/// then redacts and size-budgets the result.
pub async fn collect_with_deadline(
    collectors: &[Registered],
    targets: &Targets,
    window: &Window,
    deadlines: Deadlines,
    budget_chars: usize,
) -> EvidenceBundle {
    collect_reporting(collectors, targets, window, deadlines, budget_chars, None).await
}

/// [`collect_with_deadline`], telling `progress` about each source the moment it answers,
/// fails, times out, or is found not configured. A closed receiver changes nothing.
#[tracing::instrument(skip_all, fields(collectors = collectors.len()))]
pub async fn collect_reporting(
    collectors: &[Registered],
    targets: &Targets,
    window: &Window,
    deadlines: Deadlines,
    budget_chars: usize,
    progress: Option<&Progress>,
) -> EvidenceBundle {
    let tell = |report: &SourceReport, found: &[EvidenceItem]| {
        if let Some(progress) = progress {
            let top = found
                .iter()
                .max_by(|a, b| a.anomaly.total_cmp(&b.anomaly))
                .map(|item| redact(&item.summary).into_owned());
            let _ = progress.send(SourceUpdate {
                report: report.clone(),
                top,
            });
        }
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut items = Vec::new();
    let mut running = JoinSet::new();
    let mut names = Vec::new();
    for registered in collectors {
        match registered {
            Registered::NotConfigured { name, reason } => {
                let report = SourceReport {
                    source: (*name).to_string(),
                    status: SourceStatus::NotConfigured,
                    message: Some(reason.clone()),
                    elapsed_ms: 0,
                    items: 0,
                };
                tell(&report, &[]);
                reports.push(report);
            }
            Registered::Ready(collector) => {
                let (collector, targets, window) =
                    (Arc::clone(collector), targets.clone(), *window);
                names.push(collector.name());
                let per_source = deadlines.per_source;
                running.spawn(async move {
                    let begun = Instant::now();
                    let result =
                        tokio::time::timeout(per_source, collector.collect(&targets, &window))
                            .await;
                    (collector.name(), result, begun.elapsed())
                });
            }
        }
    }

    let overall = tokio::time::Instant::now() + deadlines.overall;
    loop {
        match tokio::time::timeout_at(overall, running.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok((name, result, elapsed)))) => {
                names.retain(|n| *n != name);
                let elapsed_ms = elapsed.as_millis() as u64;
                let before = items.len();
                let report = match result {
                    Ok(Ok(collected)) => {
                        let count = collected.items.len();
                        items.extend(collected.items);
                        SourceReport {
                            source: name.into(),
                            status: SourceStatus::Ok,
                            message: (!collected.warnings.is_empty())
                                .then(|| redact(&collected.warnings.join("; ")).into_owned()),
                            elapsed_ms,
                            items: count,
                        }
                    }
                    Ok(Err(error)) => SourceReport {
                        source: name.into(),
                        status: SourceStatus::Error,
                        message: Some(redact(&error.to_string()).into_owned()),
                        elapsed_ms,
                        items: 0,
                    },
                    Err(_) => SourceReport {
                        source: name.into(),
                        status: SourceStatus::Timeout,
                        message: Some(format!(
                            "timed out after {} s",
                            deadlines.per_source.as_secs_f64()
                        )),
                        elapsed_ms,
                        items: 0,
                    },
                };
                metrics::histogram!("triaged_collector_seconds", "source" => name, "status" => status_name(report.status))
                    .record(elapsed.as_secs_f64());
                tell(&report, &items[before..]);
                reports.push(report);
            }
            Ok(Some(Err(join_error))) => {
                tracing::error!(%join_error, "a collector task panicked");
            }
            Err(_) => {
                running.abort_all();
                for name in names.drain(..) {
                    let report = SourceReport {
                        source: name.into(),
                        status: SourceStatus::Timeout,
                        message: Some(format!(
                            "cancelled at the overall deadline of {} s",
                            deadlines.overall.as_secs_f64()
                        )),
                        elapsed_ms: started.elapsed().as_millis() as u64,
                        items: 0,
                    };
                    tell(&report, &[]);
                    reports.push(report);
                }
                break;
            }
        }
    }
    // A collector whose task panicked is still reported, never silently missing.
    for name in names {
        let report = SourceReport {
            source: name.into(),
            status: SourceStatus::Error,
            message: Some("collector crashed".into()),
            elapsed_ms: started.elapsed().as_millis() as u64,
            items: 0,
        };
        tell(&report, &[]);
        reports.push(report);
    }
    reports.sort_by(|a, b| a.source.cmp(&b.source));

    for item in &mut items {
        item.summary = redact(&item.summary).into_owned();
        redact_value(&mut item.data);
    }
    let (items, dropped) = fit_budget(items, budget_chars);
    EvidenceBundle {
        targets: targets.clone(),
        window: *window,
        items,
        reports,
        dropped,
        collected_at: Utc::now().timestamp_millis(),
    }
}

fn status_name(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "ok",
        SourceStatus::Timeout => "timeout",
        SourceStatus::Error => "error",
        SourceStatus::NotConfigured => "not_configured",
    }
}

/// Items at least this anomalous are what signals read: they are kept, whole if possible,
/// before any background item.
const SIGNAL_ANOMALY: f64 = 0.5;

/// Keeps what fits in `budget_chars`, in four passes, each most anomalous first: the anomalous
/// items (≥ 0.5) as [`compact`], then whole; then the background items compact, then whole.
/// So every anomalous fact stays citable and keeps its detail before background is added, and
/// a large series does not push out smaller facts. Returns the kept items in their original
/// order and the ids of the dropped ones, least anomalous first.
pub fn fit_budget(
    items: Vec<EvidenceItem>,
    budget_chars: usize,
) -> (Vec<EvidenceItem>, Vec<String>) {
    let size = |item: &EvidenceItem| serde_json::to_string(item).map_or(0, |s| s.len());
    let sizes: Vec<usize> = items.iter().map(size).collect();
    if sizes.iter().sum::<usize>() <= budget_chars {
        return (items, Vec::new());
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .anomaly
            .total_cmp(&items[a].anomaly)
            .then(a.cmp(&b))
    });
    let compacted: Vec<EvidenceItem> = items.iter().map(compact).collect();
    let compact_sizes: Vec<usize> = compacted.iter().map(size).collect();
    // 0: dropped, 1: compact, 2: whole.
    let mut keep = vec![0u8; items.len()];
    let mut used = 0;
    for anomalous in [true, false] {
        let tier: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| (items[i].anomaly >= SIGNAL_ANOMALY) == anomalous)
            .collect();
        for &index in &tier {
            if used + compact_sizes[index] <= budget_chars {
                used += compact_sizes[index];
                keep[index] = 1;
            }
        }
        for &index in &tier {
            let extra = sizes[index].saturating_sub(compact_sizes[index]);
            if keep[index] == 1 && used + extra <= budget_chars {
                used += extra;
                keep[index] = 2;
            }
        }
    }
    let mut kept = Vec::new();
    let mut dropped: Vec<(f64, String)> = Vec::new();
    for ((item, compacted), keep) in items.into_iter().zip(compacted).zip(keep) {
        match keep {
            2 => kept.push(item),
            1 => kept.push(compacted),
            _ => dropped.push((item.anomaly, item.id)),
        }
    }
    dropped.sort_by(|a, b| a.0.total_cmp(&b.0));
    (kept, dropped.into_iter().map(|(_, id)| id).collect())
}

/// An item cut to what a rule or a reader needs when it does not fit whole: its id, summary
/// and anomaly, and its data without series points (a series keeps its min, max, last and
/// onset), lists cut to their first three entries and long strings to 200 characters, marked
/// `compacted`.
pub fn compact(item: &EvidenceItem) -> EvidenceItem {
    fn cut(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(key, _)| key.as_str() != "points")
                    .map(|(key, v)| (key.clone(), cut(v)))
                    .collect(),
            ),
            Value::Array(list) => Value::Array(list.iter().take(3).map(cut).collect()),
            Value::String(text) if text.chars().count() > 200 => {
                Value::String(format!("{}…", text.chars().take(200).collect::<String>()))
            }
            other => other.clone(),
        }
    }
    let mut data = cut(&item.data);
    if data == item.data {
        return item.clone();
    }
    if let Value::Object(map) = &mut data {
        map.insert("compacted".into(), Value::Bool(true));
    }
    EvidenceItem {
        data,
        ..item.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, anomaly: f64, size: usize) -> EvidenceItem {
        EvidenceItem {
            id: id.into(),
            source: "test".into(),
            kind: "metric".into(),
            at: None,
            summary: "x".repeat(size),
            anomaly,
            data: json!({}),
        }
    }

    #[test]
    fn the_budget_drops_the_least_anomalous_items_first() {
        let items = vec![
            item("calm", 0.1, 400),
            item("hot", 0.9, 400),
            item("warm", 0.5, 400),
        ];
        let (kept, dropped) = fit_budget(items, 1100);
        let kept: Vec<&str> = kept.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(kept, ["hot", "warm"]);
        assert_eq!(dropped, ["calm"]);
    }

    /// Anomalous items are kept compact before any is dropped, then whole again, most
    /// anomalous first, while room remains, and only then background: a large series does not
    /// push out smaller facts, and the most anomalous keeps its detail before background.
    #[test]
    fn items_are_kept_compact_before_any_is_dropped_and_whole_while_room_remains() {
        let points: Vec<Value> = (0..120)
            .map(|i| json!([i * 60_000, 40.0 + i as f64]))
            .collect();
        let series = EvidenceItem {
            data: json!({"metric": "CPUUtilization", "series": {"points": points, "max": 159.0, "last": 159.0, "onset_index": 90},
                         "groups": [1, 2, 3, 4, 5, 6]}),
            ..item("cpu", 0.9, 100)
        };
        let size = |i: &EvidenceItem| serde_json::to_string(i).unwrap().len();
        let (whole, small) = (size(&series), size(&compact(&series)));
        let warm = item("warm", 0.5, 400);
        assert_eq!(
            compact(&warm),
            warm,
            "an item with nothing to cut stays as it is"
        );
        // Room for the series compact and one small item, not for the series whole.
        let budget = small + size(&warm) + 50;
        assert!(whole > budget);
        let items = vec![series.clone(), item("calm", 0.1, 400), warm];
        let (kept, dropped) = fit_budget(items, budget);
        let ids: Vec<&str> = kept.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["cpu", "warm"]);
        assert_eq!(dropped, ["calm"]);
        let cpu = &kept[0];
        assert_eq!(cpu.data["compacted"], true);
        assert_eq!(cpu.data["series"]["max"], 159.0);
        assert!(cpu.data["series"].get("points").is_none());
        assert_eq!(cpu.data["groups"].as_array().unwrap().len(), 3);
        // With room for it whole, the most anomalous item is whole again.
        let (kept, dropped) = fit_budget(vec![series, item("calm", 0.1, 400)], whole + 100);
        assert!(dropped == ["calm"] && kept[0].data.get("compacted").is_none());
    }
}
