//! What each stage of a job does. The worker knows nothing about stages beyond their order;
//! everything incident-specific happens behind [`StageHandler`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::targets::{ServiceCatalog, Targets, window};
use crate::analysis::{Analyst, signals};
use crate::collectors::{self, Deadlines, Registered, collect_with_deadline};
use crate::config::{Secrets, Settings};
use crate::domain::{Alert, EvidenceBundle, Stage, StageOutcome};
use crate::knowledge::KnowledgeIndex;
use crate::notify::Notifier;
use crate::store::{ClaimedJob, Store};

/// How a stage ended, for the stage timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    pub outcome: StageOutcome,
    pub detail: Option<String>,
}

impl StageReport {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self {
            outcome: StageOutcome::Ok,
            detail: Some(detail.into()),
        }
    }

    pub fn skipped(detail: impl Into<String>) -> Self {
        Self {
            outcome: StageOutcome::Skipped,
            detail: Some(detail.into()),
        }
    }
}

/// A stage failure; the job is retried with backoff.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StageError(pub String);

#[async_trait]
pub trait StageHandler: Send + Sync {
    async fn run(&self, job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError>;

    /// The knowledge index the stages search, so the pages can search it the same way.
    fn knowledge(&self) -> Option<Arc<KnowledgeIndex>> {
        None
    }
}

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

    /// Gathers evidence for an incident's alerts: targets from the newest firing alert, the
    /// window from the earliest onset.
    pub async fn gather(&self, alerts: &[Alert]) -> Option<EvidenceBundle> {
        let firing: Vec<&Alert> = alerts.iter().filter(|a| a.transition.is_firing()).collect();
        let latest = Alert::current(alerts)?;
        let onset = firing
            .iter()
            .map(|a| a.fired_at)
            .min()
            .unwrap_or(latest.fired_at);
        let targets = Targets::resolve(latest, &self.catalog);
        let window = window(onset, self.lookback, Utc::now());
        Some(
            collect_with_deadline(
                &self.collectors,
                &targets,
                &window,
                self.deadlines,
                self.budget_chars,
            )
            .await,
        )
    }
}

/// The production stage handler: collection stores an evidence bundle (and posts the first
/// look), retrieval stores the matching knowledge, analysis stores a brief, delivery posts or
/// updates it.
pub struct Pipeline {
    store: Arc<dyn Store>,
    gatherer: EvidenceGatherer,
    knowledge: Option<Arc<KnowledgeIndex>>,
    per_corpus: usize,
    analyst: Analyst,
    notifier: Notifier,
}

pub use crate::knowledge::retrieve::retrieval_query;

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        gatherer: EvidenceGatherer,
        knowledge: Option<(Arc<KnowledgeIndex>, usize)>,
        analyst: Analyst,
        notifier: Notifier,
    ) -> Self {
        let (knowledge, per_corpus) = match knowledge {
            Some((index, per_corpus)) => (Some(index), per_corpus),
            None => (None, 0),
        };
        Self {
            store,
            gatherer,
            knowledge,
            per_corpus,
            analyst,
            notifier,
        }
    }

    /// The alert the incident is about now: its newest firing alert, else its newest.
    async fn current_alert(&self, incident_id: &str) -> Result<Option<Alert>, StageError> {
        let alerts = self
            .store
            .alerts_for(incident_id)
            .await
            .map_err(|e| StageError(format!("could not read the incident: {e}")))?;
        Ok(Alert::current(&alerts).cloned())
    }

    async fn retrieve(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let Some(index) = self.knowledge.clone() else {
            return Ok(StageReport::skipped("no knowledge index is open"));
        };
        if index.is_empty() {
            return Ok(StageReport::skipped(
                "the knowledge index is empty: configure [knowledge] paths or run `triaged index`",
            ));
        }
        let read =
            |e: crate::store::StoreError| StageError(format!("could not read the incident: {e}"));
        let Some(alert) = self.current_alert(&job.incident_id).await? else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        let bundle = self
            .store
            .latest_evidence(&job.incident_id)
            .await
            .map_err(read)?;
        let query = match &bundle {
            Some(bundle) => retrieval_query(&alert, bundle),
            None => alert.title.clone(),
        };
        let per_corpus = self.per_corpus;
        let matches = tokio::task::spawn_blocking(move || index.search(&query, per_corpus))
            .await
            .map_err(|e| StageError(format!("retrieval task failed: {e}")))?
            .map_err(|e| StageError(e.to_string()))?;
        self.store
            .save_knowledge(
                &job.incident_id,
                &job.id,
                &matches,
                chrono::Utc::now().timestamp_millis(),
            )
            .await
            .map_err(|e| StageError(format!("could not store the retrieved knowledge: {e}")))?;
        let ids: Vec<String> = matches
            .iter()
            .map(|m| format!("{} ({:.2})", m.id, m.score))
            .collect();
        Ok(StageReport::ok(format!(
            "{} matches: {}",
            matches.len(),
            ids.join(", ")
        )))
    }

    async fn analyze(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let read =
            |e: crate::store::StoreError| StageError(format!("could not read the incident: {e}"));
        let Some(alert) = self.current_alert(&job.incident_id).await? else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        let Some(bundle) = self
            .store
            .latest_evidence(&job.incident_id)
            .await
            .map_err(read)?
        else {
            return Err(StageError(
                "no evidence was collected for this incident".into(),
            ));
        };
        let knowledge = self
            .store
            .latest_knowledge(&job.incident_id)
            .await
            .map_err(read)?;
        let brief = self.analyst.analyse(&alert, &bundle, &knowledge).await;
        let json = serde_json::to_value(&brief).map_err(|e| StageError(e.to_string()))?;
        self.store
            .save_brief(
                &job.incident_id,
                &job.id,
                &brief.analyst,
                brief.created_at,
                &json,
            )
            .await
            .map_err(|e| StageError(format!("could not store the brief: {e}")))?;
        let mut detail = brief.headline();
        if let Some(reason) = &brief.fallback_reason {
            detail.push_str(&format!(" (rules analyst: {reason})"));
        }
        Ok(StageReport::ok(detail))
    }

    async fn collect(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let alerts = self
            .store
            .alerts_for(&job.incident_id)
            .await
            .map_err(|e| StageError(format!("could not read the incident's alerts: {e}")))?;
        let Some(bundle) = self.gatherer.gather(&alerts).await else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        self.store
            .save_evidence(&job.incident_id, &job.id, &bundle)
            .await
            .map_err(|e| StageError(format!("could not store the evidence: {e}")))?;
        let sources: Vec<String> = bundle.reports.iter().map(|r| r.describe()).collect();
        let mut detail = format!("{} items; {}", bundle.items.len(), sources.join("; "));
        let first_look = self
            .notifier
            .first_look(job, &bundle, &signals::derive(&bundle, &[]))
            .await;
        if let Some(note) = first_look {
            detail.push_str(&format!("; {note}"));
        }
        Ok(StageReport::ok(detail))
    }
}

#[async_trait]
impl StageHandler for Pipeline {
    #[tracing::instrument(skip_all, fields(incident.id = %job.incident_id, job.id = %job.id, stage = stage.as_str()))]
    async fn run(&self, job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError> {
        match stage {
            Stage::Collect => self.collect(job).await,
            Stage::Analyze => self.analyze(job).await,
            Stage::Deliver => self.notifier.deliver(job).await,
            Stage::Retrieve => self.retrieve(job).await,
        }
    }

    fn knowledge(&self) -> Option<Arc<KnowledgeIndex>> {
        self.knowledge.clone()
    }
}
