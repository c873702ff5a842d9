//! Diagnosis: every signal (and so every change in the window, every matched past incident and
//! every fact in the alert's own text) proposes a hypothesis — a category and an entity. Each
//! hypothesis is tested by named, deterministic checks, each citing evidence and each for or
//! against it: time order, content, locality, baseline, corroboration, knowledge, alert text.
//! Its score and confidence come from those checks, never from the order of the bundle.
//!
//! The weights are `[diagnosis]` settings ([`DiagnosisSettings`]); the defaults were chosen on
//! the visible scenario suite (`tests/scenarios`) only, never on the held-out set or the
//! external benchmark.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::DiagnosisSettings;
use crate::domain::entity::name as entity_name;
use crate::domain::memory;
use crate::domain::{Category, Confidence, EvidenceBundle, EvidenceItem, KnowledgeMatch};
use crate::signals::{Signal, SignalKind, tagged_service};

/// Which test a check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The cause precedes the symptom's own onset, read from the series.
    TimeOrder,
    /// What the change changed, and whether that can produce this symptom.
    Content,
    /// The entity is on the failing path.
    Locality,
    /// The reading differs from its usual level.
    Baseline,
    /// Independent sources agree.
    Corroboration,
    /// A past incident with the same mechanism.
    Knowledge,
    /// A fact stated in the alert itself.
    AlertText,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeOrder => "time order",
            Self::Content => "content",
            Self::Locality => "locality",
            Self::Baseline => "baseline",
            Self::Corroboration => "corroboration",
            Self::Knowledge => "knowledge",
            Self::AlertText => "alert text",
        }
    }
}

/// One named test of a hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisCheck {
    pub kind: CheckKind,
    /// For (true) or against (false) the hypothesis.
    pub supports: bool,
    pub reason: String,
    pub evidence_ids: Vec<String>,
    #[serde(default)]
    pub knowledge_ids: Vec<String>,
    /// What it adds to the score (negative when against).
    pub weight: f64,
}

impl HypothesisCheck {
    /// `✓` for, `✗` against.
    pub fn mark(&self) -> &'static str {
        if self.supports { "✓" } else { "✗" }
    }
}

/// A candidate cause and how it fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub id: String,
    pub category: Category,
    pub entity: String,
    pub statement: String,
    /// The signals that proposed it.
    pub signal_ids: Vec<String>,
    /// The strongest proposing signal's strength, before the checks.
    pub prior: f64,
    pub checks: Vec<HypothesisCheck>,
    pub score: f64,
    pub confidence: Confidence,
    pub evidence_ids: Vec<String>,
    pub knowledge_ids: Vec<String>,
    /// Distinct evidence sources behind it.
    pub sources: usize,
}

impl Hypothesis {
    pub fn against(&self) -> impl Iterator<Item = &HypothesisCheck> {
        self.checks.iter().filter(|c| !c.supports)
    }

    /// Why it lost to `top`: its checks against it, or the lower score.
    pub fn why_not(&self, top: &Hypothesis) -> String {
        let against: Vec<&str> = self.against().map(|c| c.reason.as_str()).collect();
        if against.is_empty() {
            format!(
                "less support ({:.2} against {:.2} for {} {})",
                self.score,
                top.score,
                top.category.as_str(),
                top.entity
            )
        } else {
            against.join("; ")
        }
    }
}

/// Below this the best hypothesis is not worth stating: the cause is unknown.
pub const UNKNOWN_BELOW: f64 = 0.3;
/// A change this long after the symptom's onset did not start it (sampling slack).
const AFTER_SLACK_MINS: i64 = 3;
/// Past incidents at least this similar count as knowledge for a hypothesis.
const KNOWLEDGE_SCORE: f64 = 0.5;

/// Environment variables that only change what a service logs or reports.
fn telemetry_only(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.contains("LOG")
        || n.starts_with("OTEL_")
        || n.starts_with("DD_")
        || n.starts_with("SENTRY_")
        || n.contains("TRACE")
        || n.contains("DEBUG")
        || n.contains("VERBOSE")
        || n.contains("METRICS")
}

/// When the symptom itself began: the earliest sustained departure from its own early level
/// among the metric series that are anomalous or that a fault signal reads. `None` without
/// such a series.
pub fn symptom_onset<'a>(
    bundle: &'a EvidenceBundle,
    signals: &[Signal],
) -> Option<(DateTime<Utc>, &'a EvidenceItem)> {
    let read_as_fault = |item: &EvidenceItem| {
        signals
            .iter()
            .any(|s| s.evidence_ids.first() == Some(&item.id) && s.kind == SignalKind::Saturation)
    };
    bundle
        .items
        .iter()
        .filter(|i| i.kind == "metric" && (i.anomaly >= 0.5 || read_as_fault(i)))
        .filter_map(|i| departure(&i.data["series"]["points"]).map(|t| (t, i)))
        .min_by_key(|(t, i)| (*t, i.id.clone()))
}

/// A series' departure from its early level: when it began, and whether the last reading is
/// back near that level.
struct Departure {
    at: DateTime<Utc>,
    back_at_level: bool,
}

/// The first of two consecutive points more than a third of the way from the early level to
/// the extreme.
fn departure(points: &Value) -> Option<DateTime<Utc>> {
    departure_of(points).map(|d| d.at)
}

