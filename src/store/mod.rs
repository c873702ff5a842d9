//! Durable state: alerts, incidents, the job queue and the stage timeline, the Slack outbox,
//! feedback. The [`Store`] is split by role ([`Ingest`], [`Queue`], [`Artifacts`],
//! [`Outbox`], [`Feedback`], [`Reads`]) so a component can hold only the role it needs.
//!
//! One SQL implementation ([`SqlStore`]) serves SQLite (embedded default) and PostgreSQL
//! (several replicas); the few places where the dialects differ live in [`Dialect`].
//! How an alert changes its incident is decided by [`plan`], a pure function, so both
//! backends group and resolve alike.

mod sql;

use async_trait::async_trait;
use serde::Serialize;

pub use sql::{Dialect, SqlStore};

use crate::domain::{
    Alert, EvidenceBundle, Incident, IncidentDetail, IncidentStatus, JobKind, JobState,
    KnowledgeMatch, Stage, StageOutcome, Transition, UnixMillis,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is inconsistent: {0}")]
    Corrupt(String),
}

/// What intake did with one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Opened a new incident.
    New,
    /// Joined an existing incident.
    Grouped,
    /// The same delivery was stored before; nothing changed.
    Duplicate,
    /// Stored, but it belongs to no incident we know (a resolve for an incident never seen).
    Unlinked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReceipt {
    pub alert_id: Option<String>,
    pub incident_id: Option<String>,
    pub outcome: IngestOutcome,
    /// The job this alert queued, if any.
    pub job: Option<JobKind>,
}

/// A job claimed under a lease by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: String,
    pub incident_id: String,
    pub kind: JobKind,
    /// Counting this claim.
    pub attempt: i64,
}

/// One Slack delivery's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub key: String,
    pub incident_id: String,
    pub channel: String,
    pub kind: String,
    pub sent: bool,
    pub detail: Option<String>,
}

/// What the outbox knows of a message about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageClaim {
    /// Nobody tried to send it before: send it.
    First,
    /// An earlier attempt claimed it and did not record it sent: look for it before sending.
    Pending,
    /// Sent before, as this `ts`.
    Sent(String),
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub limit: i64,
}

/// The whole store: every role, plus what the process needs to open and close it.
#[async_trait]
pub trait Store: Ingest + Queue + Artifacts + Outbox + Feedback + Reads {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn migrate(&self) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn close(&self);
    /// Redacts rows written before intake redacted at the door (alert text, incident titles,
    /// evidence, briefs; raw bodies unless `keep_raw`). Returns how many values changed.
    async fn redact_stored(&self, keep_raw: bool) -> Result<u64, StoreError>;
}

/// Intake: what the webhook handlers need.
#[async_trait]
pub trait Ingest: Send + Sync {
    /// Stores one delivery's alerts, their incidents and jobs in one transaction.
    async fn ingest(
        &self,
        alerts: &[Alert],
        now: UnixMillis,
    ) -> Result<Vec<IngestReceipt>, StoreError>;
}

/// The job queue and the stage timeline: what the worker pool needs.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Claims the next runnable job (queued and due, or running with an expired lease).
    /// Jobs whose lease expired after `max_attempts` claims go to the dead-letter state.
    async fn claim_job(
        &self,
        worker: &str,
        now: UnixMillis,
        lease_ms: i64,
        max_attempts: u32,
    ) -> Result<Option<ClaimedJob>, StoreError>;
    /// Extends a lease; `false` when the worker no longer holds it.
    async fn extend_lease(
        &self,
        job_id: &str,
        worker: &str,
        until: UnixMillis,
    ) -> Result<bool, StoreError>;
    async fn complete_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Records a failure: queued again at `retry_at`, or dead when `retry_at` is `None`.
    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
        error: &str,
        retry_at: Option<UnixMillis>,
    ) -> Result<bool, StoreError>;
    /// Gives a job back untouched (shutdown): queued now, this claim not counted.
    async fn release_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    async fn start_stage(
        &self,
        job: &ClaimedJob,
        stage: Stage,
        now: UnixMillis,
    ) -> Result<String, StoreError>;
    /// Whether an earlier attempt of this job finished `stage` successfully (its result is
    /// stored, so a retry reuses it instead of redoing the work).
    async fn stage_succeeded(&self, job_id: &str, stage: Stage) -> Result<bool, StoreError>;
    async fn finish_stage(
        &self,
        run_id: &str,
        now: UnixMillis,
        outcome: StageOutcome,
        detail: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn job_counts(&self) -> Result<Vec<(JobState, i64)>, StoreError>;
}

