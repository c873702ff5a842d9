//! How a stage of a job ended: a report for the timeline, or an error that makes the worker
//! retry the job with backoff.

use std::error::Error as StdError;

use super::StageOutcome;

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

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// A stage failure: what the stage was doing, and the error that stopped it (kept as the
/// error's `source`, so the chain reaches the timeline and the logs intact). The job is
/// retried with backoff.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct StageError {
    context: String,
    #[source]
    cause: Option<Cause>,
}

impl StageError {
    /// A failure with no underlying error (a precondition that does not hold).
    pub fn new(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            cause: None,
        }
    }

    /// A failure caused by `cause` while the stage was doing `context`.
    pub fn caused_by(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Self {
            context: context.into(),
            cause: Some(cause.into()),
        }
    }

    /// The context and every cause, outermost first: what the timeline records.
    pub fn chain(&self) -> String {
        let mut text = self.context.clone();
        let mut next: Option<&(dyn StdError + 'static)> = self.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Disk;

    #[derive(Debug, thiserror::Error)]
    #[error("write failed")]
    struct Write(#[source] Disk);

    #[test]
    fn a_stage_error_keeps_every_cause_in_its_chain() {
        let error = StageError::caused_by("could not store the brief", Write(Disk));
        assert_eq!(error.to_string(), "could not store the brief");
        assert_eq!(
            error.chain(),
            "could not store the brief: write failed: disk full"
        );
        assert!(error.source().is_some());
        assert_eq!(StageError::new("no evidence").chain(), "no evidence");
    }
}
