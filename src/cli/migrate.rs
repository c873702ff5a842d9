//! `triaged migrate`: apply the database migrations and exit; with `--redact-stored`, also
//! redact rows written before intake redacted at the door.

use clap::Args;

use super::Common;
use crate::app;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    common: Common,
    /// Redact secrets and personal data in every stored alert, incident title, evidence
    /// bundle and brief (raw bodies too unless `intake.keep_raw`). Safe to run again.
    #[arg(long)]
    redact_stored: bool,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|_| {})?;
    let store = app::open_store(&settings).await?;
    println!("migrations applied ({})", store.backend());
    if args.redact_stored {
        let changed = store.redact_stored(settings.intake.keep_raw).await?;
        println!("{changed} stored value(s) redacted");
    }
    store.close().await;
    Ok(())
}
