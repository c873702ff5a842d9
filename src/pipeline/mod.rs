//! Drives incidents through their stages: [`stages`] is the triage core (each stage as a
//! function of values, shared by the daemon, the evaluation and the CLI), [`triage`] is the
//! daemon's handler that loads, runs a stage and saves, and [`worker`] claims jobs under a
//! lease and records the timeline.

pub mod stages;
pub mod triage;
pub mod worker;

pub use stages::{EvidenceGatherer, Triaged, Triager};
pub use triage::{Pipeline, StageHandler};
pub use worker::{WorkerPool, backoff_ms};
