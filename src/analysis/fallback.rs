//! The rules analyst: a complete brief from the deterministic signals and the retrieved
//! knowledge, used when no model is configured or the model fails. Its briefs say they were
//! produced by rules.

use super::schema::{
    Action, ActionKind, Alternative, Check, DataGap, Risk, RootCause, StatusPageDraft,
    StatusPageStatus, Triage,
};
use crate::diagnosis::{Hypothesis, UNKNOWN_BELOW};
use crate::domain::{Alert, EvidenceBundle, KnowledgeMatch, SourceStatus};
use crate::domain::{Category, Confidence, Severity};
use crate::signals::{Signal, SignalKind};

/// Builds a brief from the signals and the tested hypotheses alone: the best hypothesis, when
/// its checks leave it standing, is the root cause at the confidence the checks give it.
pub fn analyse(
    alert: &Alert,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
    signals: &[Signal],
    hypotheses: &[Hypothesis],
) -> Triage {
    // The best hypothesis no check speaks against; a ruled-out cause is not stated as one.
    let top = hypotheses.iter().find(|h| {
        h.category != Category::Unknown && h.score >= UNKNOWN_BELOW && h.against().next().is_none()
    });
    // The strongest signal behind the chosen hypothesis decides the actions.
    let lead = top.and_then(|h| {
        signals
            .iter()
            .filter(|s| h.signal_ids.contains(&s.id))
            .max_by(|a, b| a.strength.total_cmp(&b.strength))
    });
    let runbooks: Vec<&KnowledgeMatch> = knowledge
        .iter()
        .filter(|k| k.corpus == "runbooks")
        .take(2)
        .collect();
    let past = signals
        .iter()
        .find(|s| s.kind == SignalKind::PastIncident)
        .and_then(|s| knowledge.iter().find(|k| s.knowledge_ids.contains(&k.id)));

    let service = bundle
        .targets
        .service
        .clone()
        .or_else(|| alert.service.clone())
        .unwrap_or_else(|| "the affected service".into());
    let ruled_out: Vec<String> = hypotheses
        .iter()
        .take(3)
        .map(|h| {
            format!(
                "{} {} ({})",
                h.category.as_str(),
                h.entity,
                h.against()
                    .map(|c| c.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect();
    let root_cause = match top {
        Some(top) => RootCause {
            statement: top.statement.clone(),
            category: top.category,
            entity: top.entity.clone(),
            confidence: top.confidence,
            // Its level's calibrated probability: raw check scores rank hypotheses but are
            // not probabilities (runners-up reach the winners' raw scores).
            score: crate::diagnosis::probability(top.confidence),
            evidence_ids: top.evidence_ids.clone(),
            knowledge_ids: top.knowledge_ids.clone(),
        },
        None if let Some(healthy) = healthy_now(bundle, hypotheses) => RootCause {
            statement: format!(
                "Nothing is abnormal now: {} sources answered and none of their {} readings is \
                 outside its baseline{}; \"{}\" looks like noise, a flap or a fault that already \
                 recovered.",
                healthy.sources,
                bundle.items.len() - healthy.ruled_out,
                match healthy.ruled_out {
                    0 => String::new(),
                    1 => " (the one change in the window was ruled out)".to_string(),
                    n => format!(" (the {n} changes in the window were ruled out)"),
                },
                alert.title
            ),
            category: Category::NoFault,
            entity: format!("service/{service}"),
            confidence: Confidence::Low,
            score: 0.4,
            evidence_ids: healthy.evidence_ids,
            knowledge_ids: Vec::new(),
        },
        None if let Some(ids) = crate::diagnosis::recovered(bundle) => RootCause {
            statement: format!(
                "Already recovered: every reading that departed from its level is back at it and \
                 every workload is ready ({}), and no candidate cause holds; \"{}\" needs no fix \
                 now.",
                ids.join(", "),
                alert.title
            ),
            category: Category::NoFault,
            entity: format!("service/{service}"),
            confidence: Confidence::Low,
            score: 0.4,
            evidence_ids: ids,
            knowledge_ids: Vec::new(),
        },
        None => RootCause {
            statement: if ruled_out.is_empty() {
                format!(
                    "No deterministic signal explains \"{}\"; the evidence does not point at a cause.",
                    alert.title
                )
            } else {
                format!(
                    "No candidate cause of \"{}\" survives its checks: {}.",
                    alert.title,
                    ruled_out.join("; ")
                )
            },
            category: Category::Unknown,
            entity: format!("service/{service}"),
            confidence: Confidence::Low,
            score: 0.1,
            evidence_ids: Vec::new(),
            knowledge_ids: Vec::new(),
        },
    };

    let mut actions = lead.map(actions_for).unwrap_or_default();
    if root_cause.category == Category::NoFault {
        actions.push(Action {
            action: format!(
                "Watch {service} for a recurrence; if the alert fires again with nothing wrong, \
                 tune its threshold or add a recovery window"
            ),
            kind: ActionKind::Investigate,
            command: None,
            risk: Risk::Low,
            expected_outcome: "no change needed now; fewer false pages".into(),
            evidence_ids: root_cause.evidence_ids.clone(),
            knowledge_ids: Vec::new(),
        });
    }
    for runbook in &runbooks {
        actions.push(Action {
            action: format!("Follow the runbook: {}", runbook.title),
            kind: ActionKind::Investigate,
            command: None,
            risk: Risk::Low,
            expected_outcome: "the documented procedure for this alert".into(),
            evidence_ids: Vec::new(),
            knowledge_ids: vec![runbook.id.clone()],
        });
    }
    if let Some(past) = past
        && let Some(resolution) = past.meta["resolution"].as_str()
    {
        actions.push(Action {
            action: format!("Apply what resolved {}: {resolution}", past.id),
            kind: ActionKind::Investigate,
            command: None,
            risk: Risk::Medium,
            expected_outcome: "the fix that worked last time".into(),
            evidence_ids: Vec::new(),
            knowledge_ids: vec![past.id.clone()],
        });
    }
    if actions.is_empty() {
        actions.push(Action {
            action: format!("Check {service}'s dashboards and recent changes; gather the missing sources listed below"),
            kind: ActionKind::Investigate,
            command: None,
            risk: Risk::Low,
            expected_outcome: "a cause to act on".into(),
            evidence_ids: Vec::new(),
            knowledge_ids: Vec::new(),
        });
    }
    actions.sort_by_key(|a| a.kind);

    let alternatives = hypotheses
        .iter()
        .filter(|h| {
            h.category != Category::Unknown
                && top.is_none_or(|t| h.category != t.category || h.entity != t.entity)
        })
        .take(3)
        .map(|h| Alternative {
            statement: h.statement.clone(),
            category: h.category,
            entity: h.entity.clone(),
            why_less_likely: match top {
                Some(top) => h.why_not(top),
                None => h
                    .against()
                    .map(|c| c.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            evidence_ids: h.evidence_ids.clone(),
            knowledge_ids: h.knowledge_ids.clone(),
        })
        .collect();

    let confidence_breakdown = match top {
        Some(top) => top
            .checks
            .iter()
            .map(|c| Check {
                check: format!("{}: {}", c.kind.as_str(), c.reason),
                holds: c.supports,
                evidence_ids: c.evidence_ids.clone(),
            })
            .collect(),
        None => signals
            .iter()
            .take(6)
            .map(|s| Check {
                check: s.statement.clone(),
                holds: true,
                evidence_ids: s.evidence_ids.clone(),
            })
            .collect(),
    };

    let data_gaps = bundle
        .reports
        .iter()
        .filter(|r| r.status != SourceStatus::Ok)
        .map(|r| DataGap {
            source: r.source.clone(),
            reason: r.reason(),
            next_step: format!("check {} by hand, or fix its configuration", r.source),
        })
        .collect();

    let severity = severity_from(alert, &root_cause);
    let escalate = severity <= Severity::SEV2 && root_cause.confidence == Confidence::Low;
    Triage {
        severity,
        summary: format!("{} — {}", alert.title, root_cause.statement),
        affected_services: vec![service.clone()],
        status_page_draft: StatusPageDraft {
            title: "Degraded performance".into(),
            body: "We are investigating degraded performance affecting some requests. We will post an update as soon as we know more.".into(),
            status: if lead.is_some() { StatusPageStatus::Identified } else { StatusPageStatus::Investigating },
        },
        root_cause,
        alternatives,
        actions,
        confidence_breakdown,
        data_gaps,
        past_incident: past.map(|p| p.id.clone()),
        escalate,
    }
}

/// The evidence that the target is healthy now, when all of it says so: every source that
/// was asked answered, none of the readings is anomalous, and at least one positively shows
/// health (a workload all ready, a metric or monitor at its baseline). Thin or partial
/// evidence is never read as health.
struct Healthy {
    sources: usize,
    evidence_ids: Vec<String>,
    /// Abnormal readings set aside: changes every hypothesis about them ruled out.
    ruled_out: usize,
}

fn healthy_now(bundle: &EvidenceBundle, hypotheses: &[Hypothesis]) -> Option<Healthy> {
    let asked: Vec<_> = bundle
        .reports
        .iter()
        .filter(|r| r.status != SourceStatus::NotConfigured)
        .collect();
    let answered = asked.iter().all(|r| r.status == SourceStatus::Ok);
    // A change every hypothesis about it ruled out (a parameter still waiting for a reboot, a
    // calendar entry) is not a fault now; a symptom stays one whatever its hypotheses.
    let abnormal: Vec<&crate::domain::EvidenceItem> =
        bundle.items.iter().filter(|i| i.anomaly >= 0.5).collect();
    let ruled_out = abnormal
        .iter()
        .filter(|item| {
            crate::diagnosis::is_change(item)
                && crate::diagnosis::all_ruled_out(hypotheses, |h| {
                    h.evidence_ids.contains(&item.id)
                })
        })
        .count();
    let calm = ruled_out == abnormal.len();
    // Positive evidence of health: a workload all ready, a metric or monitor at its baseline.
    let healthy: Vec<String> = bundle
        .items
        .iter()
        .filter(|i| {
            i.anomaly <= 0.2 && matches!(i.kind.as_str(), "workload" | "metric" | "monitor")
        })
        .map(|i| i.id.clone())
        .take(3)
        .collect();
    if asked.is_empty() || !answered || !calm || healthy.is_empty() {
        return None;
    }
    Some(Healthy {
        sources: asked.len(),
        evidence_ids: healthy,
        ruled_out,
    })
}

fn severity_from(alert: &Alert, root_cause: &RootCause) -> Severity {
    if root_cause.category == Category::NoFault {
        return Severity::SEV4;
    }
    let priority = alert.priority.as_deref().unwrap_or("").to_lowercase();
    match priority.as_str() {
        "p1" | "critical" | "sev1" => Severity::SEV1,
        "p2" | "high" | "error" | "sev2" => Severity::SEV2,
        "p3" | "warning" | "sev3" => Severity::SEV3,
        "p4" | "p5" | "low" | "info" | "sev4" => Severity::SEV4,
        _ if root_cause.category == Category::DdosOrAbuse => Severity::SEV2,
        _ => Severity::SEV3,
    }
}

fn actions_for(lead: &Signal) -> Vec<Action> {
    let action =
        |action: String, kind: ActionKind, command: Option<String>, risk: Risk, outcome: &str| {
            Action {
                action,
                kind,
                command,
                risk,
                expected_outcome: outcome.into(),
                evidence_ids: lead.evidence_ids.clone(),
                knowledge_ids: Vec::new(),
            }
        };
    let deployment = lead
        .entity
        .strip_prefix("deployment/")
        .and_then(|rest| rest.split_once('/'));
    match (lead.kind, deployment) {
        (SignalKind::RolloutBeforeOnset, Some((ns, name))) => vec![action(
            format!("Roll back {name} to the previous revision"),
            ActionKind::Rollback,
            Some(format!("kubectl -n {ns} rollout undo deployment/{name}")),
            Risk::Low,
            "errors and latency return to the pre-deploy baseline within minutes",
        )],
        (SignalKind::RolloutBeforeOnset, None) => vec![action(
            format!("Roll back the deploy to {}", lead.entity),
            ActionKind::Rollback,
            None,
            Risk::Low,
            "the service returns to its pre-deploy behaviour",
        )],
        (SignalKind::ConfigChange, _) => vec![action(
            format!("Revert the configuration change on {}", lead.entity),
            ActionKind::ConfigChange,
            None,
            Risk::Medium,
            "behaviour returns to what it was before the change",
        )],
        (SignalKind::OomKilled, Some((ns, name))) => vec![
            action(
                format!("Raise the memory limit of {name} and find the oversized inputs"),
                ActionKind::ConfigChange,
                Some(format!("kubectl -n {ns} set resources deployment/{name} --limits=memory=<higher>")),
                Risk::Medium,
                "pods stop being OOMKilled",
            ),
            action(
                format!("Restart crash-looping pods of {name} once the limit is raised"),
                ActionKind::Restart,
                Some(format!("kubectl -n {ns} rollout restart deployment/{name}")),
                Risk::Low,
                "fresh pods start with the new limit",
            ),
        ],
        (SignalKind::Saturation, _) => {
            let instance = lead.entity.trim_start_matches("rds/");
            vec![action(
                format!("Find and stop what saturates {instance}: the top queries and connections by client"),
                ActionKind::Mitigate,
                Some("SELECT pid, usename, state, query_start, query FROM pg_stat_activity ORDER BY query_start LIMIT 20;".into()),
                Risk::Low,
                "the offending client or query is identified",
            )]
        }
        (SignalKind::DependencyInErrors, _) => vec![action(
            format!("Check and restore {}: the errors name it", lead.entity),
            ActionKind::Mitigate,
            None,
            Risk::Low,
            "callers recover once the dependency answers",
        )],
        (SignalKind::ResolverFailure, _) => vec![action(
            "Check the cluster DNS: the resolver pods, their restarts, memory and request latency".into(),
            ActionKind::Investigate,
            Some("kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide".into()),
            Risk::Low,
            "lookups answer again once the resolver is healthy or scaled",
        )],
        (SignalKind::NameNotFound, _) => vec![action(
            format!("Check the hostnames {} looks up: the Service or DNS record they name, and the configuration that names them", lead.entity),
            ActionKind::Investigate,
            None,
            Risk::Low,
            "the name resolves again once it is corrected or the Service restored",
        )],
        (SignalKind::Ddos | SignalKind::WafSpike, _) => vec![action(
            "Tighten edge protection: rate-limit or challenge the attacking sources".into(),
            ActionKind::Mitigate,
            None,
            Risk::Low,
            "attack traffic is absorbed at the edge",
        )],
        (SignalKind::OverdueJob, _) => vec![action(
            format!("Suspend or stop the overrunning {}", lead.entity),
            ActionKind::Mitigate,
            lead.entity.strip_prefix("cronjob/").and_then(|r| r.split_once('/')).map(|(ns, name)| {
                format!("kubectl -n {ns} patch cronjob {name} -p '{{\"spec\":{{\"suspend\":true}}}}'")
            }),
            Risk::Medium,
            "load from the job stops",
        )],
        (SignalKind::NodeUnhealthy, _) => vec![action(
            format!("Cordon {} so its pods move to healthy nodes", lead.entity),
            ActionKind::Mitigate,
            Some(format!("kubectl cordon {}", lead.entity.trim_start_matches("node/"))),
            Risk::Medium,
            "new pods land on healthy nodes",
        )],
        _ => vec![action(
            format!("Investigate {}", lead.entity),
            ActionKind::Investigate,
            None,
            Risk::Low,
            "a confirmed cause",
        )],
    }
}
