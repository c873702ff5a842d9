//! `triaged eval`: the scenario suite scored end to end (or incidents with feedback exported
//! from the store as scenarios).

use std::path::PathBuf;

use clap::Args;

use super::Common;
use crate::app;
use crate::config::{Secrets, Settings};
use crate::eval::{self, AnalystMode, EvalOptions};

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    common: Common,
    /// The scenario directory (with `--from-store`: where to write the exported scenarios).
    dir: PathBuf,
    #[arg(long, value_enum, default_value = "rules")]
    analyst: AnalystMode,
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
    /// Leave remembered incidents (`knowledge/incidents/` of a scenario) out of retrieval.
    #[arg(long)]
    without_memory: bool,
    /// Export incidents that have feedback from the store as scenarios into DIR.
    #[arg(long)]
    from_store: bool,
    /// The layout of DIR: `scenarios` (this project's) or `opensre` (the OpenSRE synthetic
    /// benchmark: answer.yml, alert.json and evidence files per scenario).
    #[arg(long, value_enum, default_value = "scenarios")]
    format: EvalFormat,
    /// Fit the confidence calibration (raw hypothesis score → probability of naming the
    /// labelled cause) on this suite's hypotheses and print the fit.
    #[arg(long)]
    fit_calibration: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Scenarios,
    Opensre,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    // The scorecard is the output; only warnings and errors go to the log.
    let settings = args.common.open(|settings| {
        settings.telemetry.log_filter = "warn,qdrant_edge=error".into();
    })?;
    if args.from_store {
        return export(&settings, &args.dir).await;
    }
    let options = EvalOptions {
        analyst: args.analyst,
        only: args.only,
        without_memory: args.without_memory,
    };
    let secrets = Secrets::from_env();
    let scorecard = match args.format {
        EvalFormat::Scenarios => eval::run(&args.dir, &settings, &secrets, &options).await?,
        EvalFormat::Opensre => eval::opensre::run(&args.dir, &settings, &secrets, &options).await?,
    };
    print!("{}", scorecard.to_text());
    if args.fit_calibration {
        print!(
            "\n{}",
            eval::calibration::fit_scorecard(&scorecard).to_text()
        );
    }
    if let Some(path) = &args.json {
        eval::write_json(&scorecard, path)?;
    }
    if !args.no_record {
        let store = app::open_store(&settings).await?;
        store
            .save_eval_run(
                &format!("{} {}", scorecard.suite, scorecard.analyst.as_str()),
                scorecard.created_at.timestamp_millis(),
                &serde_json::to_value(&scorecard)?,
            )
            .await?;
    }
    if let Some(path) = &args.baseline
        && let Some(floor) = eval::check_baseline(&scorecard, path)?
    {
        println!("baseline hit@1 {floor:.3}: kept");
    }
    anyhow::ensure!(
        scorecard.broken.is_empty(),
        "{} scenario(s) could not be read or run (listed above as BROKEN); the others were scored",
        scorecard.broken.len()
    );
    Ok(())
}

async fn export(settings: &Settings, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = app::open_store(settings).await?;
    let written = eval::export::export(store.as_ref(), dir, 500).await?;
    for path in &written {
        println!("{}", path.display());
    }
    println!("{} incident(s) with feedback exported", written.len());
    Ok(())
}
