//! Datadog: the alerting monitor, its query over the window (and a week earlier), error logs
//! grouped by message, and deploy/change events. Read-only API calls with `DD-API-KEY` and
//! `DD-APPLICATION-KEY`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::send_json;
use super::templates;
use super::{CollectError, Collected, Collector, Registered};
use crate::catalog::Targets;
use crate::config::{Secrets, Settings};
use crate::domain::{EvidenceItem, Series, Window};

pub struct DatadogCollector {
    client: reqwest::Client,
    base: String,
    api_key: SecretString,
    app_key: SecretString,
    max_log_events: usize,
}

impl DatadogCollector {
    pub fn register(settings: &Settings, secrets: &Secrets) -> Registered {
        match (&secrets.datadog_api_key, &secrets.datadog_app_key) {
            (Some(api_key), Some(app_key)) => Registered::Ready(Arc::new(Self {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(settings.collectors.source_timeout_secs))
                    .build()
                    .unwrap_or_default(),
                base: settings.datadog.api_base.trim_end_matches('/').to_string(),
                api_key: api_key.clone(),
                app_key: app_key.clone(),
                max_log_events: settings.datadog.max_log_events,
            })),
            _ => Registered::NotConfigured {
                name: "datadog",
                reason: "DD_API_KEY and DD_APP_KEY are not set".into(),
            },
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.authorize(self.client.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.authorize(self.client.post(format!("{}{path}", self.base)).json(body))
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("DD-API-KEY", self.api_key.expose_secret())
            .header("DD-APPLICATION-KEY", self.app_key.expose_secret())
    }

    async fn monitor(&self, id: &str) -> Result<Vec<EvidenceItem>, CollectError> {
        let monitor = send_json(self.get(&format!("/api/v1/monitor/{id}"))).await?;
        Ok(vec![monitor_item(id, &monitor)])
    }

    /// A synthetics monitor's test (found by its `monitor_id` in the test list) and its results
    /// in the window: how many runs failed from which locations, and the latest failure's error
    /// as the full result states it (`failure.code`/`message`, e.g. an expired certificate).
    async fn synthetics(
        &self,
        monitor_id: &str,
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        let list = send_json(self.get("/api/v1/synthetics/tests")).await?;
        let Some(test) = list["tests"].as_array().into_iter().flatten().find(|t| {
            t["monitor_id"].as_i64().map(|m| m.to_string()).as_deref() == Some(monitor_id)
        }) else {
            return Ok(Vec::new());
        };
        let public_id = test["public_id"].as_str().unwrap_or("");
        let summaries = send_json(
            self.get(&format!("/api/v1/synthetics/tests/{public_id}/results"))
                .query(&[
                    ("from_ts", window.start.timestamp_millis().to_string()),
                    ("to_ts", window.end.timestamp_millis().to_string()),
                ]),
        )
        .await?;
        let results: Vec<&Value> = summaries["results"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let failed: Vec<&&Value> = results
            .iter()
            .filter(|r| r["result"]["passed"] == false || r["status"] == 2)
            .collect();
        let locations: std::collections::BTreeSet<&str> = failed
            .iter()
            .filter_map(|r| r["probe_dc"].as_str())
            .collect();
        let latest = failed.iter().max_by(|a, b| {
            a["check_time"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["check_time"].as_f64().unwrap_or(0.0))
        });
        // The summary has no error text: the latest failure's full result does.
        let failure = match latest.and_then(|r| r["result_id"].as_str()) {
            Some(result_id) => send_json(self.get(&format!(
                "/api/v1/synthetics/tests/{public_id}/results/{result_id}"
            )))
            .await
            .map(|full| full["result"]["failure"].clone())
            .unwrap_or(Value::Null),
            None => Value::Null,
        };
        let first_failure = failed
            .iter()
            .filter_map(|r| r["check_time"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let at = first_failure
            .is_finite()
            .then(|| chrono::DateTime::from_timestamp_millis(first_failure as i64))
            .flatten();
        let url = test["config"]["request"]["url"].as_str().unwrap_or("");
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|h| !h.is_empty());
        let name = test["name"].as_str().unwrap_or(public_id);
        let error = match (failure["code"].as_str(), failure["message"].as_str()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            (None, Some(message)) => message.to_string(),
            (None, None) => String::new(),
        };
        Ok(vec![EvidenceItem {
            id: format!("datadog.synthetics.{public_id}"),
            source: "datadog".into(),
            kind: "synthetics".into(),
            at,
            summary: format!(
                "Synthetic test \"{name}\" ({url}): {} of {} runs failed in the window{}{}",
                failed.len(),
                results.len(),
                if locations.is_empty() {
                    String::new()
                } else {
                    format!(
                        " from {}",
                        locations.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                },
                if error.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; latest error {}",
                        error.chars().take(300).collect::<String>()
                    )
                }
            ),
            anomaly: if failed.is_empty() {
                0.1
            } else if failed.len() * 2 >= results.len() {
                0.85
            } else {
                0.5
            },
            data: json!({
                "public_id": public_id,
                "type": test["type"],
                "url": url,
                "host": host,
                "runs": results.len(),
                "failed": failed.len(),
                "locations": locations,
                "failure": failure,
            }),
        }])
    }

    /// The service's own monitors (`service:` tag), for an alert that is not a Datadog
    /// monitor: which are alerting, and which say the service is fine. Alerting ones first.
    async fn service_monitors(&self, service: &str) -> Result<Vec<EvidenceItem>, CollectError> {
        let reply = send_json(self.get("/api/v1/monitor").query(&[
            ("monitor_tags", format!("service:{service}")),
            ("page", "0".into()),
            ("page_size", MAX_SERVICE_MONITORS.to_string()),
        ]))
        .await?;
        let monitors = reply
            .as_array()
            .ok_or_else(|| CollectError("monitor list reply is not a list".into()))?;
        let mut items: Vec<EvidenceItem> = monitors
            .iter()
            .take(MAX_SERVICE_MONITORS)
            .enumerate()
            .map(|(index, m)| {
                let id = m["id"]
                    .as_i64()
                    .map_or_else(|| format!("{service}-{index}"), |id| id.to_string());
                monitor_item(&id, m)
            })
            .collect();
        items.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly).then(a.id.cmp(&b.id)));
        Ok(items)
    }

