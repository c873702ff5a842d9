//! Kubernetes API objects turned into evidence items: rollouts (with what changed), pod
//! health, Warning events, autoscalers, node conditions and Jobs. Pure functions of the
//! objects the collector read, so each is tested on captured API responses.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::CollectError;
use crate::domain::{EvidenceItem, Window};

pub(super) fn describe(error: kube::Error) -> CollectError {
    CollectError(match error {
        kube::Error::Api(status) => {
            format!("API {} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    })
}

pub(super) fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

pub(super) fn owned_by(object: &Value, kind: &str, names: &BTreeSet<String>) -> Option<String> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == kind && o["name"].as_str().is_some_and(|n| names.contains(n)))
        .and_then(|o| o["name"].as_str().map(str::to_string))
}

pub(super) fn images(pod_spec: &Value) -> Vec<String> {
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
pub(super) fn env_changes(previous: &Value, current: &Value) -> Vec<String> {
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

pub(super) fn minutes_relative(at: DateTime<Utc>, onset: DateTime<Utc>) -> String {
    let minutes = (onset - at).num_minutes();
    if minutes >= 0 {
        format!("{minutes} min before onset")
    } else {
        format!("{} min after onset", -minutes)
    }
}

/// One revision of a workload's pod template, whichever object records it.
struct Revision<'a> {
    kind: &'static str,
    workload: String,
    number: i64,
    created: Option<DateTime<Utc>>,
    /// The pod spec of the revision's template.
    spec: &'a Value,
    /// A ReplicaSet's own replica counts (ControllerRevisions have none).
    status: Option<&'a Value>,
}

fn revisions<'a>(
    workloads: &BTreeSet<String>,
    replicasets: &'a [Value],
    controller_revisions: &'a [Value],
) -> Vec<Revision<'a>> {
    let mut out = Vec::new();
    for rs in replicasets {
        if let Some(workload) = owned_by(rs, "Deployment", workloads) {
            out.push(Revision {
                kind: "Deployment",
                workload,
                number: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                created: time(&rs["metadata"]["creationTimestamp"]),
                spec: &rs["spec"]["template"]["spec"],
                status: Some(&rs["status"]),
            });
        }
    }
    for cr in controller_revisions {
        for kind in ["StatefulSet", "DaemonSet"] {
            if let Some(workload) = owned_by(cr, kind, workloads) {
                out.push(Revision {
                    kind,
                    workload,
                    number: cr["revision"].as_i64().unwrap_or(0),
                    created: time(&cr["metadata"]["creationTimestamp"]),
                    // The revision stores its template as a patch: `data.spec.template`.
                    spec: &cr["data"]["spec"]["template"]["spec"],
                    status: None,
                });
            }
        }
    }
    out
}

/// Rollouts: each revision of the target workloads (Deployments' ReplicaSets, StatefulSets'
/// and DaemonSets' ControllerRevisions) created in the window, and the current one.
pub(super) fn rollouts(
    namespace: &str,
    workloads: &BTreeSet<String>,
    replicasets: &[Value],
    controller_revisions: &[Value],
    window: &Window,
) -> Vec<EvidenceItem> {
    let mut by_workload: BTreeMap<(String, &'static str), Vec<Revision<'_>>> = BTreeMap::new();
    for revision in revisions(workloads, replicasets, controller_revisions) {
        by_workload
            .entry((revision.workload.clone(), revision.kind))
            .or_default()
            .push(revision);
    }
    let mut items = Vec::new();
    for ((workload, kind), mut revisions) in by_workload {
        revisions.sort_by_key(|r| r.number);
        let newest = revisions.last().map(|r| r.number);
        for (index, revision) in revisions.iter().enumerate() {
            let created = revision.created;
            let in_window = created.is_some_and(|c| c >= window.start && c <= window.end);
            if !in_window && Some(revision.number) != newest {
                continue;
            }
            let image = images(revision.spec).join(", ");
            let previous_spec = index.checked_sub(1).map(|i| revisions[i].spec);
            let previous = previous_spec
                .map(|spec| images(spec).join(", "))
                .filter(|p| *p != image);
            let env_changed = previous_spec
                .map(|spec| env_changes(spec, revision.spec))
                .unwrap_or_default();
            let when = created.map_or(String::new(), |c| {
                format!(
                    " at {}, {}",
                    c.format("%H:%M"),
                    minutes_relative(c, window.onset)
                )
            });
            let before_onset = created.map(|c| (window.onset - c).num_minutes());
            let number = revision.number;
            let which = if kind == "Deployment" {
                String::new()
            } else {
                format!(" ({kind})")
            };
            items.push(EvidenceItem {
                id: format!("k8s.rollout.{namespace}/{workload}.rev{number}"),
                source: "kubernetes".into(),
                kind: "rollout".into(),
                at: created,
                summary: format!(
                    "{workload}{which} rolled out {image} (revision {number}){when}{}",
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
                    "deployment": workload,
                    "workload_kind": kind,
                    "revision": number,
                    "images": images(revision.spec),
                    "previous_images": previous,
                    "env_changed": env_changed,
                    "created": created,
                    "replicas": revision.status.map(|s| s["replicas"].clone()),
                    "ready_replicas": revision.status.map(|s| s["readyReplicas"].clone()),
                }),
            });
        }
    }
    items
}

/// The ConfigMaps a pod spec reads (volumes, projected volumes, `envFrom`, `env` key refs).
pub(super) fn config_maps_used(spec: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(n) = v.as_str() {
            names.insert(n.to_string());
        }
    };
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        add(&volume["configMap"]["name"]);
        for source in volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            add(&source["configMap"]["name"]);
        }
    }
    let containers = spec["containers"]
        .as_array()
        .into_iter()
        .chain(spec["initContainers"].as_array())
        .flatten();
    for container in containers {
        for from in container["envFrom"].as_array().into_iter().flatten() {
            add(&from["configMapRef"]["name"]);
        }
        for env in container["env"].as_array().into_iter().flatten() {
            add(&env["valueFrom"]["configMapKeyRef"]["name"]);
        }
    }
    names
}

