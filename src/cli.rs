//! Command-line interface: parse arguments, load settings, dispatch to a verb.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Secrets, Settings};
use crate::domain::AlertSource;
use crate::pipeline::EvidenceGatherer;
use crate::{app, bench, demo, telemetry};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: webhook intake, workers, API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (overrides server.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Accept webhooks from sources that have no secret configured. Dangerous.
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Gather live evidence for an alert payload and print the bundle and source reports
    /// (checks credentials and targeting; changes nothing).
    Collect {
        #[command(flatten)]
        common: Common,
        /// A webhook payload as the sender posts it.
        alert_file: PathBuf,
        #[arg(long)]
        source: AlertSource,
        /// Print the bundle as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Analyse one alert payload once and print the brief (evidence gathered live, or read
    /// from a bundle file); changes nothing and posts nothing.
    Triage {
        #[command(flatten)]
        common: Common,
        alert_file: PathBuf,
        #[arg(long)]
        source: AlertSource,
        /// An evidence bundle (JSON, as `collect --json` prints) instead of live collection.
        #[arg(long, value_name = "FILE")]
        evidence: Option<PathBuf>,
        /// Print the brief as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Index runbooks and post-mortems into `<data_dir>/index` (unchanged chunks are skipped).
    /// Paths given without a flag go to the corpus their path names (`postmortems` or
    /// `runbooks`); the configured [knowledge] paths are indexed too.
    Index {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_name = "PATH")]
        runbooks: Vec<PathBuf>,
        #[arg(long, value_name = "PATH")]
        postmortems: Vec<PathBuf>,
        #[arg(long, value_name = "PATH")]
        terraform: Vec<PathBuf>,
        #[arg(long, value_name = "PATH")]
        code: Vec<PathBuf>,
        #[arg(long, value_name = "PATH")]
        schema: Vec<PathBuf>,
        paths: Vec<PathBuf>,
    },
    /// Search the knowledge index the way the pipeline does, or score it on a labelled
    /// query set (`--labelled tests/retrieval/queries.toml`: recall@k and MRR).
    Search {
        #[command(flatten)]
        common: Common,
        #[arg(required_unless_present = "labelled")]
        query: Option<String>,
        /// Best matches per corpus.
        #[arg(long, default_value_t = 3)]
        k: usize,
        /// Only these corpora (repeatable).
        #[arg(long, value_name = "CORPUS")]
        corpus: Vec<String>,
        #[arg(long, value_name = "FILE", conflicts_with = "query")]
        labelled: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Score the triage on a scenario suite (`tests/scenarios`): every scenario runs
    /// through parsing, targets, retrieval on a fresh index, analysis and rendering.
    Eval {
        #[command(flatten)]
        common: Common,
        /// The scenario directory (with `--from-store`: where to write the exported scenarios).
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "rules")]
        analyst: crate::eval::AnalystMode,
        /// Also write the scorecard as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Exit non-zero when root-cause hit@1 falls below the baseline in this file.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Only scenarios whose name contains this (repeatable).
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Do not record the scorecard in the store (it is shown on /eval).
        #[arg(long)]
        no_record: bool,
        /// Export incidents that have feedback from the store as scenarios into DIR.
        #[arg(long)]
        from_store: bool,
    },
    /// Re-run analysis on a stored incident's evidence and knowledge; show the stored and the
    /// new brief side by side. Changes nothing.
    Replay {
        #[command(flatten)]
        common: Common,
        incident_id: String,
        /// The model to ask instead of the configured one.
        #[arg(long)]
        model: Option<String>,
        /// Use the rules analyst.
        #[arg(long)]
        rules: bool,
    },
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

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Report every configuration problem at once; exit non-zero if there are any.
    Check {
        #[command(flatten)]
        common: Common,
        /// Also accept webhook sources without secrets (as `serve --insecure-no-auth`).
        #[arg(long)]
        insecure_no_auth: bool,
    },
}

