//! `triaged config check`: every configuration problem at once.

use clap::Subcommand;

use super::Common;
use crate::config::{ConfigErrors, Secrets};

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

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Check {
        common,
        insecure_no_auth,
    } = command;
    let settings = common.load()?;
    for warning in settings.warnings() {
        eprintln!("warning: {warning}");
    }
    let mut problems = settings.problems();
    if !insecure_no_auth {
        problems.extend(Secrets::from_env().missing_for(&settings.intake.sources));
    }
    if !problems.is_empty() {
        return Err(ConfigErrors(problems).into());
    }
    println!("configuration ok");
    Ok(())
}
