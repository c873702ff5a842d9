//! Drives incidents through their stages: [`worker`] claims jobs under a lease and records the
//! timeline; [`triage`] is what each stage does.

pub mod targets;
pub mod triage;
pub mod worker;

pub use triage::{EvidenceGatherer, Pipeline, StageError, StageHandler, StageReport};
pub use worker::{WorkerPool, backoff_ms};
