//! Kubernetes, read-only (get/list): rollout history of the target workloads, their pods'
//! health, Warning events, HPAs, the condition of the nodes hosting the pods, Jobs that failed
//! or run far longer than before, and the previous logs of crashing containers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{CollectError, Collected, Collector, Registered};
use crate::catalog::Targets;
use crate::config::Settings;
use crate::domain::{EvidenceItem, Window};

pub struct KubernetesCollector {
    client: Client,
    log_lines: i64,
}

impl KubernetesCollector {
    pub async fn register(settings: &Settings) -> Registered {
        let not_configured = |reason: String| Registered::NotConfigured {
            name: "kubernetes",
            reason,
        };
        if !settings.kubernetes.enabled {
            return not_configured("kubernetes.enabled is false".into());
        }
        let config = if settings.kubernetes.api_url.is_empty() {
            match kube::Config::infer().await {
                Ok(config) => config,
                Err(_) => {
                    return not_configured("no in-cluster service account or kubeconfig".into());
                }
            }
        } else {
            match settings.kubernetes.api_url.parse() {
                Ok(uri) => kube::Config::new(uri),
                Err(e) => return not_configured(format!("kubernetes.api_url is invalid: {e}")),
            }
        };
        match Client::try_from(config) {
            Ok(client) => Registered::Ready(Arc::new(Self {
                client,
                log_lines: settings.kubernetes.log_lines,
            })),
            Err(e) => not_configured(format!("cannot build a client: {e}")),
        }
    }

    async fn list<K>(
        &self,
        namespace: &str,
        params: &ListParams,
    ) -> Result<Vec<Value>, CollectError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let list = api.list(params).await.map_err(describe)?;
        Ok(list
            .items
            .iter()
            .filter_map(|item| serde_json::to_value(item).ok())
            .collect())
    }
}