fn departure_of(points: &Value) -> Option<Departure> {
    let points: Vec<(i64, f64)> = points
        .as_array()?
        .iter()
        .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
        .collect();
    if points.len() < 8 {
        return None;
    }
    let mut early: Vec<f64> = points[..points.len() / 8].iter().map(|p| p.1).collect();
    early.sort_by(f64::total_cmp);
    let level = early[early.len() / 2];
    let values = points.iter().map(|p| p.1);
    let high = values.clone().fold(f64::NEG_INFINITY, f64::max);
    let low = values.fold(f64::INFINITY, f64::min);
    // Each direction the series left its level in, far enough to count; the earlier of the
    // two is the symptom (storage that fell, then jumped far above once it was grown, fell).
    let candidates = [high - level, low - level].into_iter().filter_map(|delta| {
        // Within 30% of its level a reading is noise for almost any operational metric.
        if delta.abs() <= 0.3 * level.abs().max(1e-9) {
            return None;
        }
        let beyond = move |v: f64| (v - level) * delta.signum() > delta.abs() / 3.0;
        let index = points
            .windows(2)
            .position(|w| beyond(w[0].1) && beyond(w[1].1))?;
        Some((index, beyond))
    });
    let (index, beyond) = candidates.min_by_key(|(index, _)| *index)?;
    let last = points.last().map_or(level, |p| p.1);
    Some(Departure {
        at: Utc.timestamp_millis_opt(points[index].0).single()?,
        // By the criterion that made it a departure; the healthy side counts as back.
        back_at_level: !beyond(last),
    })
}

/// The metrics that departed from their level and are all back at it by the end of the
/// window, with no workload short of ready: a fault that already recovered. `None` when
/// something has not come back, or when nothing (no series, no workload) shows it.
pub fn recovered(bundle: &EvidenceBundle) -> Option<Vec<String>> {
    // The readings that were anomalous; a noisy series nobody flagged proves nothing.
    let departed: Vec<(&EvidenceItem, Departure)> = bundle
        .items
        .iter()
        .filter(|i| i.kind == "metric" && i.anomaly >= 0.5)
        .filter_map(|i| departure_of(&i.data["series"]["points"]).map(|d| (i, d)))
        .collect();
    let workloads: Vec<&EvidenceItem> = bundle
        .items
        .iter()
        .filter(|i| i.kind == "workload")
        .collect();
    let workloads_ready = workloads.iter().all(|i| i.anomaly <= 0.2);
    // Something to show the recovery: a series that came back, or workloads all ready.
    let shown = !departed.is_empty() || !workloads.is_empty();
    (shown && workloads_ready && departed.iter().all(|(_, d)| d.back_at_level)).then(|| {
        departed
            .iter()
            .map(|(i, _)| *i)
            .chain(workloads.iter().copied())
            .map(|i| i.id.clone())
            .take(3)
            .collect()
    })
}

/// One spelling per entity (`kind/…`, lowercase): a bare name becomes `rds/<name>` when it is
/// a database the evidence reads, `deployment/<ns>/<name>` when it is a target workload;
/// anything else keeps its spelling.
pub fn canonical_entity(entity: &str, bundle: &EvidenceBundle) -> String {
    let entity = entity.trim();
    if entity.contains('/') {
        return crate::domain::entity::canonical(entity);
    }
    let name = entity.to_lowercase();
    let t = &bundle.targets;
    let database = t
        .rds_instances
        .iter()
        .any(|r| r.eq_ignore_ascii_case(&name))
        || bundle
            .items
            .iter()
            .any(|i| i.id.starts_with(&format!("aws.rds.{name}.")));
    if database {
        format!("rds/{name}")
    } else if let (Some(ns), true) = (
        &t.kube_namespace,
        t.kube_workloads
            .iter()
            .any(|w| w.eq_ignore_ascii_case(&name)),
    ) {
        format!("deployment/{ns}/{name}")
    } else {
        name
    }
}

/// Names on the failing path: the alerting service, its workloads, databases, zone and
/// dependencies, lowercased.
fn on_path(bundle: &EvidenceBundle, alert_service: Option<&str>) -> BTreeSet<String> {
    let t = &bundle.targets;
    t.service
        .iter()
        .chain(&t.datadog_service)
        .chain(&t.kube_workloads)
        .chain(&t.rds_instances)
        .chain(&t.dependencies)
        .chain(&t.cloudflare_zone)
        .map(String::as_str)
        .chain(alert_service)
        .map(str::to_lowercase)
        .collect()
}

fn hhmm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// Builds, tests and ranks the hypotheses with the default weights, best first, ids
/// `hypothesis.1…`.
pub fn diagnose(
    alert_service: Option<&str>,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
    signals: &[Signal],
) -> Vec<Hypothesis> {
    diagnose_with(
        alert_service,
        bundle,
        knowledge,
        signals,
        &DiagnosisSettings::default(),
    )
}