fn load(common: &Common) -> Result<Settings, ExitCode> {
    match Settings::load(common.config.as_deref()) {
        Ok(mut settings) => {
            if let Some(dir) = &common.data_dir {
                settings.server.data_dir = dir.clone();
            }
            Ok(settings)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Err(ExitCode::from(2))
        }
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve {
            common,
            listen,
            insecure_no_auth,
        } => {
            let mut settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Some(listen) = listen {
                settings.server.listen = listen;
            }
            telemetry::init_tracing(&settings.telemetry);
            let problems = settings.problems();
            if !problems.is_empty() {
                eprintln!("{}", crate::config::ConfigErrors(problems));
                return ExitCode::from(2);
            }
            let secrets = Secrets::from_env();
            if let Err(error) = app::check_webhook_auth(&settings, &secrets, insecure_no_auth) {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
            report(app::serve(settings, secrets).await)
        }
        Command::Collect {
            common,
            alert_file,
            source,
            json,
        } => {
            let settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            telemetry::init_tracing(&settings.telemetry);
            report(collect(&settings, &alert_file, source, json).await)
        }
        Command::Triage {
            common,
            alert_file,
            source,
            evidence,
            json,
        } => {
            let settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            telemetry::init_tracing(&settings.telemetry);
            report(triage(&settings, &alert_file, source, evidence.as_deref(), json).await)
        }
        Command::Index {
            common,
            runbooks,
            postmortems,
            terraform,
            code,
            schema,
            paths,
        } => {
            let mut settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            telemetry::init_tracing(&settings.telemetry);
            let k = &mut settings.knowledge;
            for path in paths {
                match corpus_of(&path) {
                    "postmortems" => k.postmortems.push(path),
                    "terraform" => k.terraform.push(path),
                    "code" => k.code.push(path),
                    "schema" => k.schema.push(path),
                    _ => k.runbooks.push(path),
                }
            }
            k.runbooks.extend(runbooks);
            k.postmortems.extend(postmortems);
            k.terraform.extend(terraform);
            k.code.extend(code);
            k.schema.extend(schema);
            report(index(&settings))
        }
        Command::Search {
            common,
            query,
            k,
            corpus,
            labelled,
        } => {
            let mut settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            settings.knowledge.index_on_start = false;
            if let Some(path) = labelled {
                let scored = crate::knowledge::labelled::load(&path)
                    .map_err(anyhow::Error::msg)
                    .and_then(|queries| {
                        let index = app::open_knowledge(&settings, &Secrets::from_env())?;
                        Ok(crate::knowledge::labelled::evaluate(&index, &queries)?)
                    });
                return report(scored.map(|score| print!("{}", score.to_text())));
            }
            let query = query.unwrap_or_default();
            let found = app::open_knowledge(&settings, &Secrets::from_env())
                .and_then(|index| Ok(index.search(&query, k)?));
            report(found.map(|matches| {
                let matches: Vec<_> = matches
                    .into_iter()
                    .filter(|m| corpus.is_empty() || corpus.contains(&m.corpus))
                    .collect();
                if matches.is_empty() {
                    println!("no matches");
                }
                for m in matches {
                    println!(
                        "{:.2}  {}  {}  ({})",
                        m.score,
                        m.id,
                        m.title,
                        m.source.as_deref().unwrap_or("")
                    );
                }
            }))
        }
        Command::Migrate { common } => {
            let settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            telemetry::init_tracing(&settings.telemetry);
            report(app::open_store(&settings).await.map(|store| {
                println!("migrations applied ({})", store.backend());
            }))
        }
        Command::Config {
            command:
                ConfigCommand::Check {
                    common,
                    insecure_no_auth,
                },
        } => {
            let settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut problems = settings.problems();
            if !insecure_no_auth {
                problems.extend(Secrets::from_env().missing_for(&settings.intake.sources));
            }
            if problems.is_empty() {
                println!("configuration ok");
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", crate::config::ConfigErrors(problems));
                ExitCode::from(2)
            }
        }
        Command::Demo(args) => {
            telemetry::init_tracing(&crate::config::TelemetrySettings {
                log_filter: "error".into(),
                ..Default::default()
            });
            report(demo::run(args).await)
        }
        Command::Healthcheck { url } => report(healthcheck(&url).await),
        Command::Bench(args) => report(bench::run(args).await),
        Command::Eval {
            common,
            dir,
            analyst,
            json,
            baseline,
            only,
            no_record,
            from_store,
        } => {
            let mut settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            // The scorecard is the output; only warnings and errors go to the log.
            settings.telemetry.log_filter = "warn,qdrant_edge=error".into();
            telemetry::init_tracing(&settings.telemetry);
            let options = crate::eval::EvalOptions { analyst, only };
            let result = if from_store {
                export(&settings, &dir).await
            } else {
                eval(&settings, &dir, &options, json, baseline, !no_record).await
            };
            report(result)
        }
        Command::Replay {
            common,
            incident_id,
            model,
            rules,
        } => {
            let mut settings = match load(&common) {
                Ok(s) => s,
                Err(code) => return code,
            };
            telemetry::init_tracing(&settings.telemetry);
            if let Some(model) = model {
                settings.llm.fast_model = model;
                settings.llm.strong_model = String::new();
            }
            report(replay(&settings, &incident_id, rules).await)
        }
    }
}

/// The corpus a path given without a flag belongs to, from its name.
fn corpus_of(path: &std::path::Path) -> &'static str {
    let name = path.to_string_lossy().to_lowercase();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if name.contains("postmortem") || name.contains("post-mortem") {
        "postmortems"
    } else if name.contains("terraform") || ext == "tf" {
        "terraform"
    } else if name.contains("schema") || name.contains("metric") {
        "schema"
    } else if name.contains("runbook") || matches!(ext, "md" | "markdown" | "html" | "htm") {
        "runbooks"
    } else if crate::knowledge::code::Lang::from_path(path).is_some()
        || name.ends_with("src")
        || name.contains("/src/")
        || name.contains("code")
    {
        "code"
    } else {
        "runbooks"
    }
}

