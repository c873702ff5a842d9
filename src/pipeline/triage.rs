//! What each stage of a job does. The worker knows nothing about stages beyond their order;
//! everything incident-specific happens behind [`StageHandler`].

use async_trait::async_trait;

use crate::domain::{Stage, StageOutcome};
use crate::store::ClaimedJob;

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
}

/// The production stage handler. Collection, retrieval, analysis and delivery are not built
/// yet; each stage says so in the timeline rather than producing anything that could be
/// mistaken for a brief.
#[derive(Debug, Default)]
pub struct Pipeline;

#[async_trait]
impl StageHandler for Pipeline {
    #[tracing::instrument(skip_all, fields(incident.id = %job.incident_id, job.id = %job.id, stage = stage.as_str()))]
    async fn run(&self, job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError> {
        Ok(StageReport::skipped(format!(
            "{} not built yet",
            stage.as_str()
        )))
    }
}
