//! `triaged migrate`: apply the database migrations and exit.

use clap::Args;

use super::Common;
use crate::app;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    common: Common,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|_| {})?;
    let store = app::open_store(&settings).await?;
    println!("migrations applied ({})", store.backend());
    Ok(())
}