/// [`diagnose`] with the configured check weights.
pub fn diagnose_with(
    alert_service: Option<&str>,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
    signals: &[Signal],
    weight: &DiagnosisSettings,
) -> Vec<Hypothesis> {
    let mut hypotheses: Vec<Hypothesis> = Vec::new();
    for signal in signals.iter().filter(|s| s.category != Category::Unknown) {
        let entity = canonical_entity(&signal.entity, bundle);
        match hypotheses
            .iter_mut()
            .find(|h| h.category == signal.category && same_entity(&h.entity, &entity))
        {
            Some(h) => {
                // A bare name and the typed entity it names are one culprit: keep the type.
                if !h.entity.contains('/') {
                    h.entity = entity;
                }
                h.signal_ids.push(signal.id.clone());
                extend(&mut h.evidence_ids, &signal.evidence_ids);
                extend(&mut h.knowledge_ids, &signal.knowledge_ids);
                h.prior = h.prior.max(signal.strength);
            }
            None => hypotheses.push(Hypothesis {
                id: String::new(),
                category: signal.category,
                entity,
                statement: signal.statement.clone(),
                signal_ids: vec![signal.id.clone()],
                prior: signal.strength,
                checks: Vec::new(),
                score: 0.0,
                confidence: Confidence::Low,
                evidence_ids: signal.evidence_ids.clone(),
                knowledge_ids: signal.knowledge_ids.clone(),
                sources: 0,
            }),
        }
    }
    let path = on_path(bundle, alert_service);
    let onset = symptom_onset(bundle, signals);
    let has_series = bundle.items.iter().any(|i| {
        i.kind == "metric"
            && i.data["series"]["points"]
                .as_array()
                .is_some_and(|p| p.len() >= 8)
    });
    let blamed_again = blamed_again(knowledge, signals, bundle);
    for h in &mut hypotheses {
        let proposing: Vec<&Signal> = signals
            .iter()
            .filter(|s| h.signal_ids.contains(&s.id))
            .collect();
        let mut checks = Vec::new();
        for item in proposing
            .iter()
            .flat_map(|s| s.evidence_ids.first())
            .filter_map(|id| bundle.item(id))
            .filter(|i| is_change(i))
        {
            time_order(&mut checks, item, onset, bundle, weight);
            content(&mut checks, item, weight);
            if onset.is_none() && has_series {
                checks.push(check(
                    CheckKind::Baseline,
                    weight.baseline_against,
                    format!("no metric moved from its level around {}", what(item)),
                    vec![item.id.clone()],
                ));
            }
        }
        locality(&mut checks, h, &proposing, bundle, &path, weight);
        baseline(&mut checks, h, &proposing, bundle, weight);
        corroboration(&mut checks, h, signals, bundle, weight);
        corrected_before(&mut checks, h, &blamed_again, weight);
        knowledge_check(&mut checks, h, knowledge, &blamed_again, weight);
        alert_text(&mut checks, h, signals, bundle, weight);
        // One verdict per check kind and item: keep the first of duplicates.
        let mut seen = BTreeSet::new();
        checks.retain(|c: &HypothesisCheck| seen.insert((c.kind.as_str(), c.reason.clone())));
        for c in checks.iter().filter(|c| c.supports) {
            extend(&mut h.evidence_ids, &c.evidence_ids);
            extend(&mut h.knowledge_ids, &c.knowledge_ids);
        }
        // Two decimals: equal support is a tie, broken below by the evidence, not by float noise.
        let score = (h.prior + checks.iter().map(|c| c.weight).sum::<f64>()).clamp(0.02, 0.97);
        h.score = (score * 100.0).round() / 100.0;
        h.checks = checks;
        h.sources = bundle
            .items
            .iter()
            .filter(|i| h.evidence_ids.contains(&i.id))
            .map(|i| i.source.as_str())
            .collect::<BTreeSet<_>>()
            .len();
    }
    hypotheses.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.sources.cmp(&a.sources))
            .then(b.prior.total_cmp(&a.prior))
            .then(a.category.as_str().cmp(b.category.as_str()))
            .then(a.entity.cmp(&b.entity))
    });
    let scores: Vec<f64> = hypotheses.iter().map(|h| h.score).collect();
    for (index, h) in hypotheses.iter_mut().enumerate() {
        h.id = format!("hypothesis.{}", index + 1);
        let best_other = scores
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, s)| *s)
            .fold(0.0, f64::max);
        let only_past = h.signal_ids.iter().all(|id| {
            signals
                .iter()
                .any(|s| &s.id == id && s.kind == SignalKind::PastIncident)
        });
        h.confidence = if only_past {
            // Nothing collected shows it now: a lead to check, never more than LOW.
            Confidence::Low
        } else {
            confidence(h, h.score - best_other)
        };
    }
    hypotheses
}

/// The probability that a rules brief of each level names the real cause, before any labelled
/// suite: the values the calibration fit starts from.
pub const DESIGN_PROBABILITY: [(Confidence, f64); 3] = [
    (Confidence::Low, 0.4),
    (Confidence::Medium, 0.7),
    (Confidence::High, 0.85),
];

/// The calibrated probability per level, fitted on the visible suite only
/// (`triaged eval tests/scenarios --fit-calibration`: MEDIUM 11 of 11 briefs right, HIGH 6 of
/// 6, no LOW hypothesis brief), each design value counting as 10 briefs. The held-out and
/// OpenSRE suites are not fitted on; they measure the result.
pub const CALIBRATED_PROBABILITY: [(Confidence, f64); 3] = [
    (Confidence::Low, 0.4),
    (Confidence::Medium, 0.857),
    (Confidence::High, 0.906),
];

/// What a rules brief whose root cause is a tested hypothesis reports as its score.
pub fn probability(confidence: Confidence) -> f64 {
    CALIBRATED_PROBABILITY
        .iter()
        .find(|(level, _)| *level == confidence)
        .map_or(0.4, |(_, p)| *p)
}

/// HIGH only with support from two independent sources, nothing against and a clear margin
/// over the runner-up; MEDIUM with a fair score, some margin and nothing against; otherwise
/// LOW. A check against a cause is decisive enough that it is never more than LOW.
fn confidence(h: &Hypothesis, margin: f64) -> Confidence {
    let against = h.against().next().is_some();
    if against {
        Confidence::Low
    } else if h.score >= 0.8 && h.sources >= 2 && margin >= 0.15 {
        Confidence::High
    } else if h.score >= 0.55 && margin >= 0.05 {
        Confidence::Medium
    } else {
        Confidence::Low
    }
}

fn extend(into: &mut Vec<String>, ids: &[String]) {
    for id in ids {
        if !into.contains(id) {
            into.push(id.clone());
        }
    }
}

fn check(
    kind: CheckKind,
    weight: f64,
    reason: String,
    evidence_ids: Vec<String>,
) -> HypothesisCheck {
    HypothesisCheck {
        kind,
        supports: weight >= 0.0,
        reason,
        evidence_ids,
        knowledge_ids: Vec::new(),
        weight,
    }
}

/// A rollout, a change event, a parameter change or a job: something that happened at a time.
/// Whether the hypotheses `about` selects exist and a check speaks against each of them.
pub fn all_ruled_out(hypotheses: &[Hypothesis], about: impl Fn(&Hypothesis) -> bool) -> bool {
    let mut about = hypotheses.iter().filter(|h| about(h)).peekable();
    about.peek().is_some() && about.all(|h| h.against().next().is_some())
}

/// A change in the window (a rollout, a configuration or parameter change, a job run), as
/// opposed to a reading of a symptom.
pub fn is_change(item: &EvidenceItem) -> bool {
    matches!(item.kind.as_str(), "rollout" | "change" | "job")
        || (item.kind == "rds_event" && item.summary.to_lowercase().contains("parameter"))
}

