//! What to look at for an alert: the Kubernetes workloads, Datadog service, RDS instances and
//! Cloudflare zone, from the alert's own tags plus the service catalog
//! (`config/services.toml`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::Targets;
use crate::domain::{Alert, AlertSource, Window};

/// One service in the catalog. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEntry {
    pub team: Option<String>,
    pub escalation: Option<String>,
    pub kube_namespace: Option<String>,
    pub kube_workloads: Vec<String>,
    pub datadog_service: Option<String>,
    pub rds_instances: Vec<String>,
    /// ElastiCache replication group ids.
    pub elasticache: Vec<String>,
    pub cloudflare_zone: Option<String>,
    pub runbooks: Vec<String>,
    pub dependencies: Vec<String>,
    /// Other names senders use for it: a PagerDuty service name ("Checkout API
    /// (Production)"), a Datadog `service:` tag, an Alertmanager `service` or `job` label.
    pub aliases: Vec<String>,
    /// PagerDuty service ids (`PXXXXXX`) of incidents that are about it.
    pub pagerduty_service_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceCatalog {
    pub services: BTreeMap<String, ServiceEntry>,
}

impl ServiceCatalog {
    /// Reads the catalog; a missing file is an empty catalog, a malformed one an error.
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml_from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

impl ServiceCatalog {
    /// The catalog entry an alert is about: its PagerDuty service id, else the first of its
    /// names that is a catalog key, an alias or a `datadog_service` (case-insensitive).
    pub fn find<'a>(
        &'a self,
        pagerduty_service_id: Option<&str>,
        names: &[&str],
    ) -> Option<(&'a String, &'a ServiceEntry)> {
        if let Some(id) = pagerduty_service_id
            && let Some(found) = self
                .services
                .iter()
                .find(|(_, e)| e.pagerduty_service_ids.iter().any(|p| p == id))
        {
            return Some(found);
        }
        names.iter().find_map(|name| {
            let name = name.trim();
            self.services.iter().find(|(key, e)| {
                key.eq_ignore_ascii_case(name)
                    || e.aliases
                        .iter()
                        .any(|a| a.trim().eq_ignore_ascii_case(name))
                    || e.datadog_service
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(name))
            })
        })
    }

    /// Names or PagerDuty ids that point at two services: each would resolve arbitrarily.
    pub fn duplicate_aliases(&self) -> Vec<String> {
        let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (key, entry) in &self.services {
            let mut names: Vec<String> = std::iter::once(key)
                .chain(&entry.aliases)
                .chain(&entry.pagerduty_service_ids)
                .map(|n| n.trim().to_lowercase())
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                owners.entry(name).or_default().push(key);
            }
        }
        owners
            .into_iter()
            .filter(|(_, keys)| keys.len() > 1)
            .map(|(name, keys)| format!("\"{name}\" names {}", keys.join(" and ")))
            .collect()
    }
}

fn toml_from_str(text: &str) -> Result<ServiceCatalog, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| e.to_string())
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

