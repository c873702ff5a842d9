//! `triaged replay`: analysis re-run on a stored incident's evidence and knowledge, the stored
//! and the new brief side by side. Changes nothing.

use clap::Args;

use super::Common;
use crate::analysis::Analyst;
use crate::app;
use crate::catalog::ServiceCatalog;
use crate::config::Secrets;
use crate::eval::replay;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    incident_id: String,
    /// The model to ask instead of the configured one.
    #[arg(long)]
    model: Option<String>,
    /// Use the rules analyst.
    #[arg(long)]
    rules: bool,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|settings| {
        if let Some(model) = args.model {
            settings.llm.fast_model = model;
            settings.llm.strong_model = String::new();
        }
    })?;
    let store = app::open_store(&settings).await?;
    let catalog =
        ServiceCatalog::load(&settings.collectors.services_file).map_err(anyhow::Error::msg)?;
    let secrets = if args.rules {
        Secrets::default()
    } else {
        Secrets::from_env()
    };
    let analyst = Analyst::from_settings(&settings, &secrets, catalog);
    let (old, new) = replay::replay(store.as_ref(), &analyst, &args.incident_id).await?;
    let old_text = old.map_or_else(|| "(no stored brief)".to_string(), |b| b.to_text());
    println!(
        "{}",
        replay::side_by_side(
            &format!("STORED\n\n{old_text}"),
            &format!("REPLAYED\n\n{}", new.to_text()),
            70
        )
    );
    Ok(())
}
