//! Integration tests, compiled as one binary: a real daemon on port 0 per test, real SQLite
//! and PostgreSQL stores.

mod analysis;
mod aws;
mod chaos;
mod cli;
mod collectors;
mod deploy;
mod eval;
mod helpers;
mod intake;
mod knowledge;
mod layers;
mod memory;
mod model_server;
mod pages;
mod qdrant;
mod reliability;
mod slack;
mod store;
mod webhooks;
mod workers;
mod writeback;