fn what(item: &EvidenceItem) -> String {
    match item.kind.as_str() {
        "rollout" => format!(
            "the {} rollout",
            item.data["deployment"].as_str().unwrap_or("workload")
        ),
        "job" => format!(
            "job {}",
            item.data["cronjob"].as_str().unwrap_or("the scheduled job")
        ),
        "change" => format!(
            "\"{}\"",
            item.data["title"].as_str().unwrap_or(&item.summary)
        ),
        _ => "the change".into(),
    }
}

fn time_order(
    checks: &mut Vec<HypothesisCheck>,
    item: &EvidenceItem,
    onset: Option<(DateTime<Utc>, &EvidenceItem)>,
    bundle: &EvidenceBundle,
    weight: &DiagnosisSettings,
) {
    let Some(at) = item.at else { return };
    let (symptom_at, symptom) = match onset {
        Some((t, series)) => (t, format!("{} began departing", metric_name(series))),
        None => (bundle.window.onset, "the alert fired".to_string()),
    };
    let mut ids = vec![item.id.clone()];
    if let Some((_, series)) = onset {
        ids.push(series.id.clone());
    }
    let after = (at - symptom_at).num_minutes();
    if after > AFTER_SLACK_MINS {
        checks.push(check(
            CheckKind::TimeOrder,
            weight.time_after,
            format!(
                "{} at {} came after {symptom} at {}",
                what(item),
                hhmm(at),
                hhmm(symptom_at)
            ),
            ids,
        ));
    } else {
        checks.push(check(
            CheckKind::TimeOrder,
            weight.time_before,
            format!(
                "{} at {} preceded the symptom ({symptom} at {})",
                what(item),
                hhmm(at),
                hhmm(symptom_at)
            ),
            ids,
        ));
    }
}

fn metric_name(item: &EvidenceItem) -> String {
    item.data["metric"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            item.data["query"]
                .as_str()
                .map(|q| q.trim_start_matches("avg:").to_string())
        })
        .unwrap_or_else(|| item.id.clone())
}

