//! Cloudflare GraphQL Analytics for the zone: status-code mix, edge TTFB quantiles per minute,
//! cache status, firewall events by action, source (including `l7ddos`), rule and country
//! against the same window a week earlier, the top countries, ASNs and paths with their share
//! now and a week earlier, and server errors per host (one origin host answering 52x).
//! Errors can arrive inside an HTTP 200 and are errors.
//!
//! The bot-score distribution (now and a week earlier) is a second query: its field needs Bot
//! Management, and a field the zone may not read fails the whole query it is in. A zone
//! without it is a normal "not available" and costs nothing else.

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

const QUERY: &str = r#"query TriageZone($zoneTag: string, $start: Time, $end: Time, $weekStart: Time, $weekEnd: Time) {
  viewer {
    zones(filter: { zoneTag: $zoneTag }) {
      countries: httpRequestsAdaptiveGroups(limit: 5, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { clientCountryName }
      }
      asns: httpRequestsAdaptiveGroups(limit: 5, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { clientAsn clientASNDescription }
      }
      paths: httpRequestsAdaptiveGroups(limit: 5, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { clientRequestPath }
      }
      hosts: httpRequestsAdaptiveGroups(limit: 100, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { clientRequestHTTPHost edgeResponseStatus }
      }
      weekStatuses: httpRequestsAdaptiveGroups(limit: 100, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }) {
        count
        dimensions { edgeResponseStatus }
      }
      weekCountries: httpRequestsAdaptiveGroups(limit: 50, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }, orderBy: [count_DESC]) {
        count
        dimensions { clientCountryName }
      }
      weekAsns: httpRequestsAdaptiveGroups(limit: 50, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }, orderBy: [count_DESC]) {
        count
        dimensions { clientAsn clientASNDescription }
      }
      weekPaths: httpRequestsAdaptiveGroups(limit: 50, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }, orderBy: [count_DESC]) {
        count
        dimensions { clientRequestPath }
      }
      weekFirewall: firewallEventsAdaptiveGroups(limit: 100, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }, orderBy: [count_DESC]) {
        count
        dimensions { action source }
      }
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

/// Bot scores (1 automated … 99 human, 0 not scored) of the window and of the same window a
/// week earlier; 100 groups hold every score.
const BOT_QUERY: &str = r#"query TriageBotScores($zoneTag: string, $start: Time, $end: Time, $weekStart: Time, $weekEnd: Time) {
  viewer {
    zones(filter: { zoneTag: $zoneTag }) {
      bots: httpRequestsAdaptiveGroups(limit: 100, filter: { datetime_geq: $start, datetime_leq: $end }, orderBy: [count_DESC]) {
        count
        dimensions { botScore }
      }
      weekBots: httpRequestsAdaptiveGroups(limit: 100, filter: { datetime_geq: $weekStart, datetime_leq: $weekEnd }, orderBy: [count_DESC]) {
        count
        dimensions { botScore }
      }
    }
  }
}"#;

/// Bot scores below this are automated or likely automated (Cloudflare's own bands: 1
/// automated, 2–29 likely automated, 30–99 likely human).
const AUTOMATED_BELOW: i64 = 30;

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
        let (main, bots) = tokio::join!(
            self.query(&zone, "TriageZone", QUERY, window),
            self.query(&zone, "TriageBotScores", BOT_QUERY, window)
        );
        let zone_data = main?;
        let mut warnings = Vec::new();
        let bot_scores = match bots {
            Ok(data) => bot_scores(&zone, &data),
            // The zone has no Bot Management: the field is not there to read.
            Err(error) if error.0.contains("does not have access") => None,
            Err(error) => {
                warnings.push(format!("bot scores: {error}"));
                None
            }
        };
        let onset = window.onset.timestamp_millis();
        let mut items = Vec::new();
        items.extend(status_mix(&zone, &zone_data["statuses"]));
        items.extend(edge_latency(&zone, &zone_data["latency"], onset));
        items.extend(cache_mix(&zone, &zone_data["cache"]));
        items.extend(firewall(
            &zone,
            &zone_data["firewall"],
            &zone_data["weekFirewall"],
        ));
        items.extend(traffic(&zone, &zone_data));
        items.extend(hosts(&zone, &zone_data["hosts"]));
        items.extend(bot_scores);
        Ok(Collected { items, warnings })
    }
}

