//! `triaged serve`: the daemon.

use clap::Args;

use super::{Common, Refused};
use crate::app;
use crate::config::{ConfigErrors, Secrets};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Accept webhooks from sources that have no secret configured. Dangerous.
    #[arg(long)]
    insecure_no_auth: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|settings| {
        if let Some(listen) = args.listen {
            settings.server.listen = listen;
        }
    })?;
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ConfigErrors(problems).into());
    }
    let secrets = Secrets::from_env();
    app::check_webhook_auth(&settings, &secrets, args.insecure_no_auth)
        .map_err(|error| Refused(error.to_string()))?;
    app::serve(settings, secrets).await
}
