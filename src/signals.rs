//! Deterministic findings derived from the evidence before any model sees it: they go into
//! the prompt, feed the confidence breakdown, calibrate the model's confidence, and alone make
//! the rules brief when no model answers.

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Category;
use crate::domain::memory;
use crate::domain::{EvidenceBundle, EvidenceItem, KnowledgeMatch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    RolloutBeforeOnset,
    ConfigChange,
    Saturation,
    OomKilled,
    CrashLoop,
    EdgeErrors,
    WafSpike,
    Ddos,
    CacheHitDrop,
    ErrorBurst,
    DependencyInErrors,
    /// Name lookups failing at the resolver.
    ResolverFailure,
    /// The resolver answers that a name the service looks up does not exist (NXDOMAIN).
    NameNotFound,
    OverdueJob,
    NodeUnhealthy,
    /// The failing pods share one node or zone; their healthy siblings run elsewhere.
    FailuresConcentrated,
    HpaAtMax,
    CertificateFailure,
    /// The cloud provider reports an open issue (AWS Health) in the region.
    ProviderIssue,
    /// A fault the events recorded whose target is healthy now.
    Recovered,
    PastIncident,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub id: String,
    pub kind: SignalKind,
    pub statement: String,
    pub evidence_ids: Vec<String>,
    pub knowledge_ids: Vec<String>,
    /// 0 to 1: how strongly this alone points at `category` and `entity`.
    pub strength: f64,
    pub category: Category,
    pub entity: String,
}

/// What a Kubernetes warning event says on its own, for the textbook failure signatures:
/// pods that cannot be scheduled for lack of CPU or memory, a namespace quota refusing pods, a
/// rollout past its progress deadline, liveness probes killing containers.
fn kube_event(item: &EvidenceItem) -> Option<(SignalKind, &'static str, f64, Category)> {
    let reason = item.data["reason"].as_str().unwrap_or_default();
    let message = item.data["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    match reason {
        "FailedScheduling" if message.contains("insufficient") => Some((
            SignalKind::Saturation,
            "Pods cannot be scheduled: the cluster lacks the resources they request",
            0.75,
            Category::ResourceSaturation,
        )),
        "FailedCreate" if message.contains("exceeded quota") => Some((
            SignalKind::Saturation,
            "Pods refused by the namespace's resource quota",
            0.75,
            Category::ResourceSaturation,
        )),
        "ProgressDeadlineExceeded" => Some((
            SignalKind::RolloutBeforeOnset,
            "A rollout did not progress before its deadline",
            0.7,
            Category::DeployRegression,
        )),
        "Unhealthy" | "Killing" if message.contains("liveness probe") => Some((
            SignalKind::ConfigChange,
            "Liveness probes are failing and the kubelet restarts the containers",
            0.6,
            Category::ConfigChange,
        )),
        _ => None,
    }
}

/// What an RDS event says on its own: the instance out of storage, connection slots used up,
/// a Multi-AZ failover. A failover is a discrete, usually completed event, so it is weaker
/// than a fault a metric still measures.
fn rds_event(item: &EvidenceItem) -> Option<(SignalKind, &'static str, f64, Category)> {
    let message = item.data["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    if message.contains("parameter") {
        // A parameter change (even of max_connections) is a configuration change.
        None
    } else if message.contains("out of storage")
        || message.contains("storage space is critically low")
        || message.contains("storage is critically low")
        || (message.contains("free storage capacity") && message.contains(" low"))
    {
        Some((
            SignalKind::Saturation,
            "The database is out of storage",
            0.75,
            Category::ResourceSaturation,
        ))
    } else if message.contains("max_connections") || message.contains("connection slots") {
        Some((
            SignalKind::Saturation,
            "Connections at the instance's limit",
            0.7,
            Category::ResourceSaturation,
        ))
    } else if (message.contains("replication lag") || message.contains("replica lag"))
        && (message.contains("exceeded") || message.contains("behind"))
    {
        // The event states what the ReplicaLag metric would show, when it is not published.
        Some((
            SignalKind::Saturation,
            "Replica cannot keep up with the primary",
            0.7,
            Category::ResourceSaturation,
        ))
    } else if message.contains("failover") {
        Some((
            SignalKind::NodeUnhealthy,
            "The database failed over",
            0.65,
            Category::InfrastructureFailure,
        ))
    } else {
        None
    }
}

/// Past incidents at least this similar become a signal.
pub const PAST_INCIDENT_THRESHOLD: f64 = 0.6;