/// `triaged index`: a progress bar on a terminal, a log line every few seconds otherwise,
/// and a summary at the end.
fn index(settings: &Settings) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let started = std::time::Instant::now();
    let mut settings = settings.clone();
    settings.knowledge.index_on_start = false;
    let index = app::open_knowledge(&settings, &Secrets::from_env())?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let mut last_log = std::time::Instant::now();
    let mut progress = |corpus: &str, p: crate::knowledge::Progress| {
        let (what, done, total) = match p {
            crate::knowledge::Progress::Chunking { done, total } => ("chunking", done, total),
            crate::knowledge::Progress::Writing { done, total } => ("writing", done, total),
        };
        match &bar {
            Some(bar) => {
                bar.set_message(format!("{corpus}: {what}"));
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None if last_log.elapsed() >= std::time::Duration::from_secs(5) => {
                last_log = std::time::Instant::now();
                tracing::info!(corpus, what, done, total, "indexing");
            }
            None => {}
        }
    };
    let report = app::index_configured(&settings.knowledge, &index, &mut progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for failure in &report.failed {
        eprintln!("skipped {failure}");
    }
    println!(
        "{} files, {} chunks: {} indexed, {} unchanged (skipped), {} deleted, {} files failed, in {:.1} s; {} chunks in the index",
        report.files,
        report.chunks,
        report.indexed,
        report.unchanged,
        report.removed,
        report.failed.len(),
        started.elapsed().as_secs_f64(),
        index.len()
    );
    Ok(())
}

fn read_alerts(
    file: &std::path::Path,
    source: AlertSource,
) -> anyhow::Result<Vec<crate::domain::Alert>> {
    use anyhow::Context;
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let alerts = crate::intake::parse(
        source,
        &crate::intake::Delivery {
            body: &body,
            header_delivery_id: None,
            received_at: chrono::Utc::now(),
        },
    )?;
    anyhow::ensure!(!alerts.is_empty(), "the payload carries no alert");
    Ok(alerts)
}

async fn triage(
    settings: &Settings,
    file: &std::path::Path,
    source: AlertSource,
    evidence: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let alerts = read_alerts(file, source)?;
    let secrets = Secrets::from_env();
    let gatherer = EvidenceGatherer::from_settings(settings, &secrets)
        .await
        .map_err(anyhow::Error::msg)?;
    let bundle = match evidence {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not an evidence bundle", path.display()))?
        }
        None => gatherer
            .gather(&alerts)
            .await
            .context("the payload carries no alert")?,
    };
    let alert = crate::domain::Alert::current(&alerts).context("the payload carries no alert")?;
    let analyst =
        crate::analysis::Analyst::from_settings(settings, &secrets, gatherer.catalog.clone());
    let brief = analyst.analyse(alert, &bundle, &[]).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&brief)?);
    } else {
        print!("{}", brief.to_text());
    }
    Ok(())
}

