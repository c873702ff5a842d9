//! triaged: an incident triage daemon.
//!
//! Layout:
//! - `cli`       — argument parsing and verb dispatch (the binary is a thin wrapper)
//! - `config`    — typed settings from `config/triaged.toml` + `TRIAGED__*`; secrets from env
//! - `telemetry` — tracing subscriber and the Prometheus recorder
//! - `app`       — builds the server and worker pool; runs until a signal; drains
//! - `domain`    — plain types: alerts, incidents, jobs, stages (no I/O)
//! - `intake`    — webhook authentication and parsing per sender (bytes in, `Alert` out)
//! - `store`     — durable alerts, incidents, job queue and stage timeline (SQLite/PostgreSQL)
//! - `collectors` — live read-only context (Datadog, Kubernetes, AWS, Cloudflare) under deadlines
//! - `analysis`  — signals, redaction, the prompt, the model client, validation, rules analyst
//! - `knowledge` — five corpora chunked, indexed (Qdrant Edge or server; BM25 + optional dense, RRF) and retrieved
//! - `notify`    — delivery: Slack Block Kit (post, update, threads, feedback) or the log
//! - `pipeline`  — the worker pool (claim, lease, retry) and the stages each job runs
//! - `web`       — HTTP routes: webhooks, JSON API, knowledge sync, pages, health, metrics
//! - `eval`      — `triaged eval` (scenarios scored end to end), `replay`, export from the store
//! - `demo`      — `triaged demo`: the daemon on embedded defaults fed scenario webhooks
//! - `bench`     — `triaged bench`: end-to-end overhead, intake, storm, retrieval, memory

pub mod analysis;
pub mod app;
pub mod bench;
pub mod cli;
pub mod collectors;
pub mod config;
pub mod demo;
pub mod domain;
pub mod eval;
pub mod intake;
pub mod knowledge;
pub mod notify;
pub mod pipeline;
pub mod store;
pub mod telemetry;
pub mod web;