fn content(checks: &mut Vec<HypothesisCheck>, item: &EvidenceItem, weight: &DiagnosisSettings) {
    let ids = vec![item.id.clone()];
    match item.kind.as_str() {
        "rollout" => {
            let env: Vec<&str> = item.data["env_changed"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(previous) = item.data["previous_images"]
                .as_str()
                .filter(|p| !p.is_empty())
            {
                checks.push(check(
                    CheckKind::Content,
                    weight.content_for,
                    format!("new code: an image replacing {previous}"),
                    ids,
                ));
            } else if !env.is_empty() && env.iter().all(|e| telemetry_only(e)) {
                checks.push(check(
                    CheckKind::Content,
                    weight.content_against,
                    format!(
                        "it changed only {} (logging or telemetry), which does not change how requests are served",
                        env.join(", ")
                    ),
                    ids,
                ));
            } else if !env.is_empty() {
                checks.push(check(
                    CheckKind::Content,
                    weight.content_for,
                    format!(
                        "it changed settings the service runs with: {}",
                        env.join(", ")
                    ),
                    ids,
                ));
            }
        }
        "rds_event" => {
            let message = item.data["message"]
                .as_str()
                .unwrap_or(&item.summary)
                .to_lowercase();
            if message.contains("reboot")
                && (message.contains("take effect") || message.contains("pending"))
            {
                checks.push(check(
                    CheckKind::Content,
                    weight.content_against,
                    "the parameter change has not taken effect: the instance needs a reboot first"
                        .into(),
                    ids,
                ));
            }
        }
        "change" => {
            let text = format!(
                "{} {}",
                item.data["title"].as_str().unwrap_or(&item.summary),
                item.data["tags"]
                    .as_array()
                    .map(|t| t
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "))
                    .unwrap_or_default()
            )
            .to_lowercase();
            const SYSTEM_CHANGE: [&str; 20] = [
                "deploy",
                "release",
                "rollout",
                "rolled out",
                "roll out",
                "rollback",
                "upgrade",
                "migration",
                "flag",
                "launchdarkly",
                "toggle",
                "config",
                "parameter",
                "setting",
                "terraform",
                "rule",
                "waf",
                "firewall",
                "scaled",
                "argocd",
            ];
            if !SYSTEM_CHANGE.iter().any(|w| text.contains(w)) {
                checks.push(check(
                    CheckKind::Content,
                    weight.content_against,
                    format!(
                        "{} names no deploy, flag or configuration of a running system",
                        what(item)
                    ),
                    ids,
                ));
            }
        }
        _ => {}
    }
}

fn locality(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    proposing: &[&Signal],
    bundle: &EvidenceBundle,
    path: &BTreeSet<String>,
    weight: &DiagnosisSettings,
) {
    let items: Vec<&EvidenceItem> = proposing
        .iter()
        .flat_map(|s| s.evidence_ids.first())
        .filter_map(|id| bundle.item(id))
        .collect();
    // A change event says where it ran.
    if let Some(item) = items.iter().find(|i| i.kind == "change")
        && let Some(service) = tagged_service(item)
    {
        if path.contains(&service.to_lowercase()) {
            checks.push(check(
                CheckKind::Locality,
                weight.local,
                format!("{service} is the alerting service or on its path"),
                vec![item.id.clone()],
            ));
        } else {
            checks.push(check(
                CheckKind::Locality,
                weight.off_path,
                format!("{service} is neither the alerting service nor one of its dependencies"),
                vec![item.id.clone()],
            ));
        }
        return;
    }
    let name = entity_name(&h.entity).to_lowercase();
    if h.entity.starts_with("node/") {
        let hosted: Vec<String> = bundle
            .items
            .iter()
            .filter(|i| i.kind == "pod" && i.data["node"].as_str() == Some(entity_name(&h.entity)))
            .map(|i| i.id.clone())
            .collect();
        if !hosted.is_empty() {
            checks.push(check(
                CheckKind::Locality,
                weight.local,
                format!("{} unhealthy pods of the workload run on it", hosted.len()),
                hosted,
            ));
        }
    } else if let Some(primary) = h
        .entity
        .strip_prefix("rds/")
        .and_then(|id| bundle.item(&format!("aws.rds.{id}.instance")))
        .and_then(|i| i.data["replica_of"].as_str())
        .map(|p| entity_name(p).to_lowercase())
        .filter(|p| path.contains(p))
    {
        checks.push(check(
            CheckKind::Locality,
            weight.local,
            format!("{name} is a replica of {primary}, on the alerting service's path"),
            vec![format!("aws.rds.{name}.instance")],
        ));
    } else if path.contains(&name) {
        checks.push(check(
            CheckKind::Locality,
            weight.local,
            format!("{name} is on the alerting service's path"),
            items
                .first()
                .map(|i| vec![i.id.clone()])
                .unwrap_or_default(),
        ));
    }
}

fn baseline(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    proposing: &[&Signal],
    bundle: &EvidenceBundle,
    weight: &DiagnosisSettings,
) {
    // A saturation read from a series that is back at its level by the end of the window is
    // history, not the fault now.
    for item in proposing
        .iter()
        .filter(|s| s.kind == SignalKind::Saturation)
        .flat_map(|s| s.evidence_ids.first())
        .filter_map(|id| bundle.item(id))
        .filter(|i| i.kind == "metric")
    {
        if departure_of(&item.data["series"]["points"]).is_some_and(|d| d.back_at_level) {
            checks.push(check(
                CheckKind::Baseline,
                weight.baseline_against,
                format!(
                    "{} is back at its level by the end of the window",
                    metric_name(item)
                ),
                vec![item.id.clone()],
            ));
        }
    }
    // Abuse is done by scripts: the automated share of the edge's requests against the same
    // window a week earlier. A usual share weighs against a WAF surge read as abuse; an
    // l7ddos mitigation stands on its own.
    if h.category == Category::DdosOrAbuse
        && let Some(bots) = bundle.items.iter().find(|i| i.kind == "edge_bot_scores")
        && let (Some(share), Some(week)) = (
            bots.data["automated_share"].as_f64(),
            bots.data["week_ago_automated_share"].as_f64(),
        )
    {
        let reason = format!(
            "{:.0}% of scored requests automated, {:.0}% in the same window a week earlier",
            share * 100.0,
            week * 100.0
        );
        if bots.data["surge"].as_bool() == Some(true) {
            checks.push(check(
                CheckKind::Baseline,
                weight.baseline_for,
                reason,
                vec![bots.id.clone()],
            ));
        } else if share <= week + 0.1 && proposing.iter().all(|s| s.kind == SignalKind::WafSpike) {
            checks.push(check(
                CheckKind::Baseline,
                weight.baseline_against,
                format!("{reason}: the zone's usual mix"),
                vec![bots.id.clone()],
            ));
        }
    }
    match h.category {
        Category::TrafficSpike => {
            let rates: Vec<(&EvidenceItem, f64, f64)> = bundle
                .items
                .iter()
                .filter(|i| i.kind == "metric" && is_request_rate(i))
                .filter_map(|i| {
                    let last = i.data["series"]["last"].as_f64()?;
                    let before = i.data["week_ago_mean"]
                        .as_f64()
                        .or_else(|| i.data["series"]["points"][0][1].as_f64())?;
                    (before > 0.0).then_some((i, last, before))
                })
                .collect();
            if let Some((item, last, before)) = rates
                .iter()
                .max_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2)))
            {
                let ratio = last / before;
                if ratio >= 1.5 {
                    let tiers = rates.iter().filter(|(_, l, b)| l / b >= 1.5).count();
                    checks.push(check(
                        CheckKind::Baseline,
                        weight.baseline_for,
                        format!(
                            "requests at {ratio:.1}× their usual level{}",
                            if tiers > 1 {
                                format!(" on {tiers} tiers")
                            } else {
                                String::new()
                            }
                        ),
                        vec![item.id.clone()],
                    ));
                } else if ratio <= 1.2 {
                    checks.push(check(
                        CheckKind::Baseline,
                        weight.baseline_against,
                        format!("request rate at its usual level ({ratio:.2}×)"),
                        vec![item.id.clone()],
                    ));
                }
            }
        }
        Category::DdosOrAbuse if proposing.iter().all(|s| s.kind == SignalKind::WafSpike) => {
            let edge_total = bundle
                .items
                .iter()
                .find(|i| i.kind == "edge_status")
                .and_then(|i| i.data["total"].as_f64().map(|t| (i, t)));
            let firewall = proposing
                .iter()
                .flat_map(|s| s.evidence_ids.first())
                .filter_map(|id| bundle.item(id))
                .find(|i| i.kind == "edge_firewall");
            // The same window a week earlier blocked about as many: the zone's usual level.
            if let Some(fw) = firewall
                && let (Some(blocked), Some(week)) = (
                    fw.data["blocked"].as_f64(),
                    fw.data["week_ago_blocked"].as_f64(),
                )
                && blocked <= week * 1.5
            {
                checks.push(check(
                    CheckKind::Baseline,
                    weight.baseline_against,
                    format!(
                        "{blocked:.0} challenged or blocked, {week:.0} in the same window a week earlier: the zone's usual level"
                    ),
                    vec![fw.id.clone()],
                ));
            } else if let (Some((edge, total)), Some(fw)) = (edge_total, firewall)
                && let Some(blocked) = fw.data["blocked"].as_f64()
                && total > 0.0
                && blocked / total < 0.01
            {
                checks.push(check(
                    CheckKind::Baseline,
                    weight.baseline_against,
                    format!(
                        "{blocked:.0} challenged or blocked of {total:.0} requests ({:.2}%), a background level",
                        blocked / total * 100.0
                    ),
                    vec![fw.id.clone(), edge.id.clone()],
                ));
            }
        }
        _ => {}
    }
}

fn is_request_rate(item: &EvidenceItem) -> bool {
    let name = format!(
        "{} {}",
        item.data["query"].as_str().unwrap_or_default(),
        item.data["metric"].as_str().unwrap_or_default()
    )
    .to_lowercase();
    name.contains(".hits") || name.contains("requests") || name.contains("request_count")
}