async fn collect(
    settings: &Settings,
    file: &std::path::Path,
    source: AlertSource,
    json: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let alerts = read_alerts(file, source)?;
    let gatherer = EvidenceGatherer::from_settings(settings, &Secrets::from_env())
        .await
        .map_err(anyhow::Error::msg)?;
    let bundle = gatherer
        .gather(&alerts)
        .await
        .context("the payload carries no alert")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&bundle)?);
        return Ok(());
    }
    println!(
        "window {} → {} (onset {})",
        bundle.window.start.format("%H:%M"),
        bundle.window.end.format("%H:%M"),
        bundle.window.onset.format("%H:%M")
    );
    println!("targets: {}", serde_json::to_string(&bundle.targets)?);
    println!("\nsources:");
    for report in &bundle.reports {
        println!("  {} ({} ms)", report.describe(), report.elapsed_ms);
    }
    println!("\nevidence:");
    for item in &bundle.items {
        println!("  [{:.2}] {}  {}", item.anomaly, item.id, item.summary);
    }
    if !bundle.dropped.is_empty() {
        println!("\ndropped to fit the budget: {}", bundle.dropped.join(", "));
    }
    Ok(())
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

async fn eval(
    settings: &Settings,
    dir: &std::path::Path,
    options: &crate::eval::EvalOptions,
    json: Option<PathBuf>,
    baseline: Option<PathBuf>,
    record: bool,
) -> anyhow::Result<()> {
    let scorecard = crate::eval::run(dir, settings, &Secrets::from_env(), options).await?;
    print!("{}", scorecard.to_text());
    if let Some(path) = &json {
        crate::eval::write_json(&scorecard, path)?;
    }
    if record {
        let store = app::open_store(settings).await?;
        store
            .save_eval_run(
                scorecard.analyst.as_str(),
                scorecard.created_at.timestamp_millis(),
                &serde_json::to_value(&scorecard)?,
            )
            .await?;
    }
    if let Some(path) = &baseline
        && let Some(floor) = crate::eval::check_baseline(&scorecard, path)?
    {
        println!("baseline hit@1 {floor:.3}: kept");
    }
    Ok(())
}

async fn export(settings: &Settings, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = app::open_store(settings).await?;
    let written = crate::eval::export::export(store.as_ref(), dir, 500).await?;
    for path in &written {
        println!("{}", path.display());
    }
    println!("{} incident(s) with feedback exported", written.len());
    Ok(())
}

async fn replay(settings: &Settings, incident_id: &str, rules: bool) -> anyhow::Result<()> {
    let store = app::open_store(settings).await?;
    let catalog =
        crate::pipeline::targets::ServiceCatalog::load(&settings.collectors.services_file)
            .map_err(anyhow::Error::msg)?;
    let secrets = if rules {
        Secrets::default()
    } else {
        Secrets::from_env()
    };
    let analyst = crate::analysis::Analyst::from_settings(settings, &secrets, catalog);
    let (old, new) = crate::eval::replay::replay(store.as_ref(), &analyst, incident_id).await?;
    let old_text = old.map_or_else(|| "(no stored brief)".to_string(), |b| b.to_text());
    println!(
        "{}",
        crate::eval::replay::side_by_side(
            &format!("STORED\n\n{old_text}"),
            &format!("REPLAYED\n\n{}", new.to_text()),
            70
        )
    );
    Ok(())
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
