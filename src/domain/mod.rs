//! Plain domain types shared by every layer. No I/O lives here.

mod alert;
pub mod entity;
mod evidence;
mod incident;
mod knowledge;
pub mod memory;
mod stage;
mod triage;

pub use alert::{Alert, AlertSource, Tag, Transition};
pub use evidence::{
    EvidenceBundle, EvidenceItem, Series, SourceReport, SourceStatus, Targets, Window,
};
pub use incident::{
    AlertRecord, Incident, IncidentDetail, IncidentStatus, JobKind, JobRecord, JobState, Stage,
    StageOutcome, StageRun,
};
pub use knowledge::KnowledgeMatch;
pub use stage::{StageError, StageReport};
pub use triage::{Category, Confidence, Severity};

/// Milliseconds since the Unix epoch: the one timestamp representation the store uses,
/// identical in SQLite and PostgreSQL.
pub type UnixMillis = i64;
