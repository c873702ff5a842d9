//! Command-line interface: one file per verb, each with its arguments and its `run`; this file
//! holds the verb list, the options every verb shares and the one opening (settings, data
//! directory, logging) they all go through.

mod collect;
mod config;
mod eval;
mod index;
mod migrate;
mod replay;
mod search;
mod serve;
mod triage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigErrors, Settings};
use crate::{bench, demo, telemetry};

#[derive(Debug, Parser)]
#[command(name = "triaged", version, about = "Incident triage daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb accepts, so one data directory serves them all.
#[derive(Debug, Args)]
pub struct Common {
    /// Settings file (default: config/triaged.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory for the SQLite database and the index.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Common {
    /// The settings with `--data-dir` applied; nothing is logged yet.
    fn load(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            settings.server.data_dir = dir.clone();
        }
        Ok(settings)
    }

    /// The shared opening: the settings, adjusted by the verb, then logging as they say.
    fn open(&self, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Settings> {
        let mut settings = self.load()?;
        adjust(&mut settings);
        telemetry::init_tracing(&settings.telemetry);
        Ok(settings)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook intake, workers, API.
    Serve(serve::ServeArgs),
    /// Gather live evidence for an alert payload and print the bundle and source reports
    /// (checks credentials and targeting; changes nothing).
    Collect(collect::CollectArgs),
    /// Analyse one alert payload once and print the brief (evidence gathered live, or read
    /// from a bundle file), retrieving knowledge as the daemon does; changes nothing and posts
    /// nothing.
    Triage(triage::TriageArgs),
    /// Index runbooks and post-mortems into `<data_dir>/index` (unchanged chunks are skipped).
    /// Paths given without a flag go to the corpus their path names (`postmortems` or
    /// `runbooks`); the configured [knowledge] paths are indexed too.
    Index(index::IndexArgs),
    /// Search the knowledge index the way the pipeline does, or score it on a labelled
    /// query set (`--labelled tests/retrieval/queries.toml`: recall@k and MRR).
    Search(search::SearchArgs),
    /// Apply database migrations and exit.
    Migrate(migrate::MigrateArgs),
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Score the triage on a scenario suite (`tests/scenarios`): every scenario runs
    /// through parsing, targets, retrieval on a fresh index, analysis and rendering.
    Eval(eval::EvalArgs),
    /// Re-run analysis on a stored incident's evidence and knowledge; show the stored and the
    /// new brief side by side. Changes nothing.
    Replay(replay::ReplayArgs),
    /// Run the daemon on embedded defaults, feed it sample webhooks and show the result.
    Demo(demo::DemoArgs),
    /// Exit 0 when the daemon answers at URL (for container health checks without curl).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Measure intake latency and throughput and the daemon's memory.
    Bench(bench::BenchArgs),
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Collect(args) => collect::run(args).await,
        Command::Triage(args) => triage::run(args).await,
        Command::Index(args) => index::run(args),
        Command::Search(args) => search::run(args),
        Command::Migrate(args) => migrate::run(args).await,
        Command::Config { command } => config::run(command),
        Command::Eval(args) => eval::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Demo(args) => {
            telemetry::init_tracing(&crate::config::TelemetrySettings {
                log_filter: "error".into(),
                ..Default::default()
            });
            demo::run(args).await
        }
        Command::Healthcheck { url } => healthcheck(&url).await,
        Command::Bench(args) => bench::run(args).await,
    };
    report(result)
}

/// A refusal to start that is the operator's to fix (exit 2, like a configuration problem).
#[derive(Debug, thiserror::Error)]
#[error("error: {0}")]
pub struct Refused(pub String);

/// Exit 0 on success; 2 with every problem listed for configuration errors and refusals; 1
/// with the error and its causes otherwise.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<ConfigErrors>() || error.is::<Refused>() => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(url: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}

/// Reads a webhook payload from a file as its sender would post it.
fn read_alerts(
    file: &std::path::Path,
    source: crate::domain::AlertSource,
) -> anyhow::Result<Vec<crate::domain::Alert>> {
    use anyhow::Context;
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let alerts = crate::intake::parse(
        source,
        &crate::intake::Delivery {
            body: &body,
            header_delivery_id: None,
            received_at: chrono::Utc::now(),
            keep_raw: false,
        },
    )?;
    anyhow::ensure!(!alerts.is_empty(), "the payload carries no alert");
    Ok(alerts)
}
