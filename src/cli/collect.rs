//! `triaged collect`: live evidence for one alert payload, printed (changes nothing).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{Common, read_alerts};
use crate::config::Secrets;
use crate::domain::AlertSource;
use crate::pipeline::EvidenceGatherer;

#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    common: Common,
    /// A webhook payload as the sender posts it.
    alert_file: PathBuf,
    #[arg(long)]
    source: AlertSource,
    /// Print the bundle as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: CollectArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|_| {})?;
    let alerts = read_alerts(&args.alert_file, args.source)?;
    let gatherer = EvidenceGatherer::from_settings(&settings, &Secrets::from_env())
        .await
        .map_err(anyhow::Error::msg)?;
    let bundle = gatherer
        .gather(&alerts)
        .await
        .context("the payload carries no alert")?;
    if args.json {
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