/// Derives every signal, strongest first.
pub fn derive(bundle: &EvidenceBundle, knowledge: &[KnowledgeMatch]) -> Vec<Signal> {
    let mut signals = Vec::new();
    let mut push = |kind: SignalKind,
                    item: &EvidenceItem,
                    statement: String,
                    strength: f64,
                    category: Category,
                    entity: String| {
        signals.push(Signal {
            id: String::new(),
            kind,
            statement,
            evidence_ids: vec![item.id.clone()],
            knowledge_ids: Vec::new(),
            strength,
            category,
            entity,
        });
    };
    let workload_entity = || match (
        &bundle.targets.kube_namespace,
        bundle.targets.kube_workloads.first(),
    ) {
        (Some(ns), Some(w)) => format!("deployment/{ns}/{w}"),
        _ => format!(
            "service/{}",
            bundle.targets.service.as_deref().unwrap_or("unknown")
        ),
    };
    // Every replica of the target workload is ready now.
    let workload_ready_now = || {
        bundle
            .items
            .iter()
            .any(|i| i.kind == "workload" && i.anomaly <= 0.2)
    };
    // The host a certificate failure names (`certificate/<host>`), else the workload.
    let certificate_entity = |item: &EvidenceItem| {
        item.data["host"]
            .as_str()
            .map_or_else(workload_entity, |h| format!("certificate/{h}"))
    };
    for item in &bundle.items {
        let minutes_before = item.at.map(|at| (bundle.window.onset - at).num_minutes());
        match item.kind.as_str() {
            "rollout" if item.anomaly >= 0.6 => {
                let entity = rollout_entity(item).unwrap_or_else(workload_entity);
                let strength = if minutes_before.is_some_and(|m| (0..=30).contains(&m)) {
                    0.85
                } else {
                    0.6
                };
                // Same image, changed environment: a configuration change, not new code.
                let config_only = item.data["previous_images"].is_null()
                    && item.data["env_changed"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty());
                if config_only {
                    push(
                        SignalKind::ConfigChange,
                        item,
                        format!("Configuration-only rollout before onset: {}", item.summary),
                        strength,
                        Category::ConfigChange,
                        entity,
                    );
                } else {
                    push(
                        SignalKind::RolloutBeforeOnset,
                        item,
                        format!("Rollout before onset: {}", item.summary),
                        strength,
                        Category::DeployRegression,
                        entity,
                    );
                }
            }
            "change" if minutes_before.is_some_and(|m| (0..=60).contains(&m)) => {
                let lower = item.summary.to_lowercase();
                // Where the change ran: its `service:` tag when that is not the alerting
                // service (whose workload entity is used), so a change elsewhere stays apart.
                let changed = tagged_service(item)
                    .filter(|s| {
                        let s = s.to_lowercase();
                        bundle.targets.service.as_deref().map(str::to_lowercase) != Some(s.clone())
                            && !bundle
                                .targets
                                .kube_workloads
                                .iter()
                                .any(|w| w.to_lowercase() == s)
                    })
                    .map(|s| format!("service/{s}"));
                let workload_entity = || changed.clone().unwrap_or_else(workload_entity);
                let edge_rule = lower.contains("waf") || lower.contains("firewall");
                if let (true, Some(zone)) = (edge_rule, &bundle.targets.cloudflare_zone) {
                    push(
                        SignalKind::ConfigChange,
                        item,
                        format!("Edge rule change before onset: {}", item.summary),
                        0.7,
                        Category::ConfigChange,
                        format!("zone/{zone}"),
                    );
                } else if lower.contains("config")
                    || lower.contains("flag")
                    || lower.contains("parameter")
                    || edge_rule
                {
                    push(
                        SignalKind::ConfigChange,
                        item,
                        format!("Config change before onset: {}", item.summary),
                        0.7,
                        Category::ConfigChange,
                        workload_entity(),
                    );
                } else {
                    let strength = if minutes_before.is_some_and(|m| m <= 30) {
                        0.85
                    } else {
                        0.6
                    };
                    push(
                        SignalKind::RolloutBeforeOnset,
                        item,
                        format!("Deploy before onset: {}", item.summary),
                        strength,
                        Category::DeployRegression,
                        workload_entity(),
                    );
                }
            }
            "rds_event" if rds_event(item).is_some() && minutes_before.is_none_or(|m| m <= 120) => {
                if let Some((kind, statement, strength, category)) = rds_event(item) {
                    push(
                        kind,
                        item,
                        format!("{statement}: {}", item.summary),
                        strength,
                        category,
                        rds_entity(&item.id),
                    );
                }
            }
            "metric" if item.data["metric"] == "ReplicaLag" => {
                let (max, last) = max_and_last(item);
                // A replica minutes behind, and still behind at the end of the window.
                if max >= 60.0 && last >= 0.5 * max {
                    push(
                        SignalKind::Saturation,
                        item,
                        format!("Replica cannot keep up with the primary: {}", item.summary),
                        0.75,
                        Category::ResourceSaturation,
                        rds_entity(&item.id),
                    );
                }
            }
            "metric" if item.data["metric"] == "FreeStorageSpace" => {
                let (max, last) = max_and_last(item);
                // Free space down to a tenth of what it was, and not given back.
                if max > 0.0 && last <= 0.1 * max {
                    push(
                        SignalKind::Saturation,
                        item,
                        format!("Storage nearly full: {}", item.summary),
                        0.75,
                        Category::ResourceSaturation,
                        rds_entity(&item.id),
                    );
                }
            }
            // A parameter change long before the onset, or after it, did not start it.
            "rds_event"
                if item.summary.to_lowercase().contains("parameter")
                    && minutes_before.is_none_or(|m| (0..=120).contains(&m)) =>
            {
                let entity = rds_entity(&item.id);
                push(
                    SignalKind::ConfigChange,
                    item,
                    format!("Database configuration change: {}", item.summary),
                    0.7,
                    Category::ConfigChange,
                    entity,
                );
            }
            "metric" if item.id.ends_with(".connections") => {
                let max = item.data["series"]["max"].as_f64();
                let limit = item.data["max_connections"].as_f64();
                if let (Some(max), Some(limit)) = (max, limit)
                    && limit > 0.0
                    && max / limit >= 0.9
                {
                    push(
                        SignalKind::Saturation,
                        item,
                        format!(
                            "Connections at {:.0}% of max_connections: {}",
                            max / limit * 100.0,
                            item.summary
                        ),
                        0.75,
                        Category::ResourceSaturation,
                        rds_entity(&item.id),
                    );
                }
            }
            "metric"
                if item.id.ends_with(".cpu")
                    && item.data["series"]["max"]
                        .as_f64()
                        .is_some_and(|m| m >= 90.0) =>
            {
                push(
                    SignalKind::Saturation,
                    item,
                    format!("CPU saturated: {}", item.summary),
                    0.7,
                    Category::ResourceSaturation,
                    rds_entity(&item.id),
                );
            }
            "pod" => {
                let oom = item.data["last_terminations"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["reason"] == "OOMKilled"));
                if oom {
                    push(
                        SignalKind::OomKilled,
                        item,
                        format!("Containers OOMKilled: {}", item.summary),
                        0.8,
                        Category::ResourceSaturation,
                        workload_entity(),
                    );
                } else if item.data["waiting"].as_array().is_some_and(|w| {
                    w.iter().any(|w| {
                        w.as_str().is_some_and(|w| {
                            w.contains("ImagePull")
                                || w == "ErrImagePull"
                                || w == "InvalidImageName"
                        })
                    })
                }) {
                    // The pod spec names an image the node cannot pull: a wrong tag or
                    // registry credentials in the workload's configuration.
                    push(
                        SignalKind::ConfigChange,
                        item,
                        format!("Image cannot be pulled: {}", item.summary),
                        0.75,
                        Category::ConfigChange,
                        workload_entity(),
                    );
                } else if item.data["waiting"]
                    .as_array()
                    .is_some_and(|w| w.iter().any(|w| w == "CrashLoopBackOff"))
                {
                    if item.data["terminating"] == true && workload_ready_now() {
                        // A pod being deleted while every replica of the workload is ready:
                        // an old pod torn down by a rollout or a scale-down, not a failure now.
                        push(
                            SignalKind::Recovered,
                            item,
                            format!(
                                "A pod being deleted crash-loops, but every replica is ready now: {}",
                                item.summary
                            ),
                            0.45,
                            Category::NoFault,
                            workload_entity(),
                        );
                    } else {
                        push(
                            SignalKind::CrashLoop,
                            item,
                            format!("Crash loop: {}", item.summary),
                            0.5,
                            Category::DeployRegression,
                            workload_entity(),
                        );
                    }
                }
            }
            "event" if kube_event(item).is_some() => {
                if let Some((kind, statement, strength, category)) = kube_event(item) {
                    // Events outlive their fault: with every replica of the workload ready
                    // now, the event is history — a fault that already recovered.
                    if workload_ready_now() {
                        push(
                            SignalKind::Recovered,
                            item,
                            format!(
                                "{statement} earlier, but every replica is ready now: {}",
                                item.summary
                            ),
                            0.45,
                            Category::NoFault,
                            workload_entity(),
                        );
                    } else {
                        push(
                            kind,
                            item,
                            format!("{statement}: {}", item.summary),
                            strength,
                            category,
                            workload_entity(),
                        );
                    }
                }
            }
            "event" if item.data["reason"] == "OOMKilling" => {
                push(
                    SignalKind::OomKilled,
                    item,
                    format!("Kernel OOM kills: {}", item.summary),
                    0.75,
                    Category::ResourceSaturation,
                    workload_entity(),
                );
            }
            "edge_status" if item.data["share_5xx"].as_f64().is_some_and(|s| s >= 0.05) => {
                push(
                    SignalKind::EdgeErrors,
                    item,
                    format!("5xx spike at the edge: {}", item.summary),
                    0.4,
                    Category::Unknown,
                    zone_entity(item),
                );
            }
            "edge_firewall" => {
                if item.data["l7ddos"].as_f64().is_some_and(|d| d > 0.0) {
                    push(
                        SignalKind::Ddos,
                        item,
                        format!("Layer-7 DDoS mitigation firing: {}", item.summary),
                        0.9,
                        Category::DdosOrAbuse,
                        zone_entity(item),
                    );
                } else if item.data["blocked"].as_f64().is_some_and(|b| b >= 1000.0) {
                    push(
                        SignalKind::WafSpike,
                        item,
                        format!("WAF blocking a surge: {}", item.summary),
                        0.6,
                        Category::DdosOrAbuse,
                        zone_entity(item),
                    );
                }
            }
            "edge_cache" if item.data["hit_ratio"].as_f64().is_some_and(|h| h < 0.3) => {
                push(
                    SignalKind::CacheHitDrop,
                    item,
                    format!("Low edge cache hit ratio: {}", item.summary),
                    0.3,
                    Category::TrafficSpike,
                    zone_entity(item),
                );
            }
            "logs" => {
                let texts = log_texts(item);
                let dependency = bundle.targets.dependencies.iter().find(|dep| {
                    texts
                        .iter()
                        .any(|t| t.to_lowercase().contains(&dep.to_lowercase()))
                });
                let fact = texts.iter().find_map(|t| log_fact(t));
                if let Some((kind, statement, strength, category, on)) = fact {
                    let entity = match on {
                        FactEntity::Resolver => "deployment/kube-system/coredns".to_string(),
                        FactEntity::Service => workload_entity(),
                        // The database the message names, else the service's only one.
                        FactEntity::Database => {
                            let named = bundle
                                .targets
                                .rds_instances
                                .iter()
                                .chain(&bundle.targets.dependencies)
                                .find(|d| texts.iter().any(|t| t.contains(d.as_str())));
                            match (named, bundle.targets.rds_instances.as_slice()) {
                                (Some(name), _) | (None, [name]) => name.clone(),
                                _ => workload_entity(),
                            }
                        }
                    };
                    push(
                        kind,
                        item,
                        format!("{statement}: {}", item.summary),
                        strength,
                        category,
                        entity,
                    );
                } else if texts.iter().any(|t| certificate_failure(t)) {
                    let entity = dependency.cloned().unwrap_or_else(workload_entity);
                    push(
                        SignalKind::CertificateFailure,
                        item,
                        format!("TLS certificate failures in the errors: {}", item.summary),
                        0.85,
                        Category::CertificateOrAuth,
                        entity,
                    );
                } else if let Some(dep) = dependency {
                    // A dependency named by a small share of the errors (one group among
                    // many, such as a circuit breaker's target) is weaker evidence than one
                    // the errors are mostly about.
                    let strength = match named_share(item, dep) {
                        Some(share) if share < MINORITY_SHARE => 0.55,
                        _ => 0.8,
                    };
                    push(
                        SignalKind::DependencyInErrors,
                        item,
                        format!("Errors name the dependency {dep}: {}", item.summary),
                        strength,
                        Category::DependencyFailure,
                        dep.clone(),
                    );
                } else if item.data["after_onset"].as_u64().is_some_and(|n| n >= 10) {
                    push(
                        SignalKind::ErrorBurst,
                        item,
                        format!("Error-log burst: {}", item.summary),
                        0.4,
                        Category::Unknown,
                        workload_entity(),
                    );
                }
            }
            // A synthetic test failing with a TLS certificate error.
            "synthetics"
                if item.anomaly >= 0.5
                    && certificate_failure(&format!(
                        "{} {}",
                        item.data["failure"]["code"].as_str().unwrap_or(""),
                        item.data["failure"]["message"].as_str().unwrap_or("")
                    )) =>
            {
                let entity = certificate_entity(item);
                push(
                    SignalKind::CertificateFailure,
                    item,
                    format!(
                        "The synthetic test fails on the certificate: {}",
                        item.summary
                    ),
                    0.8,
                    Category::CertificateOrAuth,
                    entity,
                );
            }
            // An ElastiCache failover, node replacement or reboot in the window.
            "cache_event" if item.anomaly >= 0.8 => {
                let group = item.data["group"].as_str().unwrap_or("cache");
                push(
                    SignalKind::NodeUnhealthy,
                    item,
                    format!("Cache node event: {}", item.summary),
                    0.6,
                    Category::InfrastructureFailure,
                    format!("elasticache/{group}"),
                );
            }
            // An open AWS Health issue in the region: a provider-side impairment.
            "health" if item.anomaly >= 0.8 => {
                let service = item.data["service"]
                    .as_str()
                    .unwrap_or("aws")
                    .to_lowercase();
                let region = item.data["region"].as_str().unwrap_or("region");
                push(
                    SignalKind::ProviderIssue,
                    item,
                    format!("AWS reports an open issue: {}", item.summary),
                    0.6,
                    Category::InfrastructureFailure,
                    format!("external/aws-{service}-{region}"),
                );
            }
            // A cert-manager Certificate expired or not Ready.
            "certificate" if item.anomaly >= 0.9 => {
                let entity = certificate_entity(item);
                push(
                    SignalKind::CertificateFailure,
                    item,
                    format!("Certificate failing: {}", item.summary),
                    0.8,
                    Category::CertificateOrAuth,
                    entity,
                );
            }
            "alert" => {
                let text = item.data["text"].as_str().unwrap_or_default();
                if certificate_failure(text) {
                    let entity = certificate_entity(item);
                    push(
                        SignalKind::CertificateFailure,
                        item,
                        format!(
                            "The alert says a certificate expired or fails: {}",
                            item.summary
                        ),
                        0.8,
                        Category::CertificateOrAuth,
                        entity,
                    );
                } else if let Some((kind, statement, strength, category, _)) = log_fact(text) {
                    push(
                        kind,
                        item,
                        format!("The alert says so: {statement}"),
                        strength - 0.1,
                        category,
                        workload_entity(),
                    );
                }
            }
            "job" if item.anomaly >= 0.85 => {
                let cron = item.data["cronjob"].as_str().unwrap_or("job");
                let ns = bundle
                    .targets
                    .kube_namespace
                    .as_deref()
                    .unwrap_or("default");
                push(
                    SignalKind::OverdueJob,
                    item,
                    format!(
                        "Scheduled job running far longer than before: {}",
                        item.summary
                    ),
                    0.75,
                    Category::ScheduledJob,
                    format!("cronjob/{ns}/{cron}"),
                );
            }
            "node" => {
                let node = item.id.trim_start_matches("k8s.node.").to_string();
                push(
                    SignalKind::NodeUnhealthy,
                    item,
                    format!("Node unhealthy: {}", item.summary),
                    0.7,
                    Category::InfrastructureFailure,
                    format!("node/{node}"),
                );
            }
            // Items that name the entity they are about: an exhausted quota, failures
            // concentrated on one node or zone.
            "quota" | "placement" if item.kind == "placement" || item.anomaly >= 0.8 => {
                let (kind, what, category) = if item.kind == "quota" {
                    (
                        SignalKind::Saturation,
                        "A namespace quota is exhausted",
                        Category::ResourceSaturation,
                    )
                } else {
                    (
                        SignalKind::FailuresConcentrated,
                        "Failures concentrated in one place",
                        Category::InfrastructureFailure,
                    )
                };
                if let Some(entity) = item.data["entity"].as_str() {
                    push(
                        kind,
                        item,
                        format!("{what}: {}", item.summary),
                        0.6,
                        category,
                        entity.to_string(),
                    );
                }
            }
            "hpa" if item.anomaly >= 0.8 => {
                push(
                    SignalKind::HpaAtMax,
                    item,
                    format!("Autoscaler at its maximum: {}", item.summary),
                    0.5,
                    Category::TrafficSpike,
                    workload_entity(),
                );
            }
            _ => {}
        }
    }
    for past in knowledge
        .iter()
        .filter(|k| is_past_incident(k) && concerns_targets(k, &bundle.targets))
    {
        let category = past.meta["category"]
            .as_str()
            .and_then(Category::named)
            .unwrap_or(Category::Unknown);
        let (statement, weight) = if past.corpus == memory::CORPUS {
            let now = DateTime::from_timestamp_millis(bundle.collected_at).unwrap_or_default();
            let seen = memory::recurrences(past, knowledge, now, memory::RECURRENCE_DAYS);
            let mut statement = memory::recall_statement(past);
            if seen >= 2 {
                statement.push_str(&format!(
                    " — the {} time in {} days",
                    memory::ordinal(seen),
                    memory::RECURRENCE_DAYS
                ));
            }
            (statement, memory::Confirmation::of(past).weight())
        } else {
            (
                format!(
                    "Similar past incident {} (score {:.2}): {}",
                    past.id, past.score, past.title
                ),
                0.8,
            )
        };
        signals.push(Signal {
            id: String::new(),
            kind: SignalKind::PastIncident,
            statement,
            evidence_ids: Vec::new(),
            knowledge_ids: vec![past.id.clone()],
            strength: (past.score * weight).min(0.8),
            category,
            entity: past.meta["entity"].as_str().unwrap_or("").to_string(),
        });
    }
    corroborate_changes(&mut signals);
    signals.sort_by(|a, b| b.strength.total_cmp(&a.strength));
    for (index, signal) in signals.iter_mut().enumerate() {
        signal.id = format!("signal.{}", index + 1);
    }
    signals
}