fn describe(error: kube::Error) -> CollectError {
    CollectError(match error {
        kube::Error::Api(status) => {
            format!("API {} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    })
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

fn owned_by(object: &Value, kind: &str, names: &BTreeSet<String>) -> Option<String> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == kind && o["name"].as_str().is_some_and(|n| names.contains(n)))
        .and_then(|o| o["name"].as_str().map(str::to_string))
}

fn images(pod_spec: &Value) -> Vec<String> {
    pod_spec["containers"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["image"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Names of environment variables (per container) that differ between two pod templates:
/// added, removed or changed. Only names: values may be secrets.
fn env_changes(previous: &Value, current: &Value) -> Vec<String> {
    let env = |spec: &Value| -> BTreeMap<String, String> {
        spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| Some((e["name"].as_str()?.to_string(), e.to_string())))
            })
            .collect()
    };
    let (before, after) = (env(previous), env(current));
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

fn minutes_relative(at: DateTime<Utc>, onset: DateTime<Utc>) -> String {
    let minutes = (onset - at).num_minutes();
    if minutes >= 0 {
        format!("{minutes} min before onset")
    } else {
        format!("{} min after onset", -minutes)
    }
}

/// Rollouts: each ReplicaSet revision of the target Deployments created in the window, and
/// the current one.
fn rollouts(
    namespace: &str,
    workloads: &BTreeSet<String>,
    replicasets: &[Value],
    window: &Window,
) -> Vec<EvidenceItem> {
    let mut by_deployment: BTreeMap<String, Vec<(i64, &Value)>> = BTreeMap::new();
    for rs in replicasets {
        if let Some(deployment) = owned_by(rs, "Deployment", workloads) {
            let revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            by_deployment
                .entry(deployment)
                .or_default()
                .push((revision, rs));
        }
    }
    let mut items = Vec::new();
    for (deployment, mut revisions) in by_deployment {
        revisions.sort_by_key(|(revision, _)| *revision);
        let newest = revisions.last().map(|(r, _)| *r);
        for (index, (revision, rs)) in revisions.iter().enumerate() {
            let created = time(&rs["metadata"]["creationTimestamp"]);
            let in_window = created.is_some_and(|c| c >= window.start && c <= window.end);
            if !in_window && Some(*revision) != newest {
                continue;
            }
            let image = images(&rs["spec"]["template"]["spec"]).join(", ");
            let previous_spec = index
                .checked_sub(1)
                .map(|i| &revisions[i].1["spec"]["template"]["spec"]);
            let previous = previous_spec
                .map(|spec| images(spec).join(", "))
                .filter(|p| *p != image);
            let env_changed = previous_spec
                .map(|spec| env_changes(spec, &rs["spec"]["template"]["spec"]))
                .unwrap_or_default();
            let when = created.map_or(String::new(), |c| {
                format!(
                    " at {}, {}",
                    c.format("%H:%M"),
                    minutes_relative(c, window.onset)
                )
            });
            let before_onset = created.map(|c| (window.onset - c).num_minutes());
            items.push(EvidenceItem {
                id: format!("k8s.rollout.{namespace}/{deployment}.rev{revision}"),
                source: "kubernetes".into(),
                kind: "rollout".into(),
                at: created,
                summary: format!(
                    "{deployment} rolled out {image} (revision {revision}){when}{}",
                    match (&previous, env_changed.is_empty()) {
                        (Some(p), _) => format!(", replacing {p}"),
                        (None, false) => format!(
                            "; same image, environment changed: {}",
                            env_changed.join(", ")
                        ),
                        (None, true) => String::new(),
                    }
                ),
                anomaly: match before_onset {
                    Some(m) if in_window && (0..=30).contains(&m) => 0.9,
                    Some(m) if in_window && m >= 0 => 0.6,
                    _ if in_window => 0.4,
                    _ => 0.15,
                },
                data: json!({
                    "deployment": deployment,
                    "revision": revision,
                    "images": images(&rs["spec"]["template"]["spec"]),
                    "previous_images": previous,
                    "env_changed": env_changed,
                    "created": created,
                    "replicas": rs["status"]["replicas"],
                    "ready_replicas": rs["status"]["readyReplicas"],
                }),
            });
        }
    }
    items
}

/// Unhealthy pods of the targets: restarts, waiting reasons, last terminations.
fn pod_health(namespace: &str, pods: &[&Value]) -> Vec<EvidenceItem> {
    let mut items = Vec::new();
    for pod in pods {
        let statuses = pod["status"]["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let restarts: i64 = statuses
            .iter()
            .filter_map(|s| s["restartCount"].as_i64())
            .sum();
        let waiting: Vec<String> = statuses
            .iter()
            .filter_map(|s| s["state"]["waiting"]["reason"].as_str().map(str::to_string))
            .collect();
        let terminations: Vec<(String, Option<i64>, Option<DateTime<Utc>>)> = statuses
            .iter()
            .filter_map(|s| {
                let t = &s["lastState"]["terminated"];
                Some((
                    t["reason"].as_str()?.to_string(),
                    t["exitCode"].as_i64(),
                    time(&t["finishedAt"]),
                ))
            })
            .collect();
        let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
        if restarts == 0 && waiting.is_empty() && terminations.is_empty() && phase == "Running" {
            continue;
        }
        let mut summary = format!("pod {}: {phase}, {restarts} restarts", name(pod));
        if !waiting.is_empty() {
            summary.push_str(&format!(", waiting: {}", waiting.join(", ")));
        }
        if let Some((reason, code, at)) = terminations.first() {
            summary.push_str(&format!(", last terminated {reason}"));
            if let Some(code) = code {
                summary.push_str(&format!(" (exit {code})"));
            }
            if let Some(at) = at {
                summary.push_str(&format!(" at {}", at.format("%H:%M")));
            }
        }
        let severe = waiting
            .iter()
            .any(|w| w == "CrashLoopBackOff" || w.contains("ImagePull"))
            || terminations
                .iter()
                .any(|(r, _, _)| r == "OOMKilled" || r == "Error");
        items.push(EvidenceItem {
            id: format!("k8s.pod.{namespace}/{}", name(pod)),
            source: "kubernetes".into(),
            kind: "pod".into(),
            at: terminations.first().and_then(|t| t.2),
            summary,
            anomaly: if severe { 0.9 } else { 0.5 },
            data: json!({
                "phase": phase,
                "node": pod["spec"]["nodeName"],
                "restarts": restarts,
                "waiting": waiting,
                "last_terminations": terminations.iter().map(|(r, c, a)| json!({"reason": r, "exit_code": c, "finished_at": a})).collect::<Vec<_>>(),
                "resources": pod["spec"]["containers"].as_array().map(|c| c.iter().map(|c| json!({"name": c["name"], "resources": c["resources"]})).collect::<Vec<_>>()),
            }),
        });
    }
    items.truncate(10);
    items
}

/// Warning events with the same reason on the same object.
struct EventGroup {
    count: i64,
    message: String,
    last_seen: Option<DateTime<Utc>>,
}

/// Warning events in the window, grouped by reason and object.
fn warning_events(
    namespace: &str,
    events: &[Value],
    related: &dyn Fn(&str) -> bool,
    window: &Window,
) -> Vec<EvidenceItem> {
    let mut groups: BTreeMap<(String, String), EventGroup> = BTreeMap::new();
    for event in events {
        if event["type"] != "Warning" {
            continue;
        }
        let object = &event["involvedObject"];
        let object_name = object["name"].as_str().unwrap_or("");
        if !related(object_name) {
            continue;
        }
        let last = time(&event["lastTimestamp"]).or_else(|| time(&event["eventTime"]));
        if last.is_some_and(|t| t < window.start) {
            continue;
        }
        let key = (
            event["reason"].as_str().unwrap_or("Unknown").to_string(),
            format!(
                "{}/{object_name}",
                object["kind"].as_str().unwrap_or("object").to_lowercase()
            ),
        );
        let group = groups.entry(key).or_insert_with(|| EventGroup {
            count: 0,
            message: event["message"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect(),
            last_seen: last,
        });
        group.count += event["count"].as_i64().unwrap_or(1);
        group.last_seen = group.last_seen.max(last);
    }
    let mut items: Vec<EvidenceItem> = groups
        .into_iter()
        .map(|((reason, object), EventGroup { count, message, last_seen: last })| EvidenceItem {
            id: format!("k8s.event.{namespace}.{reason}.{object}"),
            source: "kubernetes".into(),
            kind: "event".into(),
            at: last,
            summary: format!("{count}× {reason} on {object}: {message}"),
            anomaly: match reason.as_str() {
                "OOMKilling" | "BackOff" | "FailedScheduling" | "Unhealthy" | "Evicted" | "FailedCreate" => 0.8,
                _ => 0.5,
            },
            data: json!({ "reason": reason, "object": object, "count": count, "message": message, "last_seen": last }),
        })
        .collect();
    items.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));
    items.truncate(15);
    items
}

fn autoscalers(namespace: &str, hpas: &[Value], workloads: &BTreeSet<String>) -> Vec<EvidenceItem> {
    hpas.iter()
        .filter(|h| h["spec"]["scaleTargetRef"]["name"].as_str().is_some_and(|n| workloads.contains(n)))
        .map(|h| {
            let current = h["status"]["currentReplicas"].as_i64().unwrap_or(0);
            let desired = h["status"]["desiredReplicas"].as_i64().unwrap_or(0);
            let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(0);
            let at_max = max > 0 && current >= max;
            EvidenceItem {
                id: format!("k8s.hpa.{namespace}/{}", name(h)),
                source: "kubernetes".into(),
                kind: "hpa".into(),
                at: None,
                summary: format!(
                    "HPA {}: {current} replicas (desired {desired}, max {max}){}",
                    name(h),
                    if at_max { ", at its maximum" } else { "" }
                ),
                anomaly: if at_max { 0.8 } else { 0.3 },
                data: json!({ "current": current, "desired": desired, "max": max, "min": h["spec"]["minReplicas"], "metrics": h["status"]["currentMetrics"] }),
            }
        })
        .collect()
}

fn node_condition(node: &Value) -> Option<EvidenceItem> {
    let conditions = node["status"]["conditions"].as_array()?;
    let bad: Vec<String> = conditions
        .iter()
        .filter(|c| {
            let kind = c["type"].as_str().unwrap_or("");
            let status = c["status"].as_str().unwrap_or("");
            (kind == "Ready" && status != "True") || (kind != "Ready" && status == "True")
        })
        .map(|c| {
            format!(
                "{}={} ({})",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some(EvidenceItem {
        id: format!("k8s.node.{}", name(node)),
        source: "kubernetes".into(),
        kind: "node".into(),
        at: None,
        summary: format!("node {} hosting the pods: {}", name(node), bad.join(", ")),
        anomaly: 0.85,
        data: json!({ "conditions": conditions }),
    })
}

/// Jobs that failed in the window, or are running more than twice as long as the median of
/// their CronJob's completed runs.
fn jobs(namespace: &str, jobs: &[Value], window: &Window) -> Vec<EvidenceItem> {
    let owner = |job: &Value| {
        job["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["kind"] == "CronJob"))
            .and_then(|o| o["name"].as_str().map(str::to_string))
    };
    let mut durations: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for job in jobs {
        if let (Some(cron), Some(start), Some(end)) = (
            owner(job),
            time(&job["status"]["startTime"]),
            time(&job["status"]["completionTime"]),
        ) {
            durations
                .entry(cron)
                .or_default()
                .push((end - start).num_seconds());
        }
    }
    let now = window.end;
    let mut items = Vec::new();
    for job in jobs {
        let start = time(&job["status"]["startTime"]);
        let failed = job["status"]["failed"].as_i64().unwrap_or(0) > 0
            && job["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Failed" && c["status"] == "True")
            });
        let active = job["status"]["active"].as_i64().unwrap_or(0) > 0;
        let running_secs = start.map(|s| (now - s).num_seconds());
        let median = owner(job).and_then(|cron| {
            let mut d = durations.get(&cron)?.clone();
            d.sort();
            d.get(d.len() / 2).copied()
        });
        let overdue =
            active && matches!((running_secs, median), (Some(r), Some(m)) if m > 0 && r > 2 * m);
        let failed_in_window =
            failed && start.is_some_and(|s| s >= window.start - chrono::Duration::hours(6));
        if !(overdue || failed_in_window || (active && start.is_some_and(|s| s <= window.onset))) {
            continue;
        }
        let state = if failed {
            "failed"
        } else if active {
            "running"
        } else {
            "completed"
        };
        let mut summary = format!("job {} {state}", name(job));
        if let Some(r) = running_secs.filter(|_| active) {
            summary.push_str(&format!(" for {} min", r / 60));
        }
        if let Some(m) = median {
            summary.push_str(&format!(" (previous runs took {} min)", m / 60));
        }
        if let Some(s) = start {
            summary.push_str(&format!(", started {}", minutes_relative(s, window.onset)));
        }
        items.push(EvidenceItem {
            id: format!("k8s.job.{namespace}/{}", name(job)),
            source: "kubernetes".into(),
            kind: "job".into(),
            at: start,
            summary,
            anomaly: if overdue { 0.85 } else if failed { 0.7 } else { 0.4 },
            data: json!({ "state": state, "cronjob": owner(job), "start": start, "running_secs": running_secs, "median_secs": median }),
        });
    }
    items
}

#[async_trait]
impl Collector for KubernetesCollector {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn collect(&self, targets: &Targets, window: &Window) -> Result<Collected, CollectError> {
        let Some(namespace) = targets.kube_namespace.as_deref() else {
            return Ok(Collected {
                items: Vec::new(),
                warnings: vec![
                    "no Kubernetes namespace for this alert (tag or service catalog)".into(),
                ],
            });
        };
        let workloads: BTreeSet<String> = targets.kube_workloads.iter().cloned().collect();
        let warnings_only = ListParams::default().fields("type=Warning");
        let all = ListParams::default();
        let (replicasets, pods, events, hpas, job_list) = tokio::join!(
            self.list::<ReplicaSet>(namespace, &all),
            self.list::<Pod>(namespace, &all),
            self.list::<Event>(namespace, &warnings_only),
            self.list::<HorizontalPodAutoscaler>(namespace, &all),
            self.list::<Job>(namespace, &all),
        );
        let mut collected = Collected::default();
        let lists = [
            replicasets.is_err(),
            pods.is_err(),
            events.is_err(),
            hpas.is_err(),
            job_list.is_err(),
        ];
        if lists.iter().all(|failed| *failed) {
            let first = replicasets
                .err()
                .map_or_else(String::new, |e| e.to_string());
            return Err(CollectError(format!(
                "every list call failed; replicasets: {first}"
            )));
        }
        let replicasets = replicasets.unwrap_or_else(|e| {
            collected.warnings.push(format!("replicasets: {e}"));
            Vec::new()
        });
        let target_sets: BTreeSet<String> = replicasets
            .iter()
            .filter(|rs| owned_by(rs, "Deployment", &workloads).is_some())
            .map(|rs| name(rs).to_string())
            .collect();
        collected
            .items
            .extend(rollouts(namespace, &workloads, &replicasets, window));

        let pods = pods.unwrap_or_else(|e| {
            collected.warnings.push(format!("pods: {e}"));
            Vec::new()
        });
        let target_pods: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                owned_by(p, "ReplicaSet", &target_sets).is_some()
                    || targets.pods.iter().any(|n| n == name(p))
            })
            .collect();
        let pod_items = pod_health(namespace, &target_pods);

        let related = |object: &str| {
            (workloads.is_empty() && targets.pods.is_empty())
                || workloads.iter().any(|w| object.starts_with(w.as_str()))
                || targets.pods.iter().any(|p| p == object)
        };
        collected.absorb(
            "events",
            events.map(|e| warning_events(namespace, &e, &related, window)),
        );
        collected.absorb("hpa", hpas.map(|h| autoscalers(namespace, &h, &workloads)));
        collected.absorb("jobs", job_list.map(|j| jobs(namespace, &j, window)));

        // Nodes hosting the target pods, and previous logs of crashing containers.
        let node_names: BTreeSet<&str> = target_pods
            .iter()
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .collect();
        let nodes: Api<Node> = Api::all(self.client.clone());
        for node_name in node_names.iter().take(5) {
            match nodes.get(node_name).await {
                Ok(node) => {
                    if let Some(item) = serde_json::to_value(&node)
                        .ok()
                        .as_ref()
                        .and_then(node_condition)
                    {
                        collected.items.push(item);
                    }
                }
                Err(e) => collected
                    .warnings
                    .push(format!("node {node_name}: {}", describe(e))),
            }
        }
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let crashing = pod_items.iter().filter(|i| i.anomaly >= 0.9).take(3);
        let mut log_items = Vec::new();
        for item in crashing {
            let pod_name = item.id.rsplit('/').next().unwrap_or("");
            let params = LogParams {
                previous: true,
                tail_lines: Some(self.log_lines),
                ..LogParams::default()
            };
            match pod_api.logs(pod_name, &params).await {
                Ok(text) if !text.trim().is_empty() => {
                    let tail: String = text
                        .chars()
                        .rev()
                        .take(4000)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    log_items.push(EvidenceItem {
                        id: format!("k8s.logs.{namespace}/{pod_name}"),
                        source: "kubernetes".into(),
                        kind: "logs".into(),
                        at: item.at,
                        summary: format!(
                            "previous container log of {pod_name}, last line: {}",
                            tail.lines()
                                .last()
                                .unwrap_or("")
                                .chars()
                                .take(200)
                                .collect::<String>()
                        ),
                        anomaly: 0.7,
                        data: json!({ "tail": tail }),
                    });
                }
                Ok(_) => {}
                Err(e) => collected
                    .warnings
                    .push(format!("logs of {pod_name}: {}", describe(e))),
            }
        }
        collected.items.extend(pod_items);
        collected.items.extend(log_items);
        Ok(collected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_changes_name_added_removed_and_changed_variables_only() {
        let before = json!({"containers": [{"name": "app", "env": [
            {"name": "REDIS_ADDR", "value": "redis-history:6379"},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "OLD", "value": "x"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
        ]}]});
        let after = json!({"containers": [{"name": "app", "env": [
            {"name": "REDIS_ADDR", "value": "redis-history:6380"},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "NEW", "value": "y"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
        ]}]});
        assert_eq!(env_changes(&before, &after), ["NEW", "OLD", "REDIS_ADDR"]);
        assert!(env_changes(&before, &before).is_empty());
    }
}
