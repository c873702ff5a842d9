//! The triage core: the stages as plain functions that take values and return values —
//! gather evidence, retrieve knowledge, analyse, render — with no store access. The daemon's
//! [`Pipeline`](super::Pipeline) loads, runs one of them and saves; the evaluation, `replay`
//! and the `triage` verb call the same functions, so one payload and one bundle give one brief
//! everywhere.

use std::sync::Arc;

use chrono::Utc;

use crate::analysis::{Analyst, Brief};
use crate::catalog::{ServiceCatalog, Targets, window};
use crate::collectors::{self, Deadlines, Progress, Registered, collect_reporting};
use crate::config::{Secrets, Settings};
use crate::domain::{
    Alert, EvidenceBundle, Incident, IncidentStatus, KnowledgeMatch, SourceReport, SourceStatus,
    StageError, StageOutcome, StageReport,
};
use crate::knowledge::KnowledgeIndex;
use crate::knowledge::retrieve::retrieval_query;
use crate::notify::slack::{BriefView, SlackMessage, Tally, render_brief};
use crate::redact::redact;
use crate::signals;

/// Slack refuses a message with more blocks than this.
pub const SLACK_MAX_BLOCKS: usize = 50;

/// Collects live evidence for a set of alerts: targets from tags and the catalog, then every
/// collector at once under its deadlines.
pub struct EvidenceGatherer {
    collectors: Vec<Registered>,
    pub catalog: ServiceCatalog,
    deadlines: Deadlines,
    lookback: chrono::Duration,
    budget_chars: usize,
}

impl EvidenceGatherer {
    pub async fn from_settings(settings: &Settings, secrets: &Secrets) -> Result<Self, String> {
        Ok(Self {
            collectors: collectors::registry(settings, secrets).await,
            catalog: ServiceCatalog::load(&settings.collectors.services_file)?,
            deadlines: Deadlines::from_settings(settings),
            lookback: chrono::Duration::minutes(settings.collectors.lookback_mins),
            budget_chars: settings.collectors.bundle_budget_chars,
        })
    }

    /// The names of the sources a collection runs, in report order.
    pub fn source_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.collectors.iter().map(Registered::name).collect();
        names.sort_unstable();
        names
    }

    /// Gathers evidence for an incident's alerts: targets from the newest firing alert, the
    /// window from the earliest onset. `None` when there is no alert.
    pub async fn gather(&self, alerts: &[Alert]) -> Option<EvidenceBundle> {
        self.gather_reporting(alerts, None).await
    }

    /// [`gather`](Self::gather), telling `progress` about each source as it answers.
    pub async fn gather_reporting(
        &self,
        alerts: &[Alert],
        progress: Option<&Progress>,
    ) -> Option<EvidenceBundle> {
        let latest = Alert::current(alerts)?;
        let onset = alerts
            .iter()
            .filter(|a| a.transition.is_firing())
            .map(|a| a.fired_at)
            .min()
            .unwrap_or(latest.fired_at);
        let targets = Targets::resolve(latest, &self.catalog);
        let window = window(onset, self.lookback, Utc::now());
        let mut bundle = collect_reporting(
            &self.collectors,
            &targets,
            &window,
            self.deadlines,
            self.budget_chars,
            progress,
        )
        .await;
        add_alert_evidence(&mut bundle, latest);
        Some(bundle)
    }
}

/// A bundle recorded or written without targets (a scenario's evidence, a file given to the
/// `triage` verb) gets them resolved from the alert and the catalog, as live collection does;
/// a bundle that has targets keeps them.
pub fn complete_targets(bundle: &mut EvidenceBundle, alert: &Alert, catalog: &ServiceCatalog) {
    if bundle.targets == Targets::default() {
        bundle.targets = Targets::resolve(alert, catalog);
    }
    add_alert_evidence(bundle, alert);
}

/// The alert's own text joins the evidence when it states a decisive fact, once.
pub fn add_alert_evidence(bundle: &mut EvidenceBundle, alert: &Alert) {
    if bundle.item(signals::ALERT_EVIDENCE_ID).is_none()
        && let Some(item) = signals::alert_evidence(alert)
    {
        bundle.items.push(item);
    }
}