impl Targets {
    /// Resolves targets from well-known tags first, then fills gaps from the catalog entry of
    /// the alert's service.
    pub fn resolve(alert: &Alert, catalog: &ServiceCatalog) -> Self {
        let tag = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| alert.tag(k).filter(|v| !v.is_empty()))
                .map(str::to_string)
        };
        let mut targets = Targets {
            service: alert
                .service
                .clone()
                .or_else(|| tag(&["service", "app", "kube_service", "job"])),
            env: tag(&["env", "environment"]),
            kube_namespace: tag(&["kube_namespace", "namespace"]),
            ..Targets::default()
        };
        let workload_is_deployment = tag(&["workload_type", "annotation.workload_type"])
            .is_none_or(|kind| kind.eq_ignore_ascii_case("deployment"));
        for t in &alert.tags {
            // Alertmanager and Grafana annotations carry the same names as labels.
            match t.key.strip_prefix("annotation.").unwrap_or(&t.key) {
                "kube_deployment" | "deployment" => {
                    push_unique(&mut targets.kube_workloads, &t.value)
                }
                "workload_name" if workload_is_deployment => {
                    push_unique(&mut targets.kube_workloads, &t.value)
                }
                "pod_name" | "pod" | "kube_pod" => push_unique(&mut targets.pods, &t.value),
                "host" => push_unique(&mut targets.hosts, &t.value),
                "dbinstanceidentifier" | "db_instance_identifier" | "db_instance" => {
                    push_unique(&mut targets.rds_instances, &t.value)
                }
                "replicationgroupid" | "replication_group_id" | "replication_group" => {
                    push_unique(&mut targets.elasticache, &t.value)
                }
                _ => {}
            }
        }
        if targets.kube_namespace.is_none() {
            targets.kube_namespace = tag(&["annotation.kube_namespace", "annotation.namespace"]);
        }
        if alert.source == AlertSource::Datadog {
            targets.datadog_monitor_id = alert.monitor_id.clone();
            targets.monitor_query = alert.monitor_query.clone();
        }
        // The sender's name for the service may be an alias; the catalog key is the name
        // the rest of the pipeline uses.
        let names: Vec<&str> = targets
            .service
            .as_deref()
            .into_iter()
            .chain(
                ["service", "job", "app"]
                    .iter()
                    .filter_map(|k| alert.tag(k)),
            )
            .collect();
        let found = catalog.find(alert.tag("pagerduty_service_id"), &names);
        if let Some((key, _)) = found {
            targets.service = Some(key.clone());
        }
        let entry = found.map(|(_, e)| e.clone()).unwrap_or_default();
        targets.kube_namespace = targets.kube_namespace.or(entry.kube_namespace);
        for workload in &entry.kube_workloads {
            push_unique(&mut targets.kube_workloads, workload);
        }
        for instance in &entry.rds_instances {
            push_unique(&mut targets.rds_instances, instance);
        }
        for group in &entry.elasticache {
            push_unique(&mut targets.elasticache, group);
        }
        targets.datadog_service = entry.datadog_service.or_else(|| targets.service.clone());
        targets.cloudflare_zone = entry.cloudflare_zone;
        targets.team = entry.team.or_else(|| tag(&["team"]));
        targets.escalation = entry.escalation;
        targets.runbooks = entry.runbooks;
        if let Some(runbook) = tag(&["annotation.runbook_url", "runbook_url", "runbook"]) {
            push_unique(&mut targets.runbooks, &runbook);
        }
        targets.dependencies = entry.dependencies;
        targets
    }
}