/// When an object was last written: the newest `managedFields` time, else its creation.
fn last_written(object: &Value) -> Option<DateTime<Utc>> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| time(&f["time"]))
        .max()
        .or_else(|| time(&object["metadata"]["creationTimestamp"]))
}

/// Whether a NetworkPolicy's `podSelector` selects pods with these labels (an empty selector
/// selects every pod of the namespace; `matchExpressions` are read for `In`/`Exists`).
pub(super) fn selects(policy: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let selector = &policy["spec"]["podSelector"];
    let match_labels = selector["matchLabels"].as_object();
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let value = labels.get(key).and_then(Value::as_str);
            match e["operator"].as_str().unwrap_or("") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

/// ConfigMaps the target pods read and NetworkPolicies that select them, written in the
/// window: names and times only (the lists are metadata-only; no value is ever fetched).
pub(super) fn config_changes(
    namespace: &str,
    pods: &[&Value],
    config_maps: &[Value],
    policies: &[Value],
    window: &Window,
) -> Vec<EvidenceItem> {
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pod in pods {
        for map in config_maps_used(&pod["spec"]) {
            users.entry(map).or_default().insert(workload_of(pod));
        }
    }
    let mut items = Vec::new();
    let mut push = |object_kind: &str, object: &Value, used_by: BTreeSet<String>, how: &str| {
        let Some(at) = last_written(object).filter(|t| *t >= window.start && *t <= window.end)
        else {
            return;
        };
        let object_name = name(object);
        let users: Vec<String> = used_by.into_iter().collect();
        let before = (window.onset - at).num_minutes();
        items.push(EvidenceItem {
            id: format!(
                "k8s.config.{namespace}/{}/{object_name}",
                object_kind.to_lowercase()
            ),
            source: "kubernetes".into(),
            kind: "change".into(),
            at: Some(at),
            summary: format!(
                "config change: {object_kind} {object_name} ({how} {}) written at {}, {}",
                users.join(", "),
                at.format("%H:%M"),
                minutes_relative(at, window.onset)
            ),
            anomaly: if (0..=30).contains(&before) { 0.8 } else { 0.5 },
            data: json!({
                "title": format!("{object_kind} {object_name} changed"),
                "object_kind": object_kind,
                "name": object_name,
                "used_by": users,
                "changed_at": at,
                "change": "config",
            }),
        });
    };
    for map in config_maps {
        if let Some(used_by) = users.get(name(map)) {
            push("ConfigMap", map, used_by.clone(), "read by");
        }
    }
    for policy in policies {
        let selected: BTreeSet<String> = pods
            .iter()
            .filter(|p| {
                p["metadata"]["labels"]
                    .as_object()
                    .is_some_and(|labels| selects(policy, labels))
            })
            .map(|p| workload_of(p))
            .collect();
        if !selected.is_empty() {
            push("NetworkPolicy", policy, selected, "selects pods of");
        }
    }
    items
}

/// The workload a pod belongs to: its owner, with a ReplicaSet's template hash removed
/// (`api-7d9f8c6b5` → Deployment `api`); a pod without an owner is its own workload.
fn workload_of(pod: &Value) -> String {
    let owner = &pod["metadata"]["ownerReferences"][0];
    match (owner["kind"].as_str(), owner["name"].as_str()) {
        (Some("ReplicaSet"), Some(set)) => set
            .rsplit_once('-')
            .map_or(set, |(base, _)| base)
            .to_string(),
        (_, Some(owner)) => owner.to_string(),
        _ => name(pod).to_string(),
    }
}

/// Unhealthy pods of the targets: restarts, waiting reasons, last terminations.
pub(super) fn pod_health(namespace: &str, pods: &[&Value]) -> Vec<EvidenceItem> {
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
        // A Pending pod the scheduler cannot place says why in its PodScheduled condition.
        let unschedulable = pod["status"]["conditions"]
            .as_array()
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            })
            .and_then(|c| c["message"].as_str().or_else(|| c["reason"].as_str()))
            .map(|why| why.chars().take(300).collect::<String>());
        // Being deleted (a rollout replacing it, a scale-down, an eviction): what it does now
        // ends with it.
        let terminating = time(&pod["metadata"]["deletionTimestamp"]);
        let mut summary = format!("pod {}: {phase}, {restarts} restarts", name(pod));
        if let Some(at) = terminating {
            summary.push_str(&format!(
                ", terminating (deleted at {})",
                at.format("%H:%M")
            ));
        }
        if let Some(why) = &unschedulable {
            summary.push_str(&format!(", not scheduled: {why}"));
        }
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
        let severe = unschedulable.is_some()
            || waiting
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
            anomaly: match (severe, terminating.is_some()) {
                (true, false) => 0.9,
                (true, true) => 0.6,
                (false, _) => 0.5,
            },
            data: json!({
                "phase": phase,
                "terminating": terminating.is_some(),
                "node": pod["spec"]["nodeName"],
                "unschedulable": unschedulable,
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

/// One item per target workload: replicas ready of replicas wanted (from its ReplicaSets;
/// from its pods when there are none), and restarts, now. Healthy workloads are reported too
/// (low anomaly): that the target is healthy now is what tells a recovered or noisy alert
/// from an ongoing fault.
pub(super) fn workload_state(
    namespace: &str,
    workloads: &BTreeSet<String>,
    replicasets: &[Value],
    pods: &[&Value],
) -> Vec<EvidenceItem> {
    workloads
        .iter()
        .filter_map(|workload| {
            let only = BTreeSet::from([workload.clone()]);
            let sets: Vec<&Value> = replicasets
                .iter()
                .filter(|rs| owned_by(rs, "Deployment", &only).is_some())
                .collect();
            let set_names: BTreeSet<String> =
                sets.iter().map(|rs| name(rs).to_string()).collect();
            let mine: Vec<&&Value> = pods
                .iter()
                .filter(|p| {
                    owned_by(p, "ReplicaSet", &set_names).is_some()
                        || owned_by(p, "StatefulSet", &only).is_some()
                        || owned_by(p, "DaemonSet", &only).is_some()
                })
                .collect();
            if mine.is_empty() && sets.is_empty() {
                return None;
            }
            let pod_ready = |p: &Value| {
                p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            };
            let (wanted, ready) = if sets.is_empty() {
                (mine.len() as i64, mine.iter().filter(|p| pod_ready(p)).count() as i64)
            } else {
                (
                    sets.iter().filter_map(|rs| rs["spec"]["replicas"].as_i64()).sum(),
                    sets.iter().filter_map(|rs| rs["status"]["readyReplicas"].as_i64()).sum(),
                )
            };
            let restarts: i64 = mine
                .iter()
                .flat_map(|p| p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default())
                .filter_map(|s| s["restartCount"].as_i64())
                .sum();
            // Both views must agree: the ReplicaSets' counts and every pod found ready — but
            // a pod being deleted (an old revision's, torn down by a rollout) is no longer one
            // of the replicas wanted.
            let (leaving, staying): (Vec<&&Value>, Vec<&&Value>) = mine
                .iter()
                .partition(|p| !p["metadata"]["deletionTimestamp"].is_null());
            let terminating = leaving.len();
            let healthy = ready >= wanted && wanted > 0 && staying.iter().all(|p| pod_ready(p));
            Some(EvidenceItem {
                id: format!("k8s.workload.{namespace}/{workload}"),
                source: "kubernetes".into(),
                kind: "workload".into(),
                at: None,
                summary: format!(
                    "{workload}: {ready} of {wanted} replicas ready now, {restarts} restarts in total{}",
                    if terminating > 0 {
                        format!(", {terminating} pod(s) terminating")
                    } else {
                        String::new()
                    }
                ),
                anomaly: if healthy { 0.1 } else { 0.6 },
                data: json!({"ready": ready, "wanted": wanted, "pods": mine.len(), "terminating": terminating, "restarts": restarts}),
            })
        })
        .collect()
}

/// Warning events with the same reason on the same object.
pub(super) struct EventGroup {
    count: i64,
    message: String,
    last_seen: Option<DateTime<Utc>>,
}

/// Warning events in the window, grouped by reason and object.
pub(super) fn warning_events(
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

pub(super) fn autoscalers(
    namespace: &str,
    hpas: &[Value],
    workloads: &BTreeSet<String>,
) -> Vec<EvidenceItem> {
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

/// The zone a node's labels put it in (`topology.kubernetes.io/zone`, or the older beta label).
pub(super) fn zone_of(node: &Value) -> Option<&str> {
    let labels = &node["metadata"]["labels"];
    labels["topology.kubernetes.io/zone"]
        .as_str()
        .or_else(|| labels["failure-domain.beta.kubernetes.io/zone"].as_str())
}

pub(super) fn node_condition(node: &Value) -> Option<EvidenceItem> {
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
    let zone = zone_of(node);
    Some(EvidenceItem {
        id: format!("k8s.node.{}", name(node)),
        source: "kubernetes".into(),
        kind: "node".into(),
        at: None,
        summary: format!(
            "node {}{} hosting the pods: {}",
            name(node),
            zone.map_or(String::new(), |z| format!(" (zone {z})")),
            bad.join(", ")
        ),
        anomaly: 0.85,
        data: json!({ "conditions": conditions, "zone": zone }),
    })
}

/// Where the target workload's failing pods run: when at least two of them share one node
/// (or one zone) and none of their healthy siblings does, the failure is local to it — an
/// item naming `node/<name>` or `az/<zone>`. `None` when failures are spread or there are none.
pub(super) fn placement(
    namespace: &str,
    pods: &[&Value],
    unhealthy: &[EvidenceItem],
    zones: &BTreeMap<String, String>,
) -> Option<EvidenceItem> {
    let failing: BTreeSet<&str> = unhealthy
        .iter()
        .filter_map(|i| i.id.rsplit('/').next())
        .collect();
    fn node_of<'a>(p: &&'a Value) -> Option<&'a str> {
        p["spec"]["nodeName"].as_str()
    }
    let (bad, good): (Vec<&&Value>, Vec<&&Value>) =
        pods.iter().partition(|p| failing.contains(name(p)));
    if bad.len() < 2 || good.is_empty() {
        return None;
    }
    let same = |key: &dyn Fn(&&Value) -> Option<String>| -> Option<String> {
        let first = key(bad[0])?;
        (bad.iter()
            .all(|p| key(p).as_deref() == Some(first.as_str()))
            && good
                .iter()
                .all(|p| key(p).as_deref() != Some(first.as_str())))
        .then_some(first)
    };
    let by_node = |p: &&Value| node_of(p).map(str::to_string);
    let by_zone = |p: &&Value| node_of(p).and_then(|n| zones.get(n)).cloned();
    let (scope, place) = match (same(&by_node), same(&by_zone)) {
        (Some(node), _) => ("node", node),
        (None, Some(zone)) => ("az", zone),
        (None, None) => return None,
    };
    let where_good: BTreeSet<String> = good
        .iter()
        .filter_map(|p| {
            if scope == "node" {
                by_node(p)
            } else {
                by_zone(p)
            }
        })
        .collect();
    let kind = if scope == "node" { "node" } else { "zone" };
    Some(EvidenceItem {
        id: format!("k8s.placement.{namespace}.{scope}/{place}"),
        source: "kubernetes".into(),
        kind: "placement".into(),
        at: None,
        summary: format!(
            "all {} failing pods run on {kind} {place}; the {} healthy ones run elsewhere ({})",
            bad.len(),
            good.len(),
            where_good.into_iter().collect::<Vec<_>>().join(", ")
        ),
        anomaly: 0.8,
        data: json!({
            "entity": format!("{scope}/{place}"),
            "failing": bad.iter().map(|p| name(p)).collect::<Vec<_>>(),
            "healthy": good.len(),
        }),
    })
}

/// A Kubernetes quantity (`500m`, `4`, `8Gi`, `1.5G`, `2e3`) as a number in base units.
pub(super) fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// ResourceQuotas of the namespace with a resource at 90% or more of its hard limit: what
/// refuses new pods (or soon will) although every node has room.
pub(super) fn quotas(namespace: &str, quotas: &[Value]) -> Vec<EvidenceItem> {
    let mut items = Vec::new();
    for quota in quotas {
        let hard = quota["status"]["hard"].as_object();
        let used = &quota["status"]["used"];
        let mut near: Vec<(String, String, String, f64)> = hard
            .into_iter()
            .flatten()
            .filter_map(|(resource, limit)| {
                let limit_text = limit.as_str()?;
                let used_text = used[resource].as_str().unwrap_or("0");
                let (limit, now) = (quantity(limit_text)?, quantity(used_text)?);
                (limit > 0.0 && now / limit >= 0.9).then(|| {
                    (
                        resource.clone(),
                        used_text.to_string(),
                        limit_text.to_string(),
                        now / limit,
                    )
                })
            })
            .collect();
        if near.is_empty() {
            continue;
        }
        near.sort_by(|a, b| b.3.total_cmp(&a.3));
        let full = near[0].3 >= 1.0;
        let parts: Vec<String> = near
            .iter()
            .map(|(r, u, h, ratio)| format!("{r} {u} of {h} ({:.0}%)", ratio * 100.0))
            .collect();
        items.push(EvidenceItem {
            id: format!("k8s.quota.{namespace}/{}", name(quota)),
            source: "kubernetes".into(),
            kind: "quota".into(),
            at: None,
            summary: format!(
                "resource quota {} {}: {}",
                name(quota),
                if full { "exhausted" } else { "nearly exhausted" },
                parts.join(", ")
            ),
            anomaly: if full { 0.8 } else { 0.6 },
            data: json!({
                "entity": format!("quota/{namespace}/{}", name(quota)),
                "resources": near.iter().map(|(r, u, h, ratio)| json!({"resource": r, "used": u, "hard": h, "ratio": ratio})).collect::<Vec<_>>(),
            }),
        });
    }
    items
}

/// Jobs that failed in the window, or are running more than twice as long as the median of
/// their CronJob's completed runs.
pub(super) fn jobs(namespace: &str, jobs: &[Value], window: &Window) -> Vec<EvidenceItem> {
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

/// cert-manager Certificates that need a look: not Ready (with the condition's reason and
/// message), already past `notAfter`, within 14 days of it, or failing to renew. A Ready
/// certificate far from expiry is left out.
pub(super) fn certificates(
    namespace: &str,
    certificates: &[Value],
    now: DateTime<Utc>,
) -> Vec<EvidenceItem> {
    certificates
        .iter()
        .filter_map(|cert| {
            let cert_name = name(cert);
            let status = &cert["status"];
            let ready = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            let is_ready = ready.is_some_and(|c| c["status"] == "True");
            let not_after = time(&status["notAfter"]);
            let days_left = not_after.map(|t| (t - now).num_hours() as f64 / 24.0);
            let failed_attempts = status["failedIssuanceAttempts"].as_i64().unwrap_or(0);
            let expired = days_left.is_some_and(|d| d <= 0.0);
            let expiring = days_left.is_some_and(|d| d > 0.0 && d <= 14.0);
            if is_ready && !expired && !expiring && failed_attempts == 0 {
                return None;
            }
            let hosts: Vec<&str> = cert["spec"]["dnsNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut parts = Vec::new();
            if !is_ready {
                parts.push(format!(
                    "not Ready ({}: {})",
                    ready
                        .and_then(|c| c["reason"].as_str())
                        .unwrap_or("no condition"),
                    ready
                        .and_then(|c| c["message"].as_str())
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
            }
            if let (Some(at), Some(days)) = (not_after, days_left) {
                parts.push(if expired {
                    format!(
                        "expired at {} ({:.1} days ago)",
                        at.format("%Y-%m-%d %H:%M UTC"),
                        -days
                    )
                } else {
                    format!(
                        "expires {} (in {days:.1} days)",
                        at.format("%Y-%m-%d %H:%M UTC")
                    )
                });
            }
            if failed_attempts > 0 {
                parts.push(format!(
                    "{failed_attempts} failed issuance attempt(s), last at {}",
                    status["lastFailureTime"]
                        .as_str()
                        .unwrap_or("an unknown time")
                ));
            }
            Some(EvidenceItem {
                id: format!("k8s.certificate.{namespace}/{cert_name}"),
                source: "kubernetes".into(),
                kind: "certificate".into(),
                at: not_after
                    .filter(|_| expired)
                    .or_else(|| time(&status["lastFailureTime"])),
                summary: format!(
                    "certificate {cert_name} ({}): {}",
                    if hosts.is_empty() {
                        "no dnsNames".to_string()
                    } else {
                        hosts.join(", ")
                    },
                    parts.join("; ")
                ),
                anomaly: if expired || (!is_ready && ready.is_some()) {
                    0.9
                } else if failed_attempts > 0 {
                    0.7
                } else {
                    0.5
                },
                data: json!({
                    "host": hosts.first(),
                    "hosts": hosts,
                    "ready": is_ready,
                    "reason": ready.and_then(|c| c["reason"].as_str()),
                    "not_after": not_after,
                    "days_left": days_left,
                    "expired": expired,
                    "failed_issuance_attempts": failed_attempts,
                    "secret": cert["spec"]["secretName"],
                }),
            })
        })
        .collect()
}