/// A limit or rule changed shortly before the same thing started refusing work: the change
/// explains the saturation or the blocking, so it outranks it and cites it.
fn corroborate_changes(signals: &mut [Signal]) {
    let symptoms: Vec<(String, f64, Vec<String>)> = signals
        .iter()
        .filter(|s| matches!(s.kind, SignalKind::Saturation | SignalKind::WafSpike))
        .map(|s| (s.entity.clone(), s.strength, s.evidence_ids.clone()))
        .collect();
    for signal in signals
        .iter_mut()
        .filter(|s| s.kind == SignalKind::ConfigChange)
    {
        for (entity, strength, ids) in &symptoms {
            if *entity == signal.entity {
                signal.strength = signal.strength.max((strength + 0.1).min(0.85));
                for id in ids {
                    if !signal.evidence_ids.contains(id) {
                        signal.evidence_ids.push(id.clone());
                    }
                }
            }
        }
    }
}

/// Whether a post-mortem is about something this incident involves: one of its `services`
/// names the service, a workload, a database or a dependency. A post-mortem that lists no
/// services is not filtered.
fn concerns_targets(k: &KnowledgeMatch, targets: &crate::domain::Targets) -> bool {
    let Some(services) = k.meta["services"].as_array() else {
        return true;
    };
    let names: Vec<&str> = targets
        .service
        .iter()
        .chain(&targets.datadog_service)
        .chain(&targets.kube_workloads)
        .chain(&targets.rds_instances)
        .chain(&targets.dependencies)
        .map(String::as_str)
        .collect();
    services
        .iter()
        .filter_map(Value::as_str)
        .any(|s| names.contains(&s))
}

