//! The daemon's stage handler: for each stage of a job, load what it needs from the store,
//! run the stage function of [`stages`](super::stages), save what it produced. The worker
//! knows nothing about stages beyond their order.

use std::sync::Arc;

use async_trait::async_trait;

use super::stages::{self, EvidenceGatherer};
use crate::analysis::Analyst;
use crate::catalog::Targets;
use crate::domain::{Alert, JobKind, Stage, StageError, StageReport};
use crate::knowledge::KnowledgeIndex;
use crate::memory::Memory;
use crate::notify::{CardKnowledge, CardRequest, Notifier, card};
use crate::signals;
use crate::store::{ClaimedJob, Store, StoreError};

#[async_trait]
pub trait StageHandler: Send + Sync {
    async fn run(&self, job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError>;
}

fn reading(e: StoreError) -> StageError {
    StageError::caused_by("could not read the incident", e)
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
    notifier: Arc<Notifier>,
    memory: Option<Arc<Memory>>,
}

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
            notifier: Arc::new(notifier),
            memory: None,
        }
    }

    /// Remembers each incident when it resolves.
    pub fn with_memory(mut self, memory: Option<Arc<Memory>>) -> Self {
        self.memory = memory;
        self
    }

    /// The deliver stage; a resolved incident is then remembered (never failing delivery).
    async fn deliver(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let mut report = self.notifier.deliver(job).await?;
        if job.kind == JobKind::Resolve
            && let Some(memory) = &self.memory
        {
            let note = match memory.remember(&job.incident_id).await {
                Ok(done) => format!("memory: {done}"),
                Err(error) => {
                    tracing::warn!(%error, "could not remember the incident");
                    format!("memory: not written ({error})")
                }
            };
            report.detail = Some(match report.detail {
                Some(detail) => format!("{detail}; {note}"),
                None => note,
            });
        }
        Ok(report)
    }

    /// The alert the incident is about now: its newest firing alert, else its newest.
    async fn current_alert(&self, incident_id: &str) -> Result<Option<Alert>, StageError> {
        let alerts = self.store.alerts_for(incident_id).await.map_err(reading)?;
        Ok(Alert::current(&alerts).cloned())
    }

    async fn collect(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let alerts = self
            .store
            .alerts_for(&job.incident_id)
            .await
            .map_err(reading)?;
        let card = self.start_card(job, &alerts);
        let progress = card.as_ref().map(|c| &c.sources);
        let Some(bundle) = self.gatherer.gather_reporting(&alerts, progress).await else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        self.store
            .save_evidence(&job.incident_id, &job.id, &bundle)
            .await
            .map_err(|e| StageError::caused_by("could not store the evidence", e))?;
        if let Some(card) = card {
            let _ = card.collected.send(signals::derive(&bundle, &[]));
        }
        let sources: Vec<String> = bundle.reports.iter().map(|r| r.describe()).collect();
        Ok(StageReport::ok(format!(
            "{} items; {}",
            bundle.items.len(),
            sources.join("; ")
        )))
    }

    /// The progressive card for a first triage, on its own task: posted before any source
    /// answers, fed by the collection. Dropping the returned sender (a failed or abandoned
    /// collection) tells the card collection was interrupted.
    fn start_card(&self, job: &ClaimedJob, alerts: &[Alert]) -> Option<card::CardSender> {
        if !self.notifier.wants_card(job) {
            return None;
        }
        let alert = Alert::current(alerts)?.clone();
        let targets = Targets::resolve(&alert, &self.gatherer.catalog);
        let (sender, feed) = card::feed();
        let (index, per_corpus, query) = (
            self.knowledge.clone(),
            self.per_corpus.max(3),
            alert.clone(),
        );
        let knowledge: CardKnowledge = Box::pin(async move {
            stages::retrieve(index.as_ref(), &query, None, per_corpus)
                .await
                .into_matches()
        });
        self.notifier.start_card(CardRequest {
            incident_id: job.incident_id.clone(),
            alert,
            targets,
            sources: self.gatherer.source_names(),
            knowledge,
            feed,
        });
        Some(sender)
    }

    async fn retrieve(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let Some(alert) = self.current_alert(&job.incident_id).await? else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        let bundle = self
            .store
            .latest_evidence(&job.incident_id)
            .await
            .map_err(reading)?;
        let retrieval = stages::retrieve(
            self.knowledge.as_ref(),
            &alert,
            bundle.as_ref(),
            self.per_corpus,
        )
        .await;
        // An index that failed is a gap the brief names: it joins the evidence's source
        // reports, where the analysts read what is missing.
        if let (Some(gap), Some(mut bundle)) = (retrieval.gap(), bundle) {
            bundle.reports.retain(|r| r.source != gap.source);
            bundle.reports.push(gap);
            self.store
                .save_evidence(&job.incident_id, &job.id, &bundle)
                .await
                .map_err(|e| StageError::caused_by("could not store the evidence", e))?;
        }
        if let stages::Retrieval::Matches(matches) = &retrieval {
            self.store
                .save_knowledge(
                    &job.incident_id,
                    &job.id,
                    matches,
                    chrono::Utc::now().timestamp_millis(),
                )
                .await
                .map_err(|e| StageError::caused_by("could not store the retrieved knowledge", e))?;
        }
        Ok(retrieval.report())
    }

    async fn analyze(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let Some(alert) = self.current_alert(&job.incident_id).await? else {
            return Ok(StageReport::skipped("the incident has no alerts"));
        };
        let Some(bundle) = self
            .store
            .latest_evidence(&job.incident_id)
            .await
            .map_err(reading)?
        else {
            return Err(StageError::new(
                "no evidence was collected for this incident",
            ));
        };
        let knowledge = self
            .store
            .latest_knowledge(&job.incident_id)
            .await
            .map_err(reading)?;
        let brief = stages::analyse(&self.analyst, &alert, &bundle, &knowledge).await;
        let json = serde_json::to_value(&brief)
            .map_err(|e| StageError::caused_by("could not encode the brief", e))?;
        self.store
            .save_brief(
                &job.incident_id,
                &job.id,
                &brief.analyst,
                brief.created_at,
                &json,
            )
            .await
            .map_err(|e| StageError::caused_by("could not store the brief", e))?;
        let mut detail = brief.headline();
        if let Some(reason) = &brief.fallback_reason {
            detail.push_str(&format!(" (rules analyst: {reason})"));
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
            Stage::Deliver => self.deliver(job).await,
            Stage::Retrieve => self.retrieve(job).await,
        }
    }
}
