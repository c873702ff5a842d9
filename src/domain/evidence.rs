//! What the collectors found: evidence items with stable ids, a report per source, and the
//! bundle the analyst reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::UnixMillis;

/// One collected fact. The id is stable across runs (`k8s.rollout.production/game-api.rev42`)
/// so a brief can cite it and a replay finds it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub id: String,
    /// The collector that produced it: `datadog`, `kubernetes`, `aws`, `cloudflare`.
    pub source: String,
    /// What sort of fact: `rollout`, `pod`, `event`, `metric`, `logs`, `alarm`, …
    pub kind: String,
    /// When it happened, if it is an event in time.
    pub at: Option<DateTime<Utc>>,
    /// One line a human can read at 2 AM.
    pub summary: String,
    /// 0 (background) to 1 (clearly abnormal): the size budget drops low scores first.
    pub anomaly: f64,
    /// Compact structured detail (series are downsampled; logs are capped).
    pub data: serde_json::Value,
}

/// How one source's collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    Ok,
    Timeout,
    Error,
    NotConfigured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: String,
    pub status: SourceStatus,
    /// Why it is not `ok`, or what was partial ("logs: HTTP 500").
    pub message: Option<String>,
    pub elapsed_ms: u64,
    pub items: usize,
}

impl SourceReport {
    /// Why, without the source's name: "timed out after 8 s", "not configured (…)", "12 items".
    pub fn reason(&self) -> String {
        match (&self.status, &self.message) {
            (SourceStatus::Ok, Some(message)) => format!("{} items ({message})", self.items),
            (SourceStatus::Ok, None) => format!("{} items", self.items),
            (SourceStatus::NotConfigured, Some(message)) => format!("not configured ({message})"),
            (SourceStatus::NotConfigured, None) => "not configured".into(),
            (_, Some(message)) => message.clone(),
            (SourceStatus::Timeout, None) => "timed out".into(),
            (SourceStatus::Error, None) => "failed".into(),
        }
    }

    /// "aws: timed out after 8 s", "cloudflare: not configured", "datadog: 12 items".
    pub fn describe(&self) -> String {
        format!("{}: {}", self.source, self.reason())
    }
}

/// The time range the collectors look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub onset: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Everything the collectors should look at for one alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    pub service: Option<String>,
    pub env: Option<String>,
    pub kube_namespace: Option<String>,
    pub kube_workloads: Vec<String>,
    pub pods: Vec<String>,
    pub hosts: Vec<String>,
    pub datadog_service: Option<String>,
    pub datadog_monitor_id: Option<String>,
    pub monitor_query: Option<String>,
    pub rds_instances: Vec<String>,
    /// ElastiCache replication group ids (left out of the JSON when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elasticache: Vec<String>,
    pub cloudflare_zone: Option<String>,
    pub team: Option<String>,
    pub escalation: Option<String>,
    pub runbooks: Vec<String>,
    pub dependencies: Vec<String>,
}

/// Everything collected for one incident at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    #[serde(default)]
    pub targets: Targets,
    pub window: Window,
    pub items: Vec<EvidenceItem>,
    pub reports: Vec<SourceReport>,
    /// Ids left out to stay within the size budget, least anomalous first.
    #[serde(default)]
    pub dropped: Vec<String>,
    #[serde(default)]
    pub collected_at: UnixMillis,
}

impl EvidenceBundle {
    pub fn item(&self, id: &str) -> Option<&EvidenceItem> {
        self.items.iter().find(|item| item.id == id)
    }
}

/// A metric series reduced to at most `max_points` points, with its shape kept: min, max,
/// last, and the index of the first point at or after the onset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub points: Vec<(UnixMillis, f64)>,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub onset_index: Option<usize>,
}

impl Series {
    /// Downsamples by bucket averages, keeping each bucket's first timestamp. Returns `None`
    /// for an empty or all-NaN series.
    pub fn from_points(
        mut points: Vec<(UnixMillis, f64)>,
        onset: UnixMillis,
        max_points: usize,
    ) -> Option<Self> {
        points.retain(|(_, v)| v.is_finite());
        if points.is_empty() {
            return None;
        }
        points.sort_by_key(|(t, _)| *t);
        let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let last = points.last().map_or(0.0, |p| p.1);
        let max_points = max_points.max(1);
        let reduced: Vec<(UnixMillis, f64)> = if points.len() <= max_points {
            points
        } else {
            let bucket = points.len().div_ceil(max_points);
            points
                .chunks(bucket)
                .map(|chunk| {
                    let mean = chunk.iter().map(|p| p.1).sum::<f64>() / chunk.len() as f64;
                    (chunk[0].0, (mean * 1000.0).round() / 1000.0)
                })
                .collect()
        };
        let onset_index = reduced.iter().position(|(t, _)| *t >= onset);
        Some(Self {
            points: reduced,
            min,
            max,
            last,
            onset_index,
        })
    }

    /// Mean of the points before the onset, if any.
    pub fn baseline(&self) -> Option<f64> {
        let before: Vec<f64> = match self.onset_index {
            Some(0) => return None,
            Some(i) => self.points[..i].iter().map(|p| p.1).collect(),
            None => self.points.iter().map(|p| p.1).collect(),
        };
        (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_are_downsampled_keeping_extremes_and_onset() {
        let points: Vec<(UnixMillis, f64)> = (0..600)
            .map(|i| (i * 1000, if i == 400 { 99.0 } else { 10.0 }))
            .collect();
        let series = Series::from_points(points, 300_000, 60).unwrap();
        assert!(series.points.len() <= 60);
        assert_eq!(series.max, 99.0);
        assert_eq!(series.min, 10.0);
        assert_eq!(series.onset_index, Some(30));
        assert_eq!(series.baseline(), Some(10.0));
    }

    #[test]
    fn empty_series_are_absent() {
        assert!(Series::from_points(vec![(1, f64::NAN)], 0, 60).is_none());
    }
}