/// What a decisive log fact is about.
enum FactEntity {
    /// The cluster's DNS resolver.
    Resolver,
    /// The service's database.
    Database,
    /// The alerting service, whose configuration names what it looks up.
    Service,
}

/// Facts an error message states outright: name lookups timing out at the resolver (the
/// resolver, not the names looked up), a name the resolver says does not exist, a disk out of
/// space, connection slots used up.
fn log_fact(text: &str) -> Option<(SignalKind, &'static str, f64, Category, FactEntity)> {
    let lower = text.to_lowercase();
    // The resolver did not answer (Go's i/o timeout or server misbehaving, glibc's and
    // Node's temporary failure).
    let resolver_down = (lower.contains("lookup ")
        && (lower.contains("i/o timeout") || lower.contains("server misbehaving")))
        || lower.contains("temporary failure in name resolution")
        || lower.contains("getaddrinfo eai_again");
    // The resolver answered that the name does not exist (NXDOMAIN, in the words of Go,
    // Node, the JVM, glibc, macOS, curl and Windows): a wrong or removed hostname, or a
    // Service renamed or deleted — configuration, not the resolver.
    let name_missing = (lower.contains("lookup ") && lower.contains("no such host"))
        || lower.contains("getaddrinfo enotfound")
        || lower.contains("unknownhostexception")
        || lower.contains("name or service not known")
        || lower.contains("nodename nor servname provided")
        || lower.contains("could not resolve host")
        || lower.contains("no such host is known");
    if resolver_down {
        Some((
            SignalKind::ResolverFailure,
            "Name lookups fail at the resolver",
            0.8,
            Category::Network,
            FactEntity::Resolver,
        ))
    } else if name_missing {
        Some((
            SignalKind::NameNotFound,
            "A name the service looks up does not exist (a wrong or removed hostname, or a Service renamed or deleted)",
            0.7,
            Category::ConfigChange,
            FactEntity::Service,
        ))
    } else if lower.contains("no space left on device") || lower.contains("disk full") {
        Some((
            SignalKind::Saturation,
            "Writes fail for lack of disk space",
            0.75,
            Category::ResourceSaturation,
            FactEntity::Database,
        ))
    } else if lower.contains("remaining connection slots")
        || lower.contains("too many connections")
        || lower.contains("too many clients")
    {
        Some((
            SignalKind::Saturation,
            "The database refuses new connections",
            0.7,
            Category::ResourceSaturation,
            FactEntity::Database,
        ))
    } else {
        None
    }
}