    async fn query_points(
        &self,
        query: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Value>, CollectError> {
        let reply = send_json(self.get("/api/v1/query").query(&[
            ("from", from.timestamp().to_string()),
            ("to", to.timestamp().to_string()),
            ("query", query.to_string()),
        ]))
        .await?;
        if reply["status"] == "error" {
            return Err(CollectError(format!(
                "query rejected: {}",
                reply["error"].as_str().unwrap_or("unknown error")
            )));
        }
        Ok(reply["series"].as_array().cloned().unwrap_or_default())
    }

    async fn metric(
        &self,
        monitor_query: &str,
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        let Some((query, threshold)) = split_monitor_query(monitor_query) else {
            return Ok(Vec::new());
        };
        let week = chrono::Duration::days(7);
        let (now, week_ago) = tokio::join!(
            self.query_points(&query, window.start, window.end),
            self.query_points(&query, window.start - week, window.end - week),
        );
        let week_ago = week_ago.unwrap_or_default();
        let onset = window.onset.timestamp_millis();
        let mut items = Vec::new();
        for (index, series) in now?.iter().take(5).enumerate() {
            let points = pointlist(series);
            let Some(shape) = Series::from_points(points, onset, 60) else {
                continue;
            };
            let scope = series["scope"].as_str().unwrap_or("*");
            let metric = series["metric"].as_str().unwrap_or(&query);
            let previous = week_ago
                .iter()
                .find(|s| s["scope"] == series["scope"])
                .and_then(|s| Series::from_points(pointlist(s), i64::MAX, 60));
            let week_mean = previous.as_ref().and_then(Series::baseline);
            let baseline = shape.baseline();
            let breached = threshold.is_some_and(|t| shape.max > t);
            let ratio = baseline.filter(|b| *b > 0.0).map_or(1.0, |b| shape.max / b);
            let anomaly = if breached {
                0.85
            } else {
                ((ratio - 1.0) / 2.0).clamp(0.1, 0.8)
            };
            let mut summary = format!(
                "{metric} {{{scope}}}: last {:.2}, max {:.2}",
                shape.last, shape.max
            );
            if let Some(b) = baseline {
                summary.push_str(&format!(", before onset {b:.2}"));
            }
            if let Some(w) = week_mean {
                summary.push_str(&format!(", same window a week earlier {w:.2}"));
            }
            if let Some(t) = threshold {
                summary.push_str(&format!(", threshold {t}"));
            }
            items.push(EvidenceItem {
                id: format!(
                    "datadog.metric.{}",
                    slug(&format!("{metric}.{scope}"), index)
                ),
                source: "datadog".into(),
                kind: "metric".into(),
                at: None,
                summary,
                anomaly,
                data: json!({
                    "query": query,
                    "scope": scope,
                    "threshold": threshold,
                    "series": shape,
                    "week_ago_mean": week_mean,
                }),
            });
        }
        Ok(items)
    }

    async fn error_logs(
        &self,
        service: &str,
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        let mut events: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        while events.len() < self.max_log_events {
            let mut page = json!({ "limit": (self.max_log_events - events.len()).min(1000) });
            if let Some(cursor) = &cursor {
                page["cursor"] = json!(cursor);
            }
            let reply = send_json(self.post(
                "/api/v2/logs/events/search",
                &json!({
                    "filter": {
                        "query": format!("service:{service} status:error"),
                        "from": window.start.to_rfc3339(),
                        "to": window.end.to_rfc3339(),
                    },
                    "sort": "-timestamp",
                    "page": page,
                }),
            ))
            .await?;
            let data = reply["data"]
                .as_array()
                .ok_or_else(|| CollectError("logs reply has no `data` list".into()))?;
            events.extend(data.iter().cloned());
            cursor = reply["meta"]["page"]["after"].as_str().map(str::to_string);
            if cursor.is_none() || data.is_empty() {
                break;
            }
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Events arrive newest first, so the first of a template is its latest.
        let ranked = templates::group(
            events.iter().map(|event| {
                let attributes = &event["attributes"];
                (
                    attributes["message"].as_str().unwrap_or(""),
                    attributes["timestamp"].as_str().and_then(parse_time),
                )
            }),
            Some(window.onset),
        );
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let after_onset: usize = ranked.iter().map(|g| g.after_onset).sum();
        let top = &ranked[0];
        let capped = events.len() >= self.max_log_events;
        Ok(vec![EvidenceItem {
            id: format!("datadog.logs.{service}.errors"),
            source: "datadog".into(),
            kind: "logs".into(),
            at: top.last_seen,
            summary: format!(
                "{}{} error logs for {service} ({after_onset} after onset), {} distinct; top ×{}: \"{}\"",
                events.len(),
                if capped { "+" } else { "" },
                ranked.len(),
                top.count,
                top.example.chars().take(160).collect::<String>()
            ),
            anomaly: (events.len() as f64 / 50.0).clamp(0.2, 0.9),
            data: json!({
                "total": events.len(),
                "capped": capped,
                "after_onset": after_onset,
                "groups": &ranked[..ranked.len().min(10)],
            }),
        }])
    }

    async fn change_events(
        &self,
        service: &str,
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        let reply = send_json(self.post(
            "/api/v2/events/search",
            &json!({
                "filter": {
                    "query": format!("service:{service}"),
                    "from": window.start.to_rfc3339(),
                    "to": window.end.to_rfc3339(),
                },
                "sort": "-timestamp",
                "page": { "limit": 50 },
            }),
        ))
        .await?;
        let data = reply["data"]
            .as_array()
            .ok_or_else(|| CollectError("events reply has no `data` list".into()))?;
        let mut items = Vec::new();
        for event in data {
            let attributes = &event["attributes"];
            let title = attributes["attributes"]["title"]
                .as_str()
                .or_else(|| attributes["title"].as_str())
                .or_else(|| {
                    attributes["message"]
                        .as_str()
                        .and_then(|m| m.lines().next())
                })
                .unwrap_or("event");
            let tags: Vec<&str> = attributes["tags"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let Some((change, classified_by)) =
                classify_change(&attributes["attributes"], title, &tags)
            else {
                continue;
            };
            let at = attributes["timestamp"].as_str().and_then(parse_time);
            let minutes_before = at.map(|t| (window.onset - t).num_minutes());
            // Only the title says it is a change (no version, commit, deploy source or change
            // category): a calendar entry or an announcement reads the same, so it weighs less.
            let cap = if classified_by == "fields" { 1.0 } else { 0.5 };
            let id = event["id"].as_str().unwrap_or("unknown");
            items.push(EvidenceItem {
                id: format!("datadog.event.{id}"),
                source: "datadog".into(),
                kind: "change".into(),
                at,
                summary: match minutes_before {
                    Some(m) if m >= 0 => format!("{title} ({m} min before onset)"),
                    Some(m) => format!("{title} ({} min after onset)", -m),
                    None => title.to_string(),
                },
                anomaly: f64::min(
                    cap,
                    match minutes_before {
                        Some(m) if (0..=30).contains(&m) => 0.8,
                        Some(m) if m >= 0 => 0.5,
                        _ => 0.3,
                    },
                ),
                data: json!({
                    "title": title, "tags": tags, "timestamp": at,
                    "change": change, "classified_by": classified_by,
                }),
            });
        }
        Ok(items)
    }
}

/// Tags that only a deploy carries: the version or commit that shipped.
const DEPLOY_TAGS: [&str; 6] = [
    "version:",
    "git.commit.sha:",
    "git.repository_url:",
    "image_tag:",
    "deployment_id:",
    "deploy_id:",
];

/// Event sources that are delivery systems.
const DEPLOY_SOURCES: [&str; 10] = [
    "deploy",
    "deployment",
    "github",
    "gitlab",
    "jenkins",
    "argocd",
    "argo_cd",
    "spinnaker",
    "circleci",
    "octopus_deploy",
];

/// What kind of change an event records, and what said so: its structured fields (a version
/// or commit tag, a delivery system as its source, Datadog's `change` category, a feature
/// flag or config source) or, failing those, only words in its title or tags. `None` when it
/// is not a change at all.
pub fn classify_change(
    fields: &Value,
    title: &str,
    tags: &[&str],
) -> Option<(&'static str, &'static str)> {
    let tag_value = |key: &str| {
        tags.iter()
            .find_map(|t| t.strip_prefix(key))
            .map(str::to_lowercase)
    };
    let source = tag_value("source:").or_else(|| {
        fields["evt"]["source_type_name"]
            .as_str()
            .map(str::to_lowercase)
    });
    let category = fields["category"]
        .as_str()
        .or_else(|| fields["evt"]["category"].as_str())
        .map(str::to_lowercase);
    if tags
        .iter()
        .any(|t| DEPLOY_TAGS.iter().any(|d| t.starts_with(d)))
        || source
            .as_deref()
            .is_some_and(|s| DEPLOY_SOURCES.contains(&s))
    {
        return Some(("deploy", "fields"));
    }
    if let Some(source) = &source
        && (source.contains("flag") || source.contains("launchdarkly"))
    {
        return Some(("feature_flag", "fields"));
    }
    if category.as_deref() == Some("change") {
        return Some(("change", "fields"));
    }
    let haystack = format!("{title} {}", tags.join(" ")).to_lowercase();
    CHANGE_WORDS
        .iter()
        .any(|w| haystack.contains(w))
        .then_some(("change", "title"))
}

const CHANGE_WORDS: [&str; 8] = [
    "deploy",
    "release",
    "rollout",
    "rolled out",
    "config",
    "change",
    "migration",
    "version",
];

#[async_trait]
impl Collector for DatadogCollector {
    fn name(&self) -> &'static str {
        "datadog"
    }

    async fn collect(&self, targets: &Targets, window: &Window) -> Result<Collected, CollectError> {
        let service = targets.datadog_service.as_deref();
        // Request rate beside the monitor's own metric, unless that already is it.
        let hits = service
            .filter(|_| {
                !targets
                    .monitor_query
                    .as_deref()
                    .is_some_and(|q| q.contains(".hits"))
            })
            .map(|s| format!("sum:trace.http.request.hits{{service:{s}}}.as_count()"));
        // The catalog dependencies' request and error rates, each with its week-ago level, so a
        // dependency that fails (or stops being called) shows beside the alerting service.
        let dependency_queries: Vec<String> = targets
            .dependencies
            .iter()
            .take(MAX_DEPENDENCIES)
            .flat_map(|d| {
                [
                    format!("sum:trace.http.request.hits{{service:{d}}}.as_count()"),
                    format!("sum:trace.http.request.errors{{service:{d}}}.as_count()"),
                ]
            })
            .collect();
        let (monitor, metric, requests, logs, events, dependencies) = tokio::join!(
            async {
                match (&targets.datadog_monitor_id, service) {
                    (Some(id), _) => self.monitor(id).await,
                    (None, Some(s)) => self.service_monitors(s).await,
                    (None, None) => Ok(Vec::new()),
                }
            },
            async {
                match &targets.monitor_query {
                    Some(query) => self.metric(query, window).await,
                    None => Ok(Vec::new()),
                }
            },
            async {
                match &hits {
                    Some(query) => self.metric(query, window).await,
                    None => Ok(Vec::new()),
                }
            },
            async {
                match service {
                    Some(s) => self.error_logs(s, window).await,
                    None => Ok(Vec::new()),
                }
            },
            async {
                match service {
                    Some(s) => self.change_events(s, window).await,
                    None => Ok(Vec::new()),
                }
            },
            async {
                let answers = futures::future::join_all(
                    dependency_queries.iter().map(|q| self.metric(q, window)),
                )
                .await;
                let mut items = Vec::new();
                let mut failures = Vec::new();
                for answer in answers {
                    match answer {
                        Ok(found) => items.extend(found),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (items, failures)
            },
        );
        // One dependency's query failing is a warning beside the others' items; all of them
        // failing is the part's failure.
        let (dependencies, partial_failures) = match dependencies {
            (items, failures) if items.is_empty() && !failures.is_empty() => {
                (Err(CollectError(failures.join("; "))), Vec::new())
            }
            (items, failures) => (Ok(items), failures),
        };
        // A synthetics monitor: its test's failing runs and their error.
        let synthetics = match (&targets.datadog_monitor_id, &monitor) {
            (Some(id), Ok(items))
                if items
                    .iter()
                    .any(|i| i.data["type"].as_str() == Some("synthetics alert")) =>
            {
                Some(self.synthetics(id, window).await)
            }
            _ => None,
        };
        let parts = [
            ("monitor", monitor),
            ("metric", metric),
            ("requests", requests),
            ("logs", logs),
            ("events", events),
            ("dependencies", dependencies),
        ];
        // A part with nothing to ask (no dependencies in the catalog) neither fails nor counts.
        let asked_dependencies = !dependency_queries.is_empty();
        let all_failed = parts
            .iter()
            .filter(|(part, _)| *part != "dependencies" || asked_dependencies)
            .all(|(_, r)| r.is_err());
        let mut collected = Collected::default();
        for (part, result) in parts {
            collected.absorb(part, result);
        }
        if let Some(result) = synthetics {
            collected.absorb("synthetics", result);
        }
        for failure in partial_failures {
            collected.warnings.push(format!("dependencies: {failure}"));
        }
        if all_failed {
            return Err(CollectError(collected.warnings.join("; ")));
        }
        Ok(collected)
    }
}

/// Catalog dependencies whose request and error rates are read.
const MAX_DEPENDENCIES: usize = 3;

/// Monitors of a service read at most.
const MAX_SERVICE_MONITORS: usize = 10;

/// One monitor as evidence: alerting is anomalous, OK says the service is fine by it.
fn monitor_item(id: &str, monitor: &Value) -> EvidenceItem {
    let state = monitor["overall_state"].as_str().unwrap_or("unknown");
    let name = monitor["name"].as_str().unwrap_or("monitor");
    let query = monitor["query"].as_str().unwrap_or("");
    EvidenceItem {
        id: format!("datadog.monitor.{id}"),
        source: "datadog".into(),
        kind: "monitor".into(),
        at: monitor["overall_state_modified"]
            .as_str()
            .and_then(parse_time),
        summary: format!("Monitor \"{name}\" is {state}: {query}"),
        anomaly: match state {
            "Alert" => 0.6,
            "OK" => 0.1,
            _ => 0.3,
        },
        data: json!({
            "name": name,
            "overall_state": state,
            "type": monitor["type"],
            "query": query,
            "thresholds": monitor["options"]["thresholds"],
            "tags": monitor["tags"],
        }),
    }
}

/// `avg(last_10m):avg:system.cpu.user{env:prod} > 90` → (`avg:system.cpu.user{env:prod}`, 90).
pub fn split_monitor_query(monitor_query: &str) -> Option<(String, Option<f64>)> {
    static PREFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*[a-z_]+\(last_\w+\)\s*:\s*").expect("valid"));
    static COMPARISON: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+)\s*$").expect("valid"));
    let without_prefix = PREFIX.replace(monitor_query, "");
    let threshold = COMPARISON
        .captures(&without_prefix)
        .and_then(|c| c.get(2)?.as_str().parse().ok());
    let query = COMPARISON.replace(&without_prefix, "").trim().to_string();
    (!query.is_empty()).then_some((query, threshold))
}

fn pointlist(series: &Value) -> Vec<(i64, f64)> {
    series["pointlist"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()? as i64, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn slug(text: &str, index: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.len() > 80 {
        format!("{}.{index}", &cleaned[..80])
    } else {
        cleaned
    }
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_told_by_their_fields_and_title_words_alone_weigh_less() {
        let none = json!({});
        assert_eq!(
            classify_change(&none, "Deployed checkout-api", &["version:v3.41.0"]),
            Some(("deploy", "fields"))
        );
        assert_eq!(
            classify_change(&none, "pipeline 881", &["source:github"]),
            Some(("deploy", "fields"))
        );
        assert_eq!(
            classify_change(
                &json!({"category": "change"}),
                "checkout.new_cart enabled",
                &[]
            ),
            Some(("change", "fields"))
        );
        assert_eq!(
            classify_change(
                &none,
                "Quarterly change freeze begins",
                &["source:calendar"]
            ),
            Some(("change", "title")),
            "a calendar entry is at most a title-word change"
        );
        assert_eq!(classify_change(&none, "Monitor muted by jane", &[]), None);
    }

    #[test]
    fn monitor_queries_split_into_metric_query_and_threshold() {
        assert_eq!(
            split_monitor_query(
                "avg(last_10m):avg:aws.rds.cpuutilization{dbinstanceidentifier:prod} > 90"
            ),
            Some((
                "avg:aws.rds.cpuutilization{dbinstanceidentifier:prod}".into(),
                Some(90.0)
            ))
        );
        assert_eq!(
            split_monitor_query("sum:trace.http.request.errors{service:api}.as_count()"),
            Some((
                "sum:trace.http.request.errors{service:api}.as_count()".into(),
                None
            ))
        );
    }

    #[test]
    fn messages_group_regardless_of_numbers_and_ids() {
        assert_eq!(
            templates::template("timeout after 5000 ms acquiring connection 17"),
            templates::template("timeout after 3000 ms acquiring connection 4")
        );
    }
}