impl CloudflareCollector {
    /// One GraphQL query for the zone over the window and the same window a week earlier: the
    /// zone's data, or an error naming what failed (errors can arrive inside an HTTP 200).
    async fn query(
        &self,
        zone: &str,
        operation: &str,
        query: &str,
        window: &Window,
    ) -> Result<Value, CollectError> {
        let week = chrono::Duration::days(7);
        let time =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut reply = send_json(
            self.client
                .post(&self.endpoint)
                .bearer_auth(self.token.expose_secret())
                .json(&json!({
                    "operationName": operation,
                    "query": query,
                    "variables": {
                        "zoneTag": zone,
                        "start": time(window.start),
                        "end": time(window.end),
                        "weekStart": time(window.start - week),
                        "weekEnd": time(window.end - week),
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
        match reply["data"]["viewer"]["zones"].get_mut(0) {
            Some(data) => Ok(data.take()),
            None => Err(CollectError(format!(
                "zone {zone} not found or not readable with this token"
            ))),
        }
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

/// Events blocked or challenged among firewall groups.
fn blocked_of(events: &[Value]) -> f64 {
    events
        .iter()
        .filter(|g| {
            matches!(
                g["dimensions"]["action"].as_str(),
                Some("block" | "managed_challenge" | "challenge" | "js_challenge")
            )
        })
        .map(count)
        .sum()
}

fn firewall(zone: &str, firewall: &Value, week_ago: &Value) -> Option<EvidenceItem> {
    let events = groups(firewall);
    let total: f64 = events.iter().map(count).sum();
    if total == 0.0 {
        return None;
    }
    let ddos: f64 = events
        .iter()
        .filter(|g| g["dimensions"]["source"].as_str() == Some("l7ddos"))
        .map(count)
        .sum();
    let blocked = blocked_of(events);
    // The same window a week earlier: the zone's usual background of challenges and blocks.
    let week_blocked = week_ago.as_array().map(|w| blocked_of(w));
    let usual = week_blocked.is_some_and(|w| blocked <= w * 1.5);
    let top = &events[0]["dimensions"];
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.firewall"),
        source: "cloudflare".into(),
        kind: "edge_firewall".into(),
        at: None,
        summary: format!(
            "Firewall events: {total:.0} ({blocked:.0} blocked or challenged{}, {ddos:.0} by l7ddos); top: {} by {} rule {} from {}",
            week_blocked.map_or(String::new(), |w| format!(", a week earlier {w:.0}")),
            top["action"].as_str().unwrap_or("?"),
            top["source"].as_str().unwrap_or("?"),
            top["ruleId"].as_str().unwrap_or("?"),
            top["clientCountryName"].as_str().unwrap_or("?")
        ),
        anomaly: if ddos > 0.0 {
            0.9
        } else if usual {
            0.2
        } else {
            (blocked / 10_000.0).clamp(0.2, 0.8)
        },
        data: json!({
            "total": total, "l7ddos": ddos, "blocked": blocked,
            "week_ago_blocked": week_blocked,
            "groups": events.iter().take(20).collect::<Vec<_>>(),
        }),
    })
}

/// `(label, count)` of each group by the dimensions `keys` (joined with a space).
fn labelled(value: &Value, keys: &[&str]) -> Vec<(String, f64)> {
    groups(value)
        .iter()
        .map(|g| {
            let label = keys
                .iter()
                .filter_map(|k| match &g["dimensions"][*k] {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(format!("AS{n}")),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" ");
            (label, count(g))
        })
        .collect()
}

/// The top sources of the window's requests (countries, ASNs, paths), each with its share now
/// and in the same window a week earlier, and the total against the week-ago total: a surge,
/// a new dominant source and the zone's usual mix read differently.
fn traffic(zone: &str, data: &Value) -> Option<EvidenceItem> {
    let total: f64 = groups(&data["statuses"]).iter().map(count).sum();
    if total == 0.0 {
        return None;
    }
    let week_total: f64 = groups(&data["weekStatuses"]).iter().map(count).sum();
    let ratio = (week_total > 0.0).then(|| total / week_total);
    let mut breakdowns = serde_json::Map::new();
    let mut parts = Vec::new();
    let mut new_source: Option<String> = None;
    for (name, now_key, week_key, keys) in [
        (
            "countries",
            "countries",
            "weekCountries",
            &["clientCountryName"][..],
        ),
        (
            "asns",
            "asns",
            "weekAsns",
            &["clientAsn", "clientASNDescription"][..],
        ),
        ("paths", "paths", "weekPaths", &["clientRequestPath"][..]),
    ] {
        let week: std::collections::HashMap<String, f64> =
            labelled(&data[week_key], keys).into_iter().collect();
        let rows: Vec<Value> = labelled(&data[now_key], keys)
            .into_iter()
            .take(3)
            .map(|(label, n)| {
                let share = n / total;
                let week_share = (week_total > 0.0)
                    .then(|| week.get(&label).copied().unwrap_or(0.0) / week_total);
                if share >= 0.2
                    && week_share.is_some_and(|w| w * 4.0 < share)
                    && new_source.is_none()
                {
                    new_source = Some(format!("{label} ({name})"));
                }
                json!({"label": label, "count": n, "share": share, "week_ago_share": week_share})
            })
            .collect();
        if let Some(top) = rows.first() {
            parts.push(format!(
                "top {name}: {} {:.0}%{}",
                top["label"].as_str().unwrap_or("?"),
                top["share"].as_f64().unwrap_or(0.0) * 100.0,
                top["week_ago_share"]
                    .as_f64()
                    .map_or(String::new(), |w| format!(
                        " (a week earlier {:.0}%)",
                        w * 100.0
                    ))
            ));
        }
        breakdowns.insert(name.into(), Value::Array(rows));
    }
    let surge = ratio.unwrap_or(1.0);
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.traffic"),
        source: "cloudflare".into(),
        kind: "edge_traffic".into(),
        at: None,
        summary: format!(
            "Edge requests {total:.0}{}; {}{}",
            ratio.map_or(String::new(), |r| format!(
                " (same window a week earlier {week_total:.0}, ×{r:.1})"
            )),
            parts.join("; "),
            new_source
                .as_ref()
                .map_or(String::new(), |s| format!("; new dominant source: {s}"))
        ),
        anomaly: if surge >= 3.0 {
            0.8
        } else if surge >= 1.5 || new_source.is_some() {
            0.5
        } else {
            0.15
        },
        data: json!({
            "total": total,
            "week_ago_total": (week_total > 0.0).then_some(week_total),
            "ratio": ratio,
            "new_source": new_source,
            "breakdowns": breakdowns,
        }),
    })
}

/// Server errors per host: one origin host failing (52x: the origin unreachable or erroring)
/// while the zone's other hosts are fine.
fn hosts(zone: &str, hosts: &Value) -> Option<EvidenceItem> {
    let mut by_host: std::collections::BTreeMap<String, (f64, f64, f64)> = Default::default();
    for g in groups(hosts) {
        let host = g["dimensions"]["clientRequestHTTPHost"]
            .as_str()
            .unwrap_or("");
        let status = g["dimensions"]["edgeResponseStatus"].as_i64().unwrap_or(0);
        let entry = by_host.entry(host.to_string()).or_default();
        entry.0 += count(g);
        if (500..600).contains(&status) {
            entry.1 += count(g);
        }
        if (520..530).contains(&status) {
            entry.2 += count(g);
        }
    }
    let (worst, (requests, errors, origin)) = by_host
        .iter()
        .filter(|(_, (n, _, _))| *n > 0.0)
        .max_by(|a, b| (a.1.1 / a.1.0).total_cmp(&(b.1.1 / b.1.0)))?;
    let share = errors / requests;
    if share < 0.05 {
        return None;
    }
    let others: (f64, f64) = by_host
        .iter()
        .filter(|(h, _)| *h != worst)
        .fold((0.0, 0.0), |acc, (_, (n, e, _))| (acc.0 + n, acc.1 + e));
    let others_share = (others.0 > 0.0).then(|| others.1 / others.0);
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.host_errors"),
        source: "cloudflare".into(),
        kind: "edge_host_errors".into(),
        at: None,
        summary: format!(
            "{worst}: {:.1}% of its {requests:.0} requests answered 5xx ({:.1}% 52x, origin errors){}",
            share * 100.0,
            origin / requests * 100.0,
            others_share.map_or(String::new(), |o| format!(
                "; the zone's other hosts {:.1}%",
                o * 100.0
            ))
        ),
        anomaly: if others_share.is_some_and(|o| o * 5.0 < share) {
            (share * 3.0).clamp(0.5, 0.9)
        } else {
            (share * 2.0).clamp(0.3, 0.7)
        },
        data: json!({
            "host": worst,
            "requests": requests,
            "share_5xx": share,
            "share_52x": origin / requests,
            "others_share_5xx": others_share,
        }),
    })
}

/// The share of scored requests that are automated (bot score 1–29), now and in the same window
/// a week earlier: an attack by scripts and a surge of people read differently, and a usual
/// share says the traffic is the zone's normal mix.
fn bot_scores(zone: &str, data: &Value) -> Option<EvidenceItem> {
    // (automated, scored, unscored) requests.
    let split = |value: &Value| {
        groups(value)
            .iter()
            .fold(
                (0.0, 0.0, 0.0),
                |acc, g| match g["dimensions"]["botScore"].as_i64() {
                    Some(score @ 1..) => (
                        acc.0
                            + if score < AUTOMATED_BELOW {
                                count(g)
                            } else {
                                0.0
                            },
                        acc.1 + count(g),
                        acc.2,
                    ),
                    _ => (acc.0, acc.1, acc.2 + count(g)),
                },
            )
    };
    let (automated, scored, unscored) = split(&data["bots"]);
    if scored == 0.0 {
        return None;
    }
    let share = automated / scored;
    let (week_automated, week_scored, _) = split(&data["weekBots"]);
    let week_share = (week_scored > 0.0).then(|| week_automated / week_scored);
    // More than half automated, and at least twice the share of a week earlier.
    let surge = share >= 0.5 && week_share.is_none_or(|w| share >= w * 2.0);
    Some(EvidenceItem {
        id: format!("cloudflare.{zone}.bot_scores"),
        source: "cloudflare".into(),
        kind: "edge_bot_scores".into(),
        at: None,
        summary: format!(
            "Automated requests (bot score below {AUTOMATED_BELOW}): {:.0}% of {scored:.0} scored{}",
            share * 100.0,
            week_share.map_or(String::new(), |w| format!(
                " (same window a week earlier {:.0}%)",
                w * 100.0
            ))
        ),
        anomaly: if surge {
            0.75
        } else if week_share.is_some_and(|w| share >= w + 0.15) {
            0.45
        } else {
            0.15
        },
        data: json!({
            "automated": automated,
            "scored": scored,
            "unscored": unscored,
            "automated_share": share,
            "week_ago_automated_share": week_share,
            "surge": surge,
        }),
    })
}