/// The alert's own text as evidence, when it states a decisive fact (a certificate expired, a
/// disk full, name lookups failing, connection slots used up), so the fact can be cited.
pub fn alert_evidence(alert: &crate::domain::Alert) -> Option<EvidenceItem> {
    let text: String = format!(
        "{}\n{}",
        alert.title,
        alert.message.as_deref().unwrap_or_default()
    )
    .chars()
    .take(2000)
    .collect();
    if !certificate_failure(&text) && log_fact(&text).is_none() {
        return None;
    }
    let line = text
        .lines()
        .find(|l| certificate_failure(l) || log_fact(l).is_some())
        .unwrap_or(&alert.title);
    Some(EvidenceItem {
        id: ALERT_EVIDENCE_ID.into(),
        source: "alert".into(),
        kind: "alert".into(),
        at: Some(alert.fired_at),
        summary: line.trim().chars().take(240).collect(),
        anomaly: 0.6,
        data: serde_json::json!({ "text": text, "host": host_in(line) }),
    })
}

/// The id of the alert's own text as evidence.
pub const ALERT_EVIDENCE_ID: &str = "alert.text";

/// The first host name in a line (`portal.example.com`), not a date or a number.
fn host_in(line: &str) -> Option<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .map(|t| t.trim_matches('.'))
        .find(|t| {
            let labels: Vec<&str> = t.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| !l.is_empty())
                && labels.last().is_some_and(|tld| {
                    tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
                })
        })
        .map(str::to_lowercase)
}

