//! `triaged triage`: one alert payload through the triage core — evidence (live, or a bundle
//! file), retrieval on the configured index, analysis, rendering — and the brief printed.
//! Changes nothing and posts nothing.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::{Common, read_alerts};
use crate::analysis::Analyst;
use crate::catalog::ServiceCatalog;
use crate::config::Secrets;
use crate::domain::{AlertSource, EvidenceBundle};
use crate::knowledge::KnowledgeIndex;
use crate::pipeline::{EvidenceGatherer, Triager};

#[derive(Debug, Args)]
pub struct TriageArgs {
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
}

pub async fn run(args: TriageArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|_| {})?;
    let alerts = read_alerts(&args.alert_file, args.source)?;
    let evidence = match &args.evidence {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str::<EvidenceBundle>(&text)
                    .with_context(|| format!("{} is not an evidence bundle", path.display()))?,
            )
        }
        None => None,
    };
    let secrets = Secrets::from_env();
    let catalog =
        ServiceCatalog::load(&settings.collectors.services_file).map_err(anyhow::Error::msg)?;
    // With a bundle given, no collector is set up: no credential chain, no metadata probe.
    let gatherer = match evidence {
        Some(_) => None,
        None => Some(
            EvidenceGatherer::from_settings(&settings, &secrets)
                .await
                .map_err(anyhow::Error::msg)?,
        ),
    };
    // The index belongs to one process at a time: with a daemon holding it, triage runs
    // without knowledge and says so rather than failing.
    let knowledge = match KnowledgeIndex::open_configured(&settings, &secrets) {
        Ok(index) => Some(Arc::new(index)),
        Err(error) => {
            eprintln!("warning: no knowledge retrieval: {error}");
            None
        }
    };
    let triager = Triager {
        analyst: Analyst::from_settings(&settings, &secrets, catalog.clone()),
        gatherer,
        catalog,
        knowledge,
        per_corpus: settings.knowledge.per_corpus,
    };
    let triaged = triager.triage(&alerts, evidence).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&triaged.brief)?);
    } else {
        print!("{}", triaged.brief.to_text());
    }
    Ok(())
}