/// What each stage read and produced for an incident.
#[async_trait]
pub trait Artifacts: Send + Sync {
    /// Every alert of an incident, oldest first, as intake normalised it.
    async fn alerts_for(&self, incident_id: &str) -> Result<Vec<Alert>, StoreError>;
    async fn save_evidence(
        &self,
        incident_id: &str,
        job_id: &str,
        bundle: &EvidenceBundle,
    ) -> Result<(), StoreError>;
    /// The most recently collected bundle of an incident.
    async fn latest_evidence(
        &self,
        incident_id: &str,
    ) -> Result<Option<EvidenceBundle>, StoreError>;
    /// Stores an analysed brief (as JSON; the store does not interpret it).
    async fn save_brief(
        &self,
        incident_id: &str,
        job_id: &str,
        analyst: &str,
        created_at: UnixMillis,
        brief: &serde_json::Value,
    ) -> Result<(), StoreError>;
    async fn latest_brief(
        &self,
        incident_id: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// Stores the knowledge retrieved for an incident.
    async fn save_knowledge(
        &self,
        incident_id: &str,
        job_id: &str,
        matches: &[KnowledgeMatch],
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The knowledge most recently retrieved for an incident (empty if none).
    async fn latest_knowledge(&self, incident_id: &str) -> Result<Vec<KnowledgeMatch>, StoreError>;
    /// The newest briefs of an incident, newest first.
    async fn recent_briefs(
        &self,
        incident_id: &str,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError>;
}

/// Outbound messages, each recorded by key so none is sent twice: what delivery needs.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// The Slack message carrying the incident's brief: (channel, ts).
    async fn slack_parent(&self, incident_id: &str)
    -> Result<Option<(String, String)>, StoreError>;
    async fn set_slack_parent(
        &self,
        incident_id: &str,
        channel: &str,
        ts: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Records the outcome of one Slack delivery (`key` is unique per job and kind).
    async fn record_delivery(&self, delivery: &Delivery, now: UnixMillis)
    -> Result<(), StoreError>;
    /// Claims the outbound message `key` before it is sent: the first claim, a claim an
    /// earlier attempt left pending (it may have been sent with its reply lost: look first),
    /// or a message already sent (with its `ts`).
    async fn claim_message(
        &self,
        key: &str,
        incident_id: &str,
        now: UnixMillis,
    ) -> Result<MessageClaim, StoreError>;
    /// Records that the message `key` was sent (or found) as `ts`.
    async fn message_sent(&self, key: &str, ts: &str, now: UnixMillis) -> Result<(), StoreError>;
}

/// What people and the evaluation said about briefs.
#[async_trait]
pub trait Feedback: Send + Sync {
    /// One verdict per person; a later one replaces the earlier (and keeps its note if none).
    async fn save_feedback(
        &self,
        incident_id: &str,
        user_id: &str,
        verdict: &str,
        note: Option<&str>,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Counts of `correct`, `partly`, `wrong`.
    async fn feedback_tally(&self, incident_id: &str) -> Result<(i64, i64, i64), StoreError>;
    /// Every verdict given on an incident: (user, verdict, note), oldest first.
    async fn feedback(
        &self,
        incident_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError>;
    /// Incidents someone gave feedback on, newest first.
    async fn incidents_with_feedback(&self, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Stores an evaluation scorecard.
    async fn save_eval_run(
        &self,
        analyst: &str,
        created_at: UnixMillis,
        scorecard: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// The newest evaluation scorecards, newest first.
    async fn recent_eval_runs(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError>;
}

/// Incidents as the API and the pages read them.
#[async_trait]
pub trait Reads: Send + Sync {
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    async fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, StoreError>;
}

/// How one alert changes the incident state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    Create {
        status: IncidentStatus,
        job: JobKind,
    },
    Attach {
        set_status: Option<IncidentStatus>,
        job: Option<JobKind>,
    },
    /// No open incident: join the most recent one with this key, if any, without new work.
    AttachToLatest,
}

/// Decides what an alert does, given whether its key has an open incident and whether the
/// same delivery also carries firing alerts for that key (an Alertmanager group in which one
/// alert recovered while another still fires must not resolve the incident).
pub(crate) fn plan(transition: Transition, open: bool, delivery_still_firing: bool) -> Plan {
    use IncidentStatus::{Acknowledged, Open, Resolved};
    match (transition, open) {
        (t, false) if t.is_firing() => Plan::Create {
            status: Open,
            job: JobKind::Triage,
        },
        (t, true) if t.is_firing() => Plan::Attach {
            set_status: None,
            job: Some(JobKind::Update),
        },
        (Transition::Acknowledged, false) => Plan::Create {
            status: Acknowledged,
            job: JobKind::Triage,
        },
        (Transition::Acknowledged, true) => Plan::Attach {
            set_status: Some(Acknowledged),
            job: None,
        },
        (t, true) if t.is_resolving() && !delivery_still_firing => Plan::Attach {
            set_status: Some(Resolved),
            job: Some(JobKind::Resolve),
        },
        (_, true) => Plan::Attach {
            set_status: None,
            job: None,
        },
        (_, false) => Plan::AttachToLatest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_opens_or_updates() {
        assert_eq!(
            plan(Transition::Triggered, false, true),
            Plan::Create {
                status: IncidentStatus::Open,
                job: JobKind::Triage
            }
        );
        assert_eq!(
            plan(Transition::Retriggered, true, true),
            Plan::Attach {
                set_status: None,
                job: Some(JobKind::Update)
            }
        );
    }

    #[test]
    fn recovery_resolves_only_when_nothing_in_the_delivery_still_fires() {
        assert_eq!(
            plan(Transition::Recovered, true, false),
            Plan::Attach {
                set_status: Some(IncidentStatus::Resolved),
                job: Some(JobKind::Resolve)
            }
        );
        assert_eq!(
            plan(Transition::Recovered, true, true),
            Plan::Attach {
                set_status: None,
                job: None
            }
        );
        assert_eq!(
            plan(Transition::Resolved, false, false),
            Plan::AttachToLatest
        );
    }

    #[test]
    fn unknown_events_never_open_incidents() {
        assert_eq!(plan(Transition::Other, false, false), Plan::AttachToLatest);
        assert_eq!(
            plan(Transition::Other, true, false),
            Plan::Attach {
                set_status: None,
                job: None
            }
        );
    }
}