/// Whether a log line says a TLS certificate is expired or cannot be verified.
fn certificate_failure(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("certificate has expired")
        || lower.contains("certificate expired")
        || lower.contains("x509:")
        || lower.contains("certificate verify failed")
        || lower.contains("pkix path validation failed")
        || (lower.contains("certificate") && lower.contains(" expired"))
}

/// The `service:` tag of a change event.
pub fn tagged_service(item: &EvidenceItem) -> Option<&str> {
    item.data["tags"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix("service:"))
}

/// A post-mortem's or remembered incident's summary chunk (not one of its sections) close
/// enough to count.
pub fn is_past_incident(k: &KnowledgeMatch) -> bool {
    matches!(k.corpus.as_str(), "postmortems" | memory::CORPUS)
        && !k.id.contains('#')
        && k.score >= PAST_INCIDENT_THRESHOLD
}

/// A metric item's series maximum and last reading (0 when absent).
fn max_and_last(item: &EvidenceItem) -> (f64, f64) {
    let series = &item.data["series"];
    (
        series["max"].as_f64().unwrap_or(0.0),
        series["last"].as_f64().unwrap_or(0.0),
    )
}

/// `k8s.rollout.production/game-api.rev42` → `deployment/production/game-api` (or
/// `statefulset/…`, `daemonset/…` by the item's workload kind).
fn rollout_entity(item: &EvidenceItem) -> Option<String> {
    let rest = item.id.strip_prefix("k8s.rollout.")?;
    let (path, _) = rest.rsplit_once(".rev")?;
    let kind = item.data["workload_kind"]
        .as_str()
        .unwrap_or("Deployment")
        .to_lowercase();
    Some(format!("{kind}/{path}"))
}