fn corroboration(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    signals: &[Signal],
    bundle: &EvidenceBundle,
    weight: &DiagnosisSettings,
) {
    let own_sources: BTreeSet<&str> = bundle
        .items
        .iter()
        .filter(|i| h.evidence_ids.contains(&i.id))
        .map(|i| i.source.as_str())
        .collect();
    let mut added = BTreeSet::new();
    // Its own signals from a second source: the first source proposed it, the others agree.
    let mut seen_first = None;
    for s in signals.iter().filter(|s| h.signal_ids.contains(&s.id)) {
        for item in s.evidence_ids.iter().filter_map(|id| bundle.item(id)) {
            let first = *seen_first.get_or_insert(item.source.as_str());
            if item.source == first || !added.insert(item.source.clone()) || added.len() > 2 {
                continue;
            }
            checks.push(check(
                CheckKind::Corroboration,
                weight.corroborated,
                format!("{} agrees independently: {}", item.source, s.statement),
                vec![item.id.clone()],
            ));
        }
    }
    // A job or a surge of demand shows itself as saturation on the path: that effect
    // corroborates it.
    let effect = |s: &Signal| {
        matches!(h.category, Category::ScheduledJob | Category::TrafficSpike)
            && matches!(s.kind, SignalKind::Saturation | SignalKind::HpaAtMax)
    };
    for s in signals.iter().filter(|s| {
        !h.signal_ids.contains(&s.id)
            && s.kind != SignalKind::PastIncident
            && s.category != Category::Unknown
            && (canonical_entity(&s.entity, bundle) == h.entity
                || (s.category == h.category && h.category != Category::NoFault)
                || effect(s))
    }) {
        for item in s.evidence_ids.iter().filter_map(|id| bundle.item(id)) {
            if own_sources.contains(item.source.as_str()) || !added.insert(item.source.clone()) {
                continue;
            }
            if added.len() > 2 {
                return;
            }
            checks.push(check(
                CheckKind::Corroboration,
                weight.corroborated,
                format!("{} agrees independently: {}", item.source, s.statement),
                vec![item.id.clone()],
            ));
        }
    }
}

/// A past incident of the same mechanism supports a hypothesis unless it names a different
/// culprit: the same mechanism on another entity is evidence about that entity, not this one.
fn names_no_other_entity(k: &KnowledgeMatch, h: &Hypothesis) -> bool {
    let past = k.meta["entity"].as_str().unwrap_or("").trim();
    past.is_empty() || entity_name(past).eq_ignore_ascii_case(entity_name(&h.entity))
}

/// Whether `a` and `b` name one culprit: equal, or one a bare name and the other a typed
/// entity of that name (`redis-sessions`, `elasticache/redis-sessions`).
fn same_entity(a: &str, b: &str) -> bool {
    a == b
        || (a.contains('/') != b.contains('/')
            && entity_name(a).eq_ignore_ascii_case(entity_name(b)))
}

/// A corrected past incident recalled now, whose brief blamed a cause that collected evidence
/// proposes again: (the record, the blamed category, the blamed entity as this bundle names it).
struct BlamedAgain<'a> {
    record: &'a KnowledgeMatch,
    category: Category,
    entity: String,
}

/// The recalled corrected records (each cited by a past-incident signal, so similar enough and
/// about these services) whose brief's wrong cause a signal with evidence proposes again.
fn blamed_again<'a>(
    knowledge: &'a [KnowledgeMatch],
    signals: &[Signal],
    bundle: &EvidenceBundle,
) -> Vec<BlamedAgain<'a>> {
    knowledge
        .iter()
        .filter(|k| {
            signals
                .iter()
                .any(|s| s.kind == SignalKind::PastIncident && s.knowledge_ids.contains(&k.id))
        })
        .filter_map(|record| {
            let (category, entity) = memory::blamed(record)?;
            let category = Category::named(category)?;
            let entity = canonical_entity(entity, bundle);
            signals
                .iter()
                .any(|s| {
                    s.kind != SignalKind::PastIncident
                        && !s.evidence_ids.is_empty()
                        && s.category == category
                        && same_entity(&canonical_entity(&s.entity, bundle), &entity)
                })
                .then_some(BlamedAgain {
                    record,
                    category,
                    entity,
                })
        })
        .collect()
}

/// People corrected a brief with these symptoms that blamed this cause.
fn corrected_before(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    blamed: &[BlamedAgain],
    weight: &DiagnosisSettings,
) {
    for b in blamed
        .iter()
        .filter(|b| b.category == h.category && same_entity(&b.entity, &h.entity))
    {
        let k = b.record;
        checks.push(HypothesisCheck {
            kind: CheckKind::Knowledge,
            supports: false,
            reason: format!(
                "incident {} on {} had the same symptoms, was blamed on {} {} and corrected: {}",
                k.meta["id"].as_str().unwrap_or(&k.id),
                k.meta["date"].as_str().unwrap_or("an earlier date"),
                b.category.as_str(),
                b.entity,
                k.meta["root_cause"]
                    .as_str()
                    .unwrap_or("cause not recorded")
            ),
            evidence_ids: Vec::new(),
            knowledge_ids: vec![k.id.clone()],
            weight: weight.corrected_before,
        });
    }
}

