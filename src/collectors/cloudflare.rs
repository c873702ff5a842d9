//! Cloudflare GraphQL Analytics for the zone: status-code mix, edge TTFB quantiles per minute,
//! cache status, and firewall events by action, source (including `l7ddos`), rule and country.
//! Errors can arrive inside an HTTP 200 and are errors.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::send_json;
use super::{CollectError, Collected, Collector, Registered};
use crate::catalog::Targets;
use crate::config::{Secrets, Settings};
use crate::domain::{EvidenceItem, Series, Window};

pub struct CloudflareCollector {
    client: reqwest::Client,
    endpoint: String,
    token: SecretString,
    default_zone: Option<String>,
}

const QUERY: &str = r#"query TriageZone($zoneTag: string, $start: Time, $end: Time) {
  viewer {
    zones(filter: { zoneTag: $zoneTag }) {
      statuses: httpRequestsAdaptiveGroups(limit: 100, filter: { datetime_geq: $start, datetime_leq: $end }) {
        count
        dimensions { edgeResponseStatus }
      }
      latency: httpRequestsAdaptiveGroups(limit: 1000, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [datetimeMinute_ASC]) {
        count
        dimensions { datetimeMinute }
        quantiles { edgeTimeToFirstByteMsP50 edgeTimeToFirstByteMsP95 edgeTimeToFirstByteMsP99 }
      }
      cache: httpRequestsAdaptiveGroups(limit: 50, filter: { datetime_geq: $start, datetime_leq: $end }) {
        count
        dimensions { cacheStatus }
      }
      firewall: firewallEventsAdaptiveGroups(limit: 100, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { action source ruleId clientCountryName }
      }
    }
  }
}"#;

impl CloudflareCollector {
    pub fn register(settings: &Settings, secrets: &Secrets) -> Registered {
        match &secrets.cloudflare_api_token {
            Some(token) => Registered::Ready(Arc::new(Self {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(settings.collectors.source_timeout_secs))
                    .build()
                    .unwrap_or_default(),
                endpoint: format!(
                    "{}/graphql",
                    settings.cloudflare.api_base.trim_end_matches('/')
                ),
                token: token.clone(),
                default_zone: Some(settings.cloudflare.zone_id.clone()).filter(|z| !z.is_empty()),
            })),
            None => Registered::NotConfigured {
                name: "cloudflare",
                reason: "CLOUDFLARE_API_TOKEN is not set".into(),
            },
        }
    }
}

#[async_trait]
impl Collector for CloudflareCollector {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    async fn collect(&self, targets: &Targets, window: &Window) -> Result<Collected, CollectError> {
        let Some(zone) = targets
            .cloudflare_zone
            .clone()
            .or_else(|| self.default_zone.clone())
        else {
            return Ok(Collected {
                items: Vec::new(),
                warnings: vec![
                    "no zone for this service (catalog cloudflare_zone or cloudflare.zone_id)"
                        .into(),
                ],
            });
        };
        let reply = send_json(
            self.client
                .post(&self.endpoint)
                .bearer_auth(self.token.expose_secret())
                .json(&json!({
                    "query": QUERY,
                    "variables": {
                        "zoneTag": zone,
                        "start": window.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "end": window.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    }
                })),
        )
        .await?;
        if let Some(errors) = reply["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            return Err(CollectError(format!(
                "GraphQL error: {}",
                messages.join("; ")
            )));
        }
        let zone_data = reply["data"]["viewer"]["zones"].get(0).ok_or_else(|| {
            CollectError(format!(
                "zone {zone} not found or not readable with this token"
            ))
        })?;
        let onset = window.onset.timestamp_millis();
        let mut items = Vec::new();
        items.extend(status_mix(&zone, &zone_data["statuses"]));
        items.extend(edge_latency(&zone, &zone_data["latency"], onset));
        items.extend(cache_mix(&zone, &zone_data["cache"]));
        items.extend(firewall(&zone, &zone_data["firewall"]));
        Ok(Collected {
            items,
            warnings: Vec::new(),
        })
    }
}