/// `aws.rds.prod-postgres-primary.cpu` → `rds/prod-postgres-primary`.
fn rds_entity(id: &str) -> String {
    let rest = id.strip_prefix("aws.rds.").unwrap_or(id);
    let instance = rest.rsplit_once('.').map_or(rest, |(instance, _)| instance);
    let instance = instance.split(".event").next().unwrap_or(instance);
    format!("rds/{instance}")
}

fn zone_entity(item: &EvidenceItem) -> String {
    let zone = item
        .id
        .strip_prefix("cloudflare.")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("zone");
    format!("zone/{zone}")
}

/// Below this share of a log item's errors, a named dependency is a minority voice.
const MINORITY_SHARE: f64 = 0.25;

/// The share of a grouped log item's errors whose group names `name`; `None` when the item
/// has no counted groups.
fn named_share(item: &EvidenceItem, name: &str) -> Option<f64> {
    let groups = item.data["groups"].as_array()?;
    let count = |g: &Value| g["count"].as_f64().unwrap_or(0.0);
    let total: f64 = groups.iter().map(count).sum();
    let name = name.to_lowercase();
    let named: f64 = groups
        .iter()
        .filter(|g| {
            g["example"]
                .as_str()
                .is_some_and(|e| e.to_lowercase().contains(&name))
        })
        .map(count)
        .sum();
    (total > 0.0).then(|| named / total)
}