fn knowledge_check(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    knowledge: &[KnowledgeMatch],
    blamed: &[BlamedAgain],
    weight: &DiagnosisSettings,
) {
    // Only a past incident suggests it, but that incident is one people corrected *to* it
    // from the cause the evidence proposes again now: the lead stands, at LOW.
    if h.evidence_ids.is_empty()
        && let Some(b) = blamed
            .iter()
            .find(|b| h.knowledge_ids.contains(&b.record.id))
    {
        checks.push(HypothesisCheck {
            kind: CheckKind::Knowledge,
            supports: true,
            reason: format!(
                "people corrected incident {} with the same symptoms to this cause, from {} {} which the evidence proposes again; nothing collected shows it now",
                b.record.meta["id"].as_str().unwrap_or(&b.record.id),
                b.category.as_str(),
                b.entity
            ),
            evidence_ids: Vec::new(),
            knowledge_ids: vec![b.record.id.clone()],
            weight: 0.0,
        });
        return;
    }
    if h.evidence_ids.is_empty() {
        checks.push(HypothesisCheck {
            kind: CheckKind::Corroboration,
            supports: false,
            reason: "only a past incident suggests it; no collected evidence shows it now".into(),
            evidence_ids: Vec::new(),
            knowledge_ids: h.knowledge_ids.clone(),
            weight: weight.knowledge_only,
        });
        return;
    }
    let Some(past) = knowledge.iter().find(|k| {
        !h.knowledge_ids.contains(&k.id)
            && (k.corpus == "postmortems"
                || (k.corpus == memory::CORPUS
                    && memory::Confirmation::of(k) != memory::Confirmation::Unconfirmed))
            && !k.id.contains('#')
            && k.score >= KNOWLEDGE_SCORE
            && k.meta["category"].as_str() == Some(h.category.as_str())
            && names_no_other_entity(k, h)
    }) else {
        return;
    };
    checks.push(HypothesisCheck {
        kind: CheckKind::Knowledge,
        supports: true,
        reason: format!(
            "past incident {} had the same mechanism: {}",
            past.id, past.title
        ),
        evidence_ids: Vec::new(),
        knowledge_ids: vec![past.id.clone()],
        weight: weight.knowledge,
    });
}

