use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    triaged::cli::run(triaged::cli::Cli::parse()).await
}