fn log_texts(item: &EvidenceItem) -> Vec<String> {
    let mut texts = vec![item.summary.clone()];
    if let Some(groups) = item.data["groups"].as_array() {
        texts.extend(
            groups
                .iter()
                .filter_map(|g| g["example"].as_str().map(str::to_string)),
        );
    }
    if let Some(tail) = item.data["tail"].as_str() {
        texts.push(tail.to_string());
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_named_by_one_small_group_is_a_minority_voice() {
        let item = EvidenceItem {
            id: "datadog.logs.api.errors".into(),
            source: "datadog".into(),
            kind: "logs".into(),
            at: None,
            summary: String::new(),
            anomaly: 0.9,
            data: serde_json::json!({"groups": [
                {"count": 622, "example": "pool timed out (orders-db)"},
                {"count": 88, "example": "circuit breaker Party-Service opened"},
            ]}),
        };
        let share = named_share(&item, "party-service").unwrap();
        assert!((share - 88.0 / 710.0).abs() < 1e-9, "{share}");
        assert!(share < MINORITY_SHARE);
        assert_eq!(named_share(&item, "orders-db"), Some(622.0 / 710.0));
    }

    #[test]
    fn entities_come_from_evidence_ids() {
        let mut rollout = EvidenceItem {
            id: "k8s.rollout.production/game-api.rev42".into(),
            source: "kubernetes".into(),
            kind: "rollout".into(),
            at: None,
            summary: String::new(),
            anomaly: 0.9,
            data: serde_json::json!({}),
        };
        assert_eq!(
            rollout_entity(&rollout).as_deref(),
            Some("deployment/production/game-api")
        );
        rollout.data = serde_json::json!({"workload_kind": "StatefulSet"});
        assert_eq!(
            rollout_entity(&rollout).as_deref(),
            Some("statefulset/production/game-api")
        );
        assert_eq!(
            rds_entity("aws.rds.prod-postgres-primary.connections"),
            "rds/prod-postgres-primary"
        );
        assert_eq!(
            rds_entity("aws.rds.prod-postgres-primary.event.1795227000"),
            "rds/prod-postgres-primary"
        );
    }

    #[test]
    fn decisive_facts_in_messages() {
        let dns = "dial tcp: lookup cache.ns.svc.cluster.local on 10.0.0.10:53: read udp 10.1.2.3:5353->10.0.0.10:53: i/o timeout";
        assert_eq!(log_fact(dns).map(|f| f.3), Some(Category::Network));
        // The resolver not answering, in other runtimes' words: still the resolver.
        for down in [
            "Error: getaddrinfo EAI_AGAIN cache.ns.svc.cluster.local",
            "psycopg2.OperationalError: could not translate host name \"db\" to address: Temporary failure in name resolution",
        ] {
            assert_eq!(
                log_fact(down).map(|f| f.0),
                Some(SignalKind::ResolverFailure),
                "{down}"
            );
        }
        // The resolver answering that the name does not exist: configuration, not the resolver.
        for missing in [
            "dial tcp: lookup orders-db.prod.svc.cluster.local on 10.0.0.10:53: no such host",
            "Error: getaddrinfo ENOTFOUND postgres.production.svc.cluster.local",
            "java.net.UnknownHostException: ledger.internal: Name or service not known",
            "socket.gaierror: [Errno -2] Name or service not known",
            "curl: (6) Could not resolve host: api.partner.example",
        ] {
            assert_eq!(
                log_fact(missing).map(|f| (f.0, f.3)),
                Some((SignalKind::NameNotFound, Category::ConfigChange)),
                "{missing}"
            );
        }
        assert!(log_fact("lookup took 3 ms; no errors").is_none());
        // An RDS event that states a replica's lag, when the metric is not published.
        let event = |message: &str| {
            rds_event(&EvidenceItem {
                id: "aws.rds.db-replica-1.event.1".into(),
                source: "aws".into(),
                kind: "rds_event".into(),
                at: None,
                summary: message.into(),
                anomaly: 0.4,
                data: serde_json::json!({"message": message}),
            })
            .map(|f| (f.0, f.3))
        };
        assert_eq!(
            event("Read replica db-replica-1 replication lag has exceeded 900 seconds."),
            Some((SignalKind::Saturation, Category::ResourceSaturation))
        );
        assert_eq!(event("Replication for the Read Replica resumed."), None);
        let disk = "could not extend file \"base/1/2\": No space left on device";
        assert_eq!(
            log_fact(disk).map(|f| f.3),
            Some(Category::ResourceSaturation)
        );
        let slots = "FATAL: remaining connection slots are reserved for superuser connections";
        assert_eq!(
            log_fact(slots).map(|f| f.3),
            Some(Category::ResourceSaturation)
        );
        assert!(log_fact("request failed: upstream returned 502").is_none());
        assert_eq!(
            host_in("SSL certificate for shop.example.net expired on 2026-11-24 06:52 UTC")
                .as_deref(),
            Some("shop.example.net")
        );
        assert_eq!(host_in("expired on 2026-11-24 at 06.52"), None);
    }
}
