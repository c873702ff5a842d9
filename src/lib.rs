//! triaged: an incident triage daemon.
//!
//! Layout, lowest layer first. A module imports only from modules above it in this list, never
//! from one below, so there is no import cycle (`tests/api/layers.rs` keeps this true):
//!
//! 1. `domain`     — plain types, no I/O: alerts, incidents, jobs, evidence, knowledge matches,
//!    the triage vocabulary (category, severity, confidence), stage reports and errors
//! 2. `catalog`    — the service catalog and target resolution (which workloads, databases,
//!    zones an alert is about)
//!    `config`     — typed settings from `config/triaged.toml` + `TRIAGED__*`; secrets from env
//!    `telemetry`  — tracing subscriber and the Prometheus recorder
//!    `redact`     — secrets and personal data out of every collected or written string
//!    `store`      — durable alerts, incidents, job queue, artifacts, Slack outbox (SQLite/PostgreSQL)
//! 3. `intake`     — webhook authentication and parsing per sender (bytes in, `Alert` out)
//!    `signals`    — deterministic findings in an evidence bundle (a rollout before the onset, …)
//!    `diagnosis`  — hypotheses proposed by the signals, tested for and against by named checks
//!    `knowledge`  — six corpora chunked, indexed (Qdrant Edge or server; BM25 + optional
//!    dense, one fusion in the client) and retrieved
//!    `collectors` — live read-only context (Datadog, Kubernetes, AWS, Cloudflare) under deadlines
//!    `analysis`   — the prompt, the model client, validation, the rules analyst, the brief
//! 4. `memory`     — incident memory: resolved incidents and feedback written as records and
//!    indexed as the `incidents` corpus
//!    `notify`     — delivery: the progressive card, Slack Block Kit (post, update, threads,
//!    feedback) or the log, write-back to PagerDuty notes and Datadog events
//!    `pipeline`   — the triage core (`stages`: gather → retrieve → analyse → render as
//!    functions of values), the daemon's stage handler and the worker pool
//! 5. `bench`      — `triaged bench`: end-to-end overhead, intake, storm, retrieval, memory
//!    `eval`       — `triaged eval` (scenarios scored end to end), `replay`, export from the store
//!    `web`        — HTTP routes: webhooks, JSON API, knowledge sync, pages, health, metrics
//!    `app`        — wiring: builds the server and worker pool; runs until a signal; drains
//!    `demo`       — `triaged demo`: the daemon on embedded defaults fed scenario webhooks
//!    `cli`        — one file per verb; the binary is a thin wrapper over it

pub mod domain;

pub mod catalog;
pub mod config;
pub mod redact;
pub mod store;
pub mod telemetry;

pub mod analysis;
pub mod collectors;
pub mod diagnosis;
pub mod intake;
pub mod knowledge;
pub mod signals;

pub mod memory;
pub mod notify;
pub mod pipeline;

pub mod app;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod eval;
pub mod web;