/// The window the collectors look at: from `lookback` before the onset until now.
pub fn window(onset: DateTime<Utc>, lookback: Duration, now: DateTime<Utc>) -> Window {
    Window {
        start: onset - lookback,
        onset,
        end: now.max(onset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Tag, Transition};

    fn alert(source: AlertSource, service: Option<&str>, tags: &[(&str, &str)]) -> Alert {
        Alert {
            source,
            delivery_id: "d".into(),
            dedup_key: "k".into(),
            transition: Transition::Triggered,
            event_type: "Triggered".into(),
            title: "t".into(),
            message: None,
            priority: None,
            service: service.map(str::to_string),
            tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
            monitor_id: Some("42".into()),
            monitor_query: Some("avg(last_5m):avg:system.cpu.user{*} > 90".into()),
            metric: None,
            link: None,
            fired_at: Utc::now(),
            raw: "{}".into(),
        }
    }

    fn aliased() -> ServiceCatalog {
        toml_from_str(
            r#"
[services.checkout-api]
kube_namespace = "shop"
kube_workloads = ["checkout-api"]
aliases = ["Checkout API (Production)", "checkout", "shop-checkout"]
pagerduty_service_ids = ["PX7K2QZ"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn senders_names_and_pagerduty_ids_resolve_through_aliases() {
        let catalog = aliased();
        // PagerDuty: the service's display name, or its id whatever the name says.
        for (name, id) in [
            ("Checkout API (Production)", "PUNKNOWN"),
            ("Renamed in PagerDuty", "PX7K2QZ"),
        ] {
            let a = alert(
                AlertSource::Pagerduty,
                Some(name),
                &[("service", name), ("pagerduty_service_id", id)],
            );
            let t = Targets::resolve(&a, &catalog);
            assert_eq!(t.service.as_deref(), Some("checkout-api"), "{name} {id}");
            assert_eq!(t.kube_workloads, ["checkout-api"]);
            assert_eq!(t.kube_namespace.as_deref(), Some("shop"));
        }
        // Datadog's service tag and Alertmanager's job label go through the same aliases.
        let dd = alert(
            AlertSource::Datadog,
            Some("CHECKOUT"),
            &[("service", "CHECKOUT")],
        );
        assert_eq!(
            Targets::resolve(&dd, &catalog).service.as_deref(),
            Some("checkout-api")
        );
        let am = alert(AlertSource::Alertmanager, None, &[("job", "shop-checkout")]);
        assert_eq!(
            Targets::resolve(&am, &catalog).kube_workloads,
            ["checkout-api"]
        );
        // An unknown name stays as it was, with no catalog targets.
        let other = alert(AlertSource::Pagerduty, Some("Billing"), &[]);
        let t = Targets::resolve(&other, &catalog);
        assert_eq!(t.service.as_deref(), Some("Billing"));
        assert!(t.kube_workloads.is_empty());
    }

    #[test]
    fn a_name_that_points_at_two_services_is_reported() {
        let mut catalog = aliased();
        assert!(catalog.duplicate_aliases().is_empty());
        catalog.services.insert(
            "payments-api".into(),
            ServiceEntry {
                aliases: vec!["Checkout".into()],
                pagerduty_service_ids: vec!["PX7K2QZ".into()],
                ..ServiceEntry::default()
            },
        );
        let duplicates = catalog.duplicate_aliases();
        assert_eq!(duplicates.len(), 2, "{duplicates:?}");
        assert!(
            duplicates
                .iter()
                .any(|d| d.contains("\"checkout\"") && d.contains("checkout-api and payments-api")),
            "{duplicates:?}"
        );
    }

    #[test]
    fn well_known_tags_map_without_a_catalog() {
        let a = alert(
            AlertSource::Datadog,
            None,
            &[
                ("kube_namespace", "production"),
                ("kube_deployment", "game-api"),
                ("service", "game-api"),
                ("env", "prod"),
                ("dbinstanceidentifier", "prod-postgres-primary"),
                ("pod_name", "game-api-7d9f8b6c5d-x2x7q"),
                ("host", "ip-10-4-12-7"),
            ],
        );
        let t = Targets::resolve(&a, &ServiceCatalog::default());
        assert_eq!(t.kube_namespace.as_deref(), Some("production"));
        assert_eq!(t.kube_workloads, ["game-api"]);
        assert_eq!(t.rds_instances, ["prod-postgres-primary"]);
        assert_eq!(t.pods, ["game-api-7d9f8b6c5d-x2x7q"]);
        assert_eq!(t.hosts, ["ip-10-4-12-7"]);
        assert_eq!(t.datadog_service.as_deref(), Some("game-api"));
        assert_eq!(t.datadog_monitor_id.as_deref(), Some("42"));
    }

    #[test]
    fn alertmanager_labels_map_and_the_catalog_fills_gaps() {
        let catalog = ServiceCatalog::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/services.toml"),
        )
        .unwrap();
        let a = alert(
            AlertSource::Alertmanager,
            Some("checkout-api"),
            &[
                ("namespace", "production"),
                ("deployment", "checkout-api"),
                ("pod", "checkout-api-1"),
            ],
        );
        let t = Targets::resolve(&a, &catalog);
        assert_eq!(t.kube_workloads, ["checkout-api"]);
        assert_eq!(t.rds_instances, ["prod-postgres-primary"]);
        assert_eq!(t.team.as_deref(), Some("payments"));
        assert_eq!(
            t.cloudflare_zone.as_deref(),
            Some("023e105f4ecef8ad9ca31a8372d0c353")
        );
        assert_eq!(t.datadog_monitor_id, None, "monitor ids are Datadog's");
    }

    #[test]
    fn the_window_reaches_back_from_the_onset() {
        let onset = Utc::now() - Duration::minutes(5);
        let w = window(onset, Duration::minutes(30), Utc::now());
        assert_eq!(w.start, onset - Duration::minutes(30));
        assert!(w.end >= onset);
    }

    #[test]
    fn a_malformed_catalog_is_an_error() {
        assert!(toml_from_str("[services.x]\nkube_workload = 'typo'").is_err());
    }
}
