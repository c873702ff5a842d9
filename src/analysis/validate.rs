//! Validation and calibration of an analyst's answer: ids that do not exist are dropped and
//! recorded; confidence is capped where the citations cannot carry it; claims that contradict
//! the deterministic signals are flagged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::schema::Triage;
use crate::diagnosis::Hypothesis;
use crate::domain::entity;
use crate::domain::{Category, Confidence};
use crate::domain::{EvidenceBundle, KnowledgeMatch};
use crate::signals::{Signal, SignalKind};

/// What validation changed, shown in the brief.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Cited ids that exist nowhere in the evidence or knowledge.
    pub dropped_ids: Vec<String>,
    /// Why the stated confidence was lowered, if it was.
    pub capped: Option<String>,
    pub contradictions: Vec<String>,
}

/// Cleans `triage` in place against what was really collected and retrieved.
pub fn validate(
    triage: &mut Triage,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
    signals: &[Signal],
) -> ValidationReport {
    validate_with(triage, bundle, knowledge, signals, &[])
}

/// The check against the root cause's own hypothesis that the answer leaves unanswered: it
/// cites no evidence beyond what the hypothesis and that check already weighed.
fn unanswered_check<'a>(triage: &Triage, hypotheses: &'a [Hypothesis]) -> Option<&'a str> {
    let rc = &triage.root_cause;
    // The model may name the entity bare (`orders-db`) where the hypothesis has its kind.
    let same = |h: &&Hypothesis| {
        h.category == rc.category
            && (entity::same(&h.entity, &rc.entity)
                || entity::name(&h.entity).eq_ignore_ascii_case(rc.entity.trim()))
    };
    let h = hypotheses.iter().find(same)?;
    let against = h.against().next()?;
    let weighed: BTreeSet<&str> = h
        .evidence_ids
        .iter()
        .chain(h.checks.iter().flat_map(|c| &c.evidence_ids))
        .map(String::as_str)
        .collect();
    let answered = rc
        .evidence_ids
        .iter()
        .any(|id| !weighed.contains(id.as_str()));
    (!answered).then_some(against.reason.as_str())
}

/// [`validate`], also capping a root cause that one of the diagnosis's checks contradicts.
pub fn validate_with(
    triage: &mut Triage,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
    signals: &[Signal],
    hypotheses: &[Hypothesis],
) -> ValidationReport {
    let evidence: BTreeSet<&str> = bundle.items.iter().map(|i| i.id.as_str()).collect();
    let known_knowledge: BTreeSet<&str> = knowledge.iter().map(|k| k.id.as_str()).collect();
    let mut dropped = BTreeSet::new();
    let mut keep = |ids: &mut Vec<String>, known: &BTreeSet<&str>| {
        ids.retain(|id| {
            let ok = known.contains(id.as_str());
            // An empty id is an absent one, not an invented one.
            if !ok && !id.trim().is_empty() {
                dropped.insert(id.clone());
            }
            ok
        });
    };
    keep(&mut triage.root_cause.evidence_ids, &evidence);
    keep(&mut triage.root_cause.knowledge_ids, &known_knowledge);
    for alternative in &mut triage.alternatives {
        keep(&mut alternative.evidence_ids, &evidence);
        keep(&mut alternative.knowledge_ids, &known_knowledge);
    }
    for action in &mut triage.actions {
        keep(&mut action.evidence_ids, &evidence);
        keep(&mut action.knowledge_ids, &known_knowledge);
    }
    for check in &mut triage.confidence_breakdown {
        keep(&mut check.evidence_ids, &evidence);
    }
    if let Some(past) = &triage.past_incident
        && !known_knowledge.contains(past.as_str())
    {
        if !past.trim().is_empty() {
            dropped.insert(past.clone());
        }
        triage.past_incident = None;
    }
    triage.alternatives.truncate(3);
    triage.actions.sort_by_key(|a| a.kind);
    triage.root_cause.score = triage.root_cause.score.clamp(0.0, 1.0);

    let mut report = ValidationReport {
        dropped_ids: dropped.into_iter().collect(),
        ..ValidationReport::default()
    };

    // Contradictions with what the signals say happened.
    let has = |kind: SignalKind| signals.iter().any(|s| s.kind == kind);
    match triage.root_cause.category {
        Category::DeployRegression if !has(SignalKind::RolloutBeforeOnset) => report
            .contradictions
            .push("blames a deploy, but no rollout or deploy event was found in the window".into()),
        Category::DdosOrAbuse if !has(SignalKind::Ddos) && !has(SignalKind::WafSpike) => report
            .contradictions
            .push("blames an attack, but the edge shows no DDoS mitigation or WAF surge".into()),
        Category::ConfigChange
            if !has(SignalKind::ConfigChange) && !has(SignalKind::NameNotFound) =>
        {
            report
                .contradictions
                .push("blames a config change, but none was found in the window".into());
        }
        // "Nothing to fix" must not be a way around a fault the evidence shows.
        Category::NoFault => {
            // A change every hypothesis it proposed was ruled out (a parameter waiting for a
            // reboot, a calendar entry) shows no fault.
            let ruled_out_change = |s: &Signal| {
                s.evidence_ids
                    .first()
                    .and_then(|id| bundle.item(id))
                    .is_some_and(crate::diagnosis::is_change)
                    && crate::diagnosis::all_ruled_out(hypotheses, |h| h.signal_ids.contains(&s.id))
            };
            if let Some(fault) = signals.iter().find(|s| {
                s.kind != SignalKind::PastIncident
                    && s.category != Category::Unknown
                    && s.strength >= 0.6
                    && !ruled_out_change(s)
            }) {
                report.contradictions.push(format!(
                    "says there is no fault, but a signal shows one: {}",
                    fault.statement
                ));
            }
        }
        _ => {}
    }

    // Calibration.
    let cited = &triage.root_cause.evidence_ids;
    let sources: BTreeSet<&str> = bundle
        .items
        .iter()
        .filter(|i| cited.contains(&i.id))
        .map(|i| i.source.as_str())
        .collect();
    let signal_backed = signals.iter().any(|s| {
        s.category == triage.root_cause.category
            && s.evidence_ids.iter().any(|id| cited.contains(id))
    });
    let has_knowledge = !triage.root_cause.knowledge_ids.is_empty();
    let no_citation = cited.is_empty() && !has_knowledge;
    let cap = if no_citation {
        Some((
            Confidence::Low,
            "the root cause cites no evidence or knowledge that exists".to_string(),
        ))
    } else if !report.contradictions.is_empty() {
        Some((
            Confidence::Low,
            format!(
                "the root cause contradicts the signals: {}",
                report.contradictions.join("; ")
            ),
        ))
    } else if let Some(reason) = unanswered_check(triage, hypotheses) {
        Some((
            Confidence::Low,
            format!("a check contradicts the root cause: {reason}"),
        ))
    } else if triage.root_cause.confidence == Confidence::High
        && sources.len() < 2
        && !(signal_backed && has_knowledge)
    {
        Some((
            Confidence::Medium,
            "HIGH needs two independent sources, or a deterministic signal plus a knowledge match"
                .to_string(),
        ))
    } else {
        None
    };
    if let Some((ceiling, reason)) = cap
        && triage.root_cause.confidence > ceiling
    {
        triage.root_cause.confidence = ceiling;
        report.capped = Some(reason);
    }
    // No level claims more than its calibrated probability (fitted on the labelled suite).
    let max_score = crate::diagnosis::probability(triage.root_cause.confidence);
    triage.root_cause.score = triage.root_cause.score.min(max_score);
    report
}