fn alert_text(
    checks: &mut Vec<HypothesisCheck>,
    h: &Hypothesis,
    signals: &[Signal],
    bundle: &EvidenceBundle,
    weight: &DiagnosisSettings,
) {
    for s in signals.iter().filter(|s| s.category == h.category) {
        if let Some(item) = s
            .evidence_ids
            .iter()
            .filter_map(|id| bundle.item(id))
            .find(|i| i.kind == "alert")
        {
            checks.push(check(
                CheckKind::AlertText,
                weight.alert_text,
                format!("the alert itself says so: {}", item.summary),
                vec![item.id.clone()],
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_departure_is_read_from_the_series_not_the_alert() {
        let points: Vec<Value> = (0..40)
            .map(|i| json!([i * 60_000, if i < 20 { 10.0 } else { 50.0 }]))
            .collect();
        let at = departure(&Value::Array(points)).unwrap();
        assert_eq!(at.timestamp_millis(), 20 * 60_000);
        let flat: Vec<Value> = (0..40).map(|i| json!([i * 60_000, 10.0])).collect();
        assert!(departure(&Value::Array(flat)).is_none());
    }

    /// A bundle around an onset at 10:00 with the given items, for service `api` in
    /// namespace `prod` that depends on `orders-db`.
    fn bundle(items: Vec<Value>) -> EvidenceBundle {
        let mut bundle: EvidenceBundle = serde_json::from_value(json!({
            "window": {"start": "2026-11-30T09:00:00Z", "onset": "2026-11-30T10:00:00Z", "end": "2026-11-30T10:15:00Z"},
            "items": items,
            "reports": [],
        }))
        .unwrap();
        bundle.targets = crate::domain::Targets {
            service: Some("api".into()),
            kube_namespace: Some("prod".into()),
            kube_workloads: vec!["api".into()],
            rds_instances: vec!["orders-db".into()],
            dependencies: vec!["orders-db".into()],
            ..Default::default()
        };
        bundle
    }

    /// A metric of 60 points a minute apart from 09:00, flat, then at `to` from `from_min`.
    fn metric(id: &str, metric: &str, from_min: i64, to: f64, anomaly: f64) -> Value {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
            .unwrap()
            .timestamp_millis();
        let points: Vec<Value> = (0..60)
            .map(|m| json!([start + m * 60_000, if m < from_min { 30.0 } else { to }]))
            .collect();
        json!({"id": id, "source": "aws", "kind": "metric", "summary": metric, "anomaly": anomaly,
               "data": {"metric": metric, "series": {"points": points, "min": 30.0, "max": to, "last": to}}})
    }

    fn rollout(at: &str, previous: Option<&str>, env: &[&str]) -> Value {
        json!({"id": "k8s.rollout.prod/api.rev9", "source": "kubernetes", "kind": "rollout", "at": at,
               "summary": "api rolled out", "anomaly": 0.9,
               "data": {"deployment": "api", "previous_images": previous, "env_changed": env}})
    }

    fn run(items: Vec<Value>) -> Vec<Hypothesis> {
        let bundle = bundle(items);
        let signals = crate::signals::derive(&bundle, &[]);
        diagnose(Some("api"), &bundle, &[], &signals)
    }

    fn find(hypotheses: &[Hypothesis], category: Category) -> &Hypothesis {
        hypotheses
            .iter()
            .find(|h| h.category == category)
            .unwrap_or_else(|| panic!("no {category:?} hypothesis in {hypotheses:#?}"))
    }

    #[test]
    fn a_rollout_after_the_symptom_began_is_ruled_out_by_time_order() {
        let hypotheses = run(vec![
            rollout("2026-11-30T09:55:00Z", Some("api:1.0"), &[]),
            metric("aws.rds.orders-db.cpu", "CPUUtilization", 30, 97.0, 0.9),
            json!({"id": "k8s.job.prod/export-1", "source": "kubernetes", "kind": "job",
                   "at": "2026-11-30T09:20:00Z", "summary": "job export-1 running for 60 min (previous runs took 20 min)",
                   "anomaly": 0.85, "data": {"cronjob": "export"}}),
        ]);
        assert_eq!(
            hypotheses[0].category,
            Category::ScheduledJob,
            "{hypotheses:#?}"
        );
        let deploy = find(&hypotheses, Category::DeployRegression);
        let against = deploy.against().next().expect("a check against the deploy");
        assert_eq!(against.kind, CheckKind::TimeOrder);
        assert!(
            against.reason.contains("09:55") && against.reason.contains("09:30"),
            "{against:?}"
        );
        assert!(deploy.confidence < Confidence::Medium);
    }

    #[test]
    fn a_rollout_that_only_changed_logging_is_ruled_out_by_content() {
        let hypotheses = run(vec![
            rollout("2026-11-30T09:53:00Z", None, &["LOG_LEVEL"]),
            metric("datadog.metric.latency", "latency", 55, 9.0, 0.9),
        ]);
        let change = find(&hypotheses, Category::ConfigChange);
        assert!(
            change.against().any(|c| c.kind == CheckKind::Content),
            "{change:#?}"
        );
        assert_eq!(change.confidence, Confidence::Low, "{change:#?}");
        // The same rollout changing a setting requests depend on stands.
        let hypotheses = run(vec![
            rollout("2026-11-30T09:53:00Z", None, &["DB_POOL_MAX"]),
            metric("datadog.metric.latency", "latency", 55, 9.0, 0.9),
        ]);
        let change = find(&hypotheses, Category::ConfigChange);
        assert!(change.against().next().is_none(), "{change:#?}");
        assert!(change.score >= 0.8);
    }

    #[test]
    fn a_change_on_another_service_is_off_the_failing_path() {
        let change = json!({"id": "datadog.event.1", "source": "datadog", "kind": "change",
            "at": "2026-11-30T09:53:00Z", "summary": "Deployed billing v2", "anomaly": 0.5,
            "data": {"title": "Deployed billing v2", "tags": ["service:billing"]}});
        let hypotheses = run(vec![
            change,
            metric("datadog.metric.errors", "errors", 55, 90.0, 0.9),
        ]);
        let deploy = find(&hypotheses, Category::DeployRegression);
        assert_eq!(deploy.entity, "service/billing");
        let off = deploy
            .against()
            .find(|c| c.kind == CheckKind::Locality)
            .expect("off the path");
        assert!(off.reason.contains("billing"), "{off:?}");
    }

    #[test]
    fn high_needs_two_sources_nothing_against_and_a_margin() {
        // Connections at the limit (aws) and the errors saying so (datadog): two sources.
        let mut connections = metric(
            "aws.rds.orders-db.connections",
            "DatabaseConnections",
            30,
            500.0,
            0.9,
        );
        connections["data"]["max_connections"] = json!(500);
        let logs = json!({"id": "datadog.logs.api.errors", "source": "datadog", "kind": "logs",
            "summary": "errors", "anomaly": 0.9, "data": {"after_onset": 300, "groups": [
                {"count": 300, "example": "FATAL: remaining connection slots are reserved for superuser connections"}]}});
        let hypotheses = run(vec![connections.clone(), logs]);
        assert_eq!(hypotheses[0].category, Category::ResourceSaturation);
        assert_eq!(hypotheses[0].entity, "rds/orders-db");
        assert_eq!(hypotheses[0].sources, 2);
        assert_eq!(
            hypotheses[0].confidence,
            Confidence::High,
            "{hypotheses:#?}"
        );
        // One source alone is not HIGH.
        let alone = run(vec![connections]);
        assert!(alone[0].confidence < Confidence::High, "{alone:#?}");
    }

    #[test]
    fn equal_support_is_a_tie_that_bundle_order_does_not_settle() {
        let node = |name: &str| {
            json!({"id": format!("k8s.node.{name}"), "source": "kubernetes", "kind": "node",
                   "summary": "node not ready", "anomaly": 0.85, "data": {}})
        };
        let forward = run(vec![node("a"), node("b")]);
        let backward = run(vec![node("b"), node("a")]);
        assert_eq!(
            forward[0].entity, backward[0].entity,
            "order decides nothing"
        );
        assert_eq!(
            forward[0].confidence,
            Confidence::Low,
            "a tie is not a finding"
        );
    }

    #[test]
    fn a_fault_that_came_back_is_recovered_and_one_still_out_is_not() {
        let spike = |last: f64| {
            let start = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
                .unwrap()
                .timestamp_millis();
            let points: Vec<Value> = (0..60)
                .map(|m| {
                    let v = match m {
                        0..40 => 10.0,
                        40..50 => 80.0,
                        _ => last,
                    };
                    json!([start + m * 60_000, v])
                })
                .collect();
            json!({"id": "datadog.metric.lag", "source": "datadog", "kind": "metric", "summary": "lag",
                   "anomaly": 0.8, "data": {"metric": "lag", "series": {"points": points}}})
        };
        let ready = json!({"id": "k8s.workload.prod/api", "source": "kubernetes", "kind": "workload",
                           "summary": "3 of 3 ready", "anomaly": 0.1, "data": {}});
        let back = bundle(vec![spike(11.0), ready.clone()]);
        assert_eq!(
            recovered(&back),
            Some(vec![
                "datadog.metric.lag".to_string(),
                "k8s.workload.prod/api".to_string()
            ])
        );
        assert!(recovered(&bundle(vec![spike(75.0), ready.clone()])).is_none());
        // A workload short of ready is not recovered, whatever the series say.
        let mut short = ready;
        short["anomaly"] = json!(0.6);
        assert!(recovered(&bundle(vec![spike(11.0), short])).is_none());
        // Nothing that shows a recovery: no verdict.
        assert!(recovered(&bundle(vec![])).is_none());
    }

    #[test]
    fn storage_that_fell_and_was_then_grown_came_back() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
            .unwrap()
            .timestamp_millis();
        let points: Vec<Value> = (0..20)
            .map(|m| {
                json!([
                    start + m * 60_000,
                    if m < 17 { 30.0 - m as f64 * 1.6 } else { 200.0 }
                ])
            })
            .collect();
        let d = departure_of(&Value::Array(points)).unwrap();
        assert!(d.back_at_level, "grown far past its level is back");
        assert_eq!(
            (d.at.timestamp_millis() - start) / 60_000,
            6,
            "the fall, not the growth"
        );
    }

    #[test]
    fn telemetry_settings_are_recognised() {
        assert!(telemetry_only("LOG_LEVEL"));
        assert!(telemetry_only("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(!telemetry_only("DB_POOL_MAX"));
        assert!(!telemetry_only("PAYMENTS_URL"));
    }
}