/// What retrieval found, or why it did not run.
#[derive(Debug, Clone, PartialEq)]
pub enum Retrieval {
    Matches(Vec<KnowledgeMatch>),
    /// Nothing to search (no index, or an empty one); the reason goes to the timeline.
    Skipped(&'static str),
    /// The index did not answer (a server down, a search past its deadline): the brief is
    /// written without knowledge and names the gap.
    Failed(String),
}

/// How long one retrieval may take before the brief goes on without knowledge.
pub const RETRIEVAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl Retrieval {
    /// The matches, none when skipped or failed.
    pub fn into_matches(self) -> Vec<KnowledgeMatch> {
        match self {
            Self::Matches(matches) => matches,
            Self::Skipped(_) | Self::Failed(_) => Vec::new(),
        }
    }

    /// A failed retrieval as a source report, so the brief lists it among its data gaps.
    pub fn gap(&self) -> Option<SourceReport> {
        let Self::Failed(reason) = self else {
            return None;
        };
        Some(SourceReport {
            source: "knowledge".into(),
            status: SourceStatus::Error,
            message: Some(reason.clone()),
            elapsed_ms: 0,
            items: 0,
        })
    }

    /// The line the stage timeline records.
    pub fn report(&self) -> StageReport {
        match self {
            Self::Matches(matches) => {
                let ids: Vec<String> = matches
                    .iter()
                    .map(|m| format!("{} ({:.2})", m.id, m.score))
                    .collect();
                StageReport::ok(format!("{} matches: {}", matches.len(), ids.join(", ")))
            }
            Self::Skipped(reason) => StageReport::skipped(*reason),
            Self::Failed(reason) => StageReport {
                outcome: StageOutcome::Failed,
                detail: Some(format!("{reason}; the brief goes on without knowledge")),
            },
        }
    }
}

/// The retrieve stage: the best `per_corpus` matches of every corpus for the alert and its
/// evidence (the alert title alone when no evidence was collected). The search runs on a
/// blocking thread under [`RETRIEVAL_DEADLINE`]; the index is embedded or a server. Knowledge
/// is an input to the brief, never a precondition: an index that fails or is too slow is a
/// [`Retrieval::Failed`], not an error.
pub async fn retrieve(
    index: Option<&Arc<KnowledgeIndex>>,
    alert: &Alert,
    bundle: Option<&EvidenceBundle>,
    per_corpus: usize,
) -> Retrieval {
    let Some(index) = index else {
        return Retrieval::Skipped("no knowledge index is open");
    };
    if index.is_empty() {
        return Retrieval::Skipped(
            "the knowledge index is empty: configure [knowledge] paths or run `triaged index`",
        );
    }
    let query = match bundle {
        Some(bundle) => retrieval_query(alert, bundle),
        None => alert.title.clone(),
    };
    let index = Arc::clone(index);
    let search = tokio::task::spawn_blocking(move || index.search(&query, per_corpus));
    match tokio::time::timeout(RETRIEVAL_DEADLINE, search).await {
        Ok(Ok(Ok(matches))) => Retrieval::Matches(matches),
        Ok(Ok(Err(error))) => {
            Retrieval::Failed(redact(&format!("search failed: {error}")).into_owned())
        }
        Ok(Err(error)) => Retrieval::Failed(format!("the search task failed: {error}")),
        Err(_) => Retrieval::Failed(format!(
            "no answer within {} s",
            RETRIEVAL_DEADLINE.as_secs()
        )),
    }
}

/// The analyse stage: signals derived once from the evidence and knowledge, then the analyst
/// (model, or rules when there is none or it fails). Always a brief.
pub async fn analyse(
    analyst: &Analyst,
    alert: &Alert,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
) -> Brief {
    let signals = signals::derive(bundle, knowledge);
    analyst.analyse(alert, bundle, knowledge, signals).await
}

/// Why a brief cannot be delivered as rendered.
#[derive(Debug, thiserror::Error)]
#[error("the brief renders to {blocks} blocks (Slack allows {SLACK_MAX_BLOCKS})")]
pub struct RenderError {
    pub blocks: usize,
}

/// The render stage for a brief outside the daemon (no stored incident): the Slack message
/// delivery would send for the alert, refused when Slack would refuse it.
pub fn render(
    alert: &Alert,
    brief: &Brief,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
) -> Result<SlackMessage, RenderError> {
    let incident = Incident {
        id: alert.dedup_key.clone(),
        dedup_key: alert.dedup_key.clone(),
        source: alert.source,
        title: alert.title.clone(),
        service: alert.service.clone(),
        priority: alert.priority.clone(),
        status: IncidentStatus::Open,
        opened_at: alert.fired_at.timestamp_millis(),
        updated_at: alert.fired_at.timestamp_millis(),
        resolved_at: None,
        alert_count: 1,
    };
    let message = render_brief(&BriefView {
        incident: &incident,
        brief,
        bundle: Some(bundle),
        knowledge,
        resolved_after: None,
        tally: Tally::default(),
        incident_url: None,
        stage_ms: Vec::new(),
        now: alert.fired_at,
    });
    if message.blocks.len() > SLACK_MAX_BLOCKS {
        return Err(RenderError {
            blocks: message.blocks.len(),
        });
    }
    Ok(message)
}

/// Everything one triage produced.
#[derive(Debug, Clone)]
pub struct Triaged {
    pub bundle: EvidenceBundle,
    pub knowledge: Vec<KnowledgeMatch>,
    pub brief: Brief,
}

/// The stages in order for one incident outside the daemon (the `triage` verb): the given
/// bundle or live collection, then retrieval, analysis and rendering — what the daemon does,
/// without the store.
pub struct Triager {
    /// Live collection; `None` when every bundle is given (no collector is set up, so no
    /// credential chain runs and no metadata service is probed).
    pub gatherer: Option<EvidenceGatherer>,
    pub catalog: ServiceCatalog,
    pub knowledge: Option<Arc<KnowledgeIndex>>,
    pub per_corpus: usize,
    pub analyst: Analyst,
}

impl Triager {
    /// Triage of `alerts`; `evidence` replaces live collection when given.
    pub async fn triage(
        &self,
        alerts: &[Alert],
        evidence: Option<EvidenceBundle>,
    ) -> Result<Triaged, StageError> {
        let alert = Alert::current(alerts)
            .ok_or_else(|| StageError::new("the payload carries no alert"))?;
        let bundle = match (evidence, &self.gatherer) {
            (Some(mut bundle), _) => {
                complete_targets(&mut bundle, alert, &self.catalog);
                bundle
            }
            (None, Some(gatherer)) => gatherer
                .gather(alerts)
                .await
                .ok_or_else(|| StageError::new("the payload carries no alert"))?,
            (None, None) => {
                return Err(StageError::new(
                    "no evidence bundle was given and live collection is not set up",
                ));
            }
        };
        let mut bundle = bundle;
        let retrieval = retrieve(
            self.knowledge.as_ref(),
            alert,
            Some(&bundle),
            self.per_corpus,
        )
        .await;
        bundle.reports.extend(retrieval.gap());
        let knowledge = retrieval.into_matches();
        let brief = analyse(&self.analyst, alert, &bundle, &knowledge).await;
        render(alert, &brief, &bundle, &knowledge)
            .map_err(|e| StageError::caused_by("rendering the brief", e))?;
        Ok(Triaged {
            bundle,
            knowledge,
            brief,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_retrieval_is_a_named_gap_and_a_failed_step_not_an_error() {
        let failed = Retrieval::Failed("search failed: qdrant: transport error".into());
        let report = failed.report();
        assert_eq!(report.outcome, StageOutcome::Failed);
        assert!(report.detail.unwrap().contains("goes on without knowledge"));
        let gap = failed.gap().expect("a gap");
        assert_eq!(
            (gap.source.as_str(), gap.status),
            ("knowledge", SourceStatus::Error)
        );
        assert_eq!(
            gap.describe(),
            "knowledge: search failed: qdrant: transport error"
        );
        assert!(failed.into_matches().is_empty());
        assert!(
            Retrieval::Skipped("no knowledge index is open")
                .gap()
                .is_none()
        );
    }
}