fn groups(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn count(group: &Value) -> f64 {
    group["count"].as_f64().unwrap_or(0.0)
}

fn status_mix(zone: &str, statuses: &Value) -> Option<EvidenceItem> {
    let total: f64 = groups(statuses).iter().map(count).sum();
    if total == 0.0 {
        return None;
    }
    let share = |range: std::ops::Range<i64>| {
        groups(statuses)
            .iter()
            .filter(|g| {
                g["dimensions"]["edgeResponseStatus"]
                    .as_i64()
                    .is_some_and(|s| range.contains(&s))
            })
            .map(count)
            .sum::<f64>()
            / total
    };
    let (s5xx, s4xx) = (share(500..600), share(400..500));
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.status_mix"),
        source: "cloudflare".into(),
        kind: "edge_status".into(),
        at: None,
        summary: format!(
            "Edge responses: {total:.0} requests, 5xx {:.1}%, 4xx {:.1}%",
            s5xx * 100.0,
            s4xx * 100.0
        ),
        anomaly: (s5xx * 10.0).clamp(0.1, 0.95),
        data: json!({ "total": total, "share_5xx": s5xx, "share_4xx": s4xx, "by_status": statuses }),
    })
}

fn edge_latency(zone: &str, latency: &Value, onset: i64) -> Option<EvidenceItem> {
    let points = |key: &str| -> Vec<(i64, f64)> {
        groups(latency)
            .iter()
            .filter_map(|g| {
                let at = chrono::DateTime::parse_from_rfc3339(
                    g["dimensions"]["datetimeMinute"].as_str()?,
                )
                .ok()?;
                Some((at.timestamp_millis(), g["quantiles"][key].as_f64()?))
            })
            .collect()
    };
    let p99 = Series::from_points(points("edgeTimeToFirstByteMsP99"), onset, 60)?;
    let p50 = Series::from_points(points("edgeTimeToFirstByteMsP50"), onset, 60);
    let p95 = Series::from_points(points("edgeTimeToFirstByteMsP95"), onset, 60);
    let baseline = p99.baseline();
    let ratio = baseline.filter(|b| *b > 0.0).map_or(1.0, |b| p99.max / b);
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.edge_ttfb"),
        source: "cloudflare".into(),
        kind: "edge_latency".into(),
        at: None,
        summary: format!(
            "Edge TTFB p99: last {:.0} ms, max {:.0} ms{}",
            p99.last,
            p99.max,
            baseline.map_or(String::new(), |b| format!(", before onset {b:.0} ms"))
        ),
        anomaly: ((ratio - 1.0) / 3.0).clamp(0.1, 0.9),
        data: json!({ "p50": p50, "p95": p95, "p99": p99 }),
    })
}

fn cache_mix(zone: &str, cache: &Value) -> Option<EvidenceItem> {
    let total: f64 = groups(cache).iter().map(count).sum();
    if total == 0.0 {
        return None;
    }
    let hits: f64 = groups(cache)
        .iter()
        .filter(|g| g["dimensions"]["cacheStatus"].as_str() == Some("hit"))
        .map(count)
        .sum();
    let hit_ratio = hits / total;
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.cache"),
        source: "cloudflare".into(),
        kind: "edge_cache".into(),
        at: None,
        summary: format!(
            "Edge cache hit ratio {:.1}% over {total:.0} requests",
            hit_ratio * 100.0
        ),
        anomaly: 0.2,
        data: json!({ "hit_ratio": hit_ratio, "by_status": cache }),
    })
}

fn firewall(zone: &str, firewall: &Value) -> Option<EvidenceItem> {
    let events = groups(firewall);
    let total: f64 = events.iter().map(count).sum();
    if total == 0.0 {
        return None;
    }
    let by = |key: &str, value: &str| {
        events
            .iter()
            .filter(|g| g["dimensions"][key].as_str() == Some(value))
            .map(count)
            .sum::<f64>()
    };
    let ddos = by("source", "l7ddos");
    let blocked =
        by("action", "block") + by("action", "managed_challenge") + by("action", "challenge");
    let top = &events[0]["dimensions"];
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.firewall"),
        source: "cloudflare".into(),
        kind: "edge_firewall".into(),
        at: None,
        summary: format!(
            "Firewall events: {total:.0} ({blocked:.0} blocked or challenged, {ddos:.0} by l7ddos); top: {} by {} rule {} from {}",
            top["action"].as_str().unwrap_or("?"),
            top["source"].as_str().unwrap_or("?"),
            top["ruleId"].as_str().unwrap_or("?"),
            top["clientCountryName"].as_str().unwrap_or("?")
        ),
        anomaly: if ddos > 0.0 {
            0.9
        } else {
            (blocked / 10_000.0).clamp(0.2, 0.8)
        },
        data: json!({ "total": total, "l7ddos": ddos, "blocked": blocked, "groups": events.iter().take(20).collect::<Vec<_>>() }),
    })
}
