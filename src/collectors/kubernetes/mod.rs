//! Kubernetes, read-only (get/list): rollout history of the target workloads (Deployments,
//! StatefulSets, DaemonSets), the ConfigMaps their pods read and the NetworkPolicies that
//! select them when written in the window (metadata only), cert-manager Certificates that are
//! not Ready or near expiry (when installed), their pods'
//! health, Warning events, HPAs, the condition, zone and Warning events of the nodes hosting
//! the pods (and whether the failing pods sit on one node or zone), Jobs that failed or run
//! far longer than before, ResourceQuotas near their limits, and the previous logs of
//! crashing containers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use kube::{Api, Client};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{CollectError, Collected, Collector, Registered, templates};
use crate::catalog::Targets;
use crate::config::Settings;
use crate::domain::{EvidenceItem, Window};

mod items;

use items::*;

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

    /// cert-manager Certificates of the namespace through the dynamic API; `None` when the
    /// CRD is not installed (a 404 is "not installed", not an error).
    async fn certificates(&self, namespace: &str) -> Result<Option<Vec<Value>>, CollectError> {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cert-manager.io",
            "v1",
            "Certificate",
        ));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(Some(
                list.items
                    .iter()
                    .filter_map(|item| serde_json::to_value(item).ok())
                    .collect(),
            )),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    /// Names, labels and write times only (`PartialObjectMetadata`): for objects whose
    /// contents the collector must never hold, such as ConfigMaps.
    async fn list_metadata<K>(&self, namespace: &str) -> Result<Vec<Value>, CollectError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list_metadata(&ListParams::default())
            .await
            .map_err(describe)?;
        Ok(list
            .items
            .iter()
            .filter_map(|item| serde_json::to_value(item).ok())
            .collect())
    }
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
        let (replicasets, pods, events, hpas, job_list, quota_list) = tokio::join!(
            self.list::<ReplicaSet>(namespace, &all),
            self.list::<Pod>(namespace, &all),
            self.list::<Event>(namespace, &warnings_only),
            self.list::<HorizontalPodAutoscaler>(namespace, &all),
            self.list::<Job>(namespace, &all),
            self.list::<ResourceQuota>(namespace, &all),
        );
        let (controller_revisions, config_maps, policies, certificate_list) = tokio::join!(
            self.list::<ControllerRevision>(namespace, &all),
            self.list_metadata::<ConfigMap>(namespace),
            self.list::<NetworkPolicy>(namespace, &all),
            self.certificates(namespace),
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
        let replicasets = collected.or_warn("replicasets", replicasets);
        let target_sets: BTreeSet<String> = replicasets
            .iter()
            .filter(|rs| owned_by(rs, "Deployment", &workloads).is_some())
            .map(|rs| name(rs).to_string())
            .collect();
        let controller_revisions = collected.or_warn("controllerrevisions", controller_revisions);
        collected.items.extend(rollouts(
            namespace,
            &workloads,
            &replicasets,
            &controller_revisions,
            window,
        ));

        let pods = collected.or_warn("pods", pods);
        let target_pods: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                owned_by(p, "ReplicaSet", &target_sets).is_some()
                    || owned_by(p, "StatefulSet", &workloads).is_some()
                    || owned_by(p, "DaemonSet", &workloads).is_some()
                    || targets.pods.iter().any(|n| n == name(p))
            })
            .collect();
        let pod_items = pod_health(namespace, &target_pods);
        // How the target workloads stand now, healthy or not: "3 of 3 pods ready" is evidence.
        collected.items.extend(workload_state(
            namespace,
            &workloads,
            &replicasets,
            &target_pods,
        ));

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
        collected.absorb("resourcequotas", quota_list.map(|q| quotas(namespace, &q)));
        let config_maps = collected.or_warn("configmaps", config_maps);
        let policies = collected.or_warn("networkpolicies", policies);
        if let Some(list) = collected.or_warn("certificates", certificate_list) {
            collected
                .items
                .extend(certificates(namespace, &list, chrono::Utc::now()));
        }
        collected.items.extend(config_changes(
            namespace,
            &target_pods,
            &config_maps,
            &policies,
            window,
        ));

        // Nodes hosting the target pods, and previous logs of crashing containers.
        let node_names: BTreeSet<&str> = target_pods
            .iter()
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .collect();
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut zones: BTreeMap<String, String> = BTreeMap::new();
        for node_name in node_names.iter().take(5) {
            match nodes.get(node_name).await {
                Ok(node) => {
                    let node = serde_json::to_value(&node).unwrap_or_default();
                    if let Some(zone) = zone_of(&node) {
                        zones.insert(node_name.to_string(), zone.to_string());
                    }
                    collected.items.extend(node_condition(&node));
                }
                Err(e) => collected
                    .warnings
                    .push(format!("node {node_name}: {}", describe(e))),
            }
        }
        // Warning events of those nodes (kubelet: image garbage collection failing, eviction
        // thresholds met, NodeNotReady), next to their conditions.
        if !node_names.is_empty() {
            let all_events: Api<Event> = Api::all(self.client.clone());
            let params = ListParams::default().fields("involvedObject.kind=Node,type=Warning");
            let on_hosts = |object: &str| node_names.contains(object);
            collected.absorb(
                "node events",
                all_events
                    .list(&params)
                    .await
                    .map_err(describe)
                    .map(|list| {
                        let events: Vec<Value> = list
                            .items
                            .iter()
                            .filter_map(|e| serde_json::to_value(e).ok())
                            .collect();
                        warning_events("node", &events, &on_hosts, window)
                    }),
            );
        }
        // Failing pods concentrated on one node or zone while their siblings elsewhere are fine.
        collected
            .items
            .extend(placement(namespace, &target_pods, &pod_items, &zones));
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
                        // The tail's lines by template, newest example first.
                        data: json!({
                            "tail": tail,
                            "groups": templates::group(tail.lines().rev().map(|l| (l, None)), None)
                                .into_iter()
                                .take(10)
                                .collect::<Vec<_>>(),
                        }),
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

    fn pod_on(name: &str, node: &str, crashing: bool) -> Value {
        let waiting = if crashing {
            json!({"waiting": {"reason": "CrashLoopBackOff"}})
        } else {
            json!({"running": {}})
        };
        json!({
            "metadata": {"name": name},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "containerStatuses": [
                {"restartCount": if crashing { 9 } else { 0 }, "state": waiting}
            ]}
        })
    }

    #[test]
    fn a_pending_pod_says_why_the_scheduler_cannot_place_it() {
        let pending = json!({
            "metadata": {"name": "api-x"},
            "spec": {},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/6 nodes are available: 6 Insufficient cpu."
            }]}
        });
        let items = pod_health("prod", &[&pending]);
        assert_eq!(
            items[0].summary,
            "pod api-x: Pending, 0 restarts, not scheduled: 0/6 nodes are available: 6 Insufficient cpu."
        );
        assert_eq!(items[0].anomaly, 0.9);
    }

    #[test]
    fn quotas_near_their_limit_are_reported_with_every_resource_that_is() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("8Gi"), Some(8.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1.5G"), Some(1.5e9));
        assert_eq!(quantity("2e3"), Some(2000.0));
        assert_eq!(quantity("12"), Some(12.0));
        assert_eq!(quantity("3Zi"), None);
        let list = [
            json!({
                "metadata": {"name": "compute"},
                "status": {
                    "hard": {"pods": "20", "requests.cpu": "8", "requests.memory": "16Gi"},
                    "used": {"pods": "20", "requests.cpu": "7500m", "requests.memory": "4Gi"}
                }
            }),
            json!({
                "metadata": {"name": "roomy"},
                "status": {"hard": {"pods": "100"}, "used": {"pods": "3"}}
            }),
        ];
        let items = quotas("prod", &list);
        assert_eq!(items.len(), 1, "only the quota near its limit");
        let item = &items[0];
        assert_eq!(item.id, "k8s.quota.prod/compute");
        assert_eq!(
            item.summary,
            "resource quota compute exhausted: pods 20 of 20 (100%), requests.cpu 7500m of 8 (94%)"
        );
        assert_eq!(item.data["entity"], "quota/prod/compute");
        assert_eq!(item.anomaly, 0.8);
    }

    #[test]
    fn failing_pods_that_share_a_node_or_zone_are_placed_there() {
        let zones: BTreeMap<String, String> = [
            ("n1", "eu-west-1a"),
            ("n2", "eu-west-1a"),
            ("n3", "eu-west-1b"),
        ]
        .map(|(n, z)| (n.to_string(), z.to_string()))
        .into();
        let place = |pods: &[Value]| {
            let pods: Vec<&Value> = pods.iter().collect();
            let unhealthy = pod_health("prod", &pods);
            placement("prod", &pods, &unhealthy, &zones).map(|i| i.data["entity"].clone())
        };
        // Two failing pods on n1, the healthy one on n3: the node.
        let one_node = [
            pod_on("api-a", "n1", true),
            pod_on("api-b", "n1", true),
            pod_on("api-c", "n3", false),
        ];
        assert_eq!(place(&one_node), Some(json!("node/n1")));
        // Failing on n1 and n2 (both eu-west-1a), healthy in eu-west-1b: the zone.
        let one_zone = [
            pod_on("api-a", "n1", true),
            pod_on("api-b", "n2", true),
            pod_on("api-c", "n3", false),
        ];
        assert_eq!(place(&one_zone), Some(json!("az/eu-west-1a")));
        // A healthy sibling on the same node, a single failure, or no healthy pod: no claim.
        let mixed = [
            pod_on("api-a", "n1", true),
            pod_on("api-b", "n1", true),
            pod_on("api-c", "n1", false),
        ];
        assert_eq!(place(&mixed), None);
        assert_eq!(place(&one_node[1..]), None);
        assert_eq!(place(&one_node[..2]), None);
    }

    #[test]
    fn statefulset_and_daemonset_rollouts_come_from_their_controller_revisions() {
        let onset = chrono::Utc::now();
        let window = Window {
            start: onset - chrono::Duration::hours(1),
            onset,
            end: onset + chrono::Duration::minutes(5),
        };
        let revision = |owner_kind: &str, owner: &str, number: i64, image: &str, age_min: i64| {
            json!({
                "metadata": {
                    "name": format!("{owner}-{number}"),
                    "creationTimestamp": (onset - chrono::Duration::minutes(age_min)).to_rfc3339(),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "uid": "u", "controller": true}]
                },
                "revision": number,
                "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "c", "image": image}]}}}}
            })
        };
        let revisions = [
            revision("StatefulSet", "ledger-db", 6, "postgres:16.3", 60 * 24 * 9),
            revision("StatefulSet", "ledger-db", 7, "postgres:16.4", 4),
            revision("DaemonSet", "node-agent", 3, "agent:2.1", 60 * 24 * 2),
            revision("StatefulSet", "other", 2, "other:1", 3),
        ];
        let workloads = BTreeSet::from(["ledger-db".to_string(), "node-agent".to_string()]);
        let items = rollouts("data", &workloads, &[], &revisions, &window);
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "k8s.rollout.data/ledger-db.rev7",
                "k8s.rollout.data/node-agent.rev3"
            ]
        );
        assert!(
            items[0]
                .summary
                .contains("(StatefulSet) rolled out postgres:16.4")
                && items[0].summary.contains("replacing postgres:16.3")
                && items[0].summary.contains("4 min before onset"),
            "{}",
            items[0].summary
        );
        assert!(items[0].anomaly >= 0.9);
        assert_eq!(items[0].data["workload_kind"], "StatefulSet");
        assert!(
            items[1].anomaly < 0.2,
            "the current revision from days ago is context only"
        );
    }

    #[test]
    fn network_policy_selectors_match_labels_and_expressions() {
        let labels = json!({"app": "api", "tier": "web"});
        let labels = labels.as_object().unwrap();
        let policy = |selector: Value| json!({"spec": {"podSelector": selector}});
        assert!(selects(&policy(json!({})), labels), "empty selects all");
        assert!(selects(
            &policy(json!({"matchLabels": {"app": "api"}})),
            labels
        ));
        assert!(!selects(
            &policy(json!({"matchLabels": {"app": "db"}})),
            labels
        ));
        assert!(selects(
            &policy(
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "edge"]}]})
            ),
            labels
        ));
        assert!(!selects(
            &policy(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})),
            labels
        ));
    }

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
