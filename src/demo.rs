//! `triaged demo`: the whole product on a fresh machine with no accounts. It indexes the
//! bundled knowledge base of the scenario platform, starts the real server on embedded
//! defaults, sends scenario webhooks over HTTP exactly as their senders would (signed), waits
//! for the briefs, prints them, records a scorecard of the scenario suite for `/eval`, and keeps
//! serving so the pages and the API can be opened.
//!
//! No live source is configured, so each scenario's recorded evidence bundle is served back
//! through the live pipeline by the `recorded` collector (and every live source says it is
//! not configured).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use crate::app;
use crate::config::{Secrets, Settings};
use crate::domain::{AlertSource, IncidentDetail, JobState};
use crate::eval::scenario::Scenario;
use crate::intake::auth::pagerduty_signature;
use crate::store::IncidentFilter;

/// The scenarios the demo sends, one per sender.
const SCENARIOS: [&str; 4] = [
    "cache-outage-pool-exhaustion",
    "red-herring-deploy-nightly-job",
    "oomkilled-large-payloads",
    "third-party-payments-outage",
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (default: a fresh temporary one).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The scenario suite to take webhooks, evidence and knowledge from.
    #[arg(long, value_name = "DIR", default_value = "tests/scenarios")]
    pub scenarios: PathBuf,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Exit after printing the briefs instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let root = &args.scenarios;
    anyhow::ensure!(
        root.join("base/knowledge").is_dir(),
        "{} has no base/knowledge: run the demo from the repository root or pass --scenarios",
        root.display()
    );
    let scratch = tempfile::tempdir()?;
    let mut settings = Settings::default();
    settings.server.listen = args.listen.clone();
    settings.server.data_dir = args
        .data_dir
        .unwrap_or_else(|| scratch.path().to_path_buf());
    settings.workers.poll_interval_ms = 50;
    // No account is needed: live sources say they are not configured, and the scenarios'
    // recorded evidence is served back for the alerts they belong to.
    settings.kubernetes.enabled = false;
    settings.aws.enabled = false;
    settings.collectors.recorded = vec![root.clone()];
    settings.collectors.services_file = root.join("base/services.toml");
    settings.collectors.lookback_mins = 60;
    settings.knowledge.runbooks = vec![root.join("base/knowledge/runbooks")];
    settings.knowledge.postmortems = vec![root.join("base/knowledge/postmortems")];
    settings.knowledge.terraform = vec![root.join("base/knowledge/terraform")];
    settings.knowledge.code = vec![root.join("base/knowledge/code")];
    settings.knowledge.schema = vec![root.join("base/knowledge/schema")];
    let token = uuid::Uuid::new_v4().simple().to_string();
    let pd_secret = uuid::Uuid::new_v4().simple().to_string();
    let secrets = Secrets {
        pagerduty_webhook_secrets: vec![SecretString::from(pd_secret.clone())],
        webhook_token: Some(SecretString::from(token.clone())),
        ..Secrets::default()
    };

    let store = app::open_store(&settings).await?;
    let handler = app::pipeline(&settings, &secrets, Arc::clone(&store)).await?;
    let running = match app::start(settings.clone(), secrets, Arc::clone(&store), handler).await {
        Ok(running) => running,
        Err(error) if args.listen != "127.0.0.1:0" => {
            return Err(error.context(format!(
                "could not serve on {} (pass --listen 127.0.0.1:0 for any free port)",
                args.listen
            )));
        }
        Err(error) => return Err(error),
    };
    let base = format!("http://{}", running.addr);
    println!(
        "triaged listening on {base} (SQLite and the knowledge index in {})\n",
        settings.server.data_dir.display()
    );

    let client = reqwest::Client::new();
    for (n, name) in SCENARIOS.iter().enumerate() {
        let scenario = Scenario::load(&root.join(name)).map_err(anyhow::Error::msg)?;
        let source = scenario.file.source;
        let mut request = client
            .post(format!("{base}/webhooks/{source}"))
            .header("content-type", "application/json")
            .body(scenario.payload.clone());
        request = match source {
            AlertSource::Datadog => request.header("x-triaged-token", &token),
            AlertSource::Alertmanager => request.bearer_auth(&token),
            AlertSource::Pagerduty => request
                .header(
                    "x-pagerduty-signature",
                    pagerduty_signature(&pd_secret, &scenario.payload),
                )
                .header("x-webhook-id", format!("demo-{n}")),
        };
        let response = request.send().await.context("posting a webhook")?;
        println!(
            "POST /webhooks/{source:<12} → {}  ({name})",
            response.status()
        );
    }
    let forged = client
        .post(format!("{base}/webhooks/datadog"))
        .header("content-type", "application/json")
        .header("x-triaged-token", "wrong-token")
        .body("{}")
        .send()
        .await?;
    println!(
        "POST /webhooks/datadog      → {}  (a wrong token: refused, nothing stored)",
        forged.status()
    );

    let details = wait_for_briefs(store.as_ref()).await?;
    println!("\nincidents:");
    for detail in details.iter().rev() {
        print_incident(detail);
    }

    // The scorecard of the whole suite, for /eval.
    let options = crate::eval::EvalOptions {
        analyst: crate::eval::AnalystMode::Rules,
        only: Vec::new(),
        without_memory: false,
    };
    let scorecard = crate::eval::run(root, &settings, &Secrets::default(), &options).await?;
    store
        .save_eval_run(
            "rules",
            scorecard.created_at.timestamp_millis(),
            &serde_json::to_value(&scorecard)?,
        )
        .await?;
    println!(
        "\nscenario suite: root-cause hit@1 {:.0}% over {} scenarios (details on {base}/eval)",
        scorecard.hit_at_1 * 100.0,
        scorecard.scenarios
    );

    println!(
        "\npages: {base}/ · evaluation: {base}/eval · knowledge: {base}/knowledge?q=redis · JSON: {base}/api/incidents"
    );
    if !args.once {
        println!("serving until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    running.shutdown();
    running.wait().await
}

/// Waits until no job is queued or running, then returns every incident.
async fn wait_for_briefs(store: &dyn crate::store::Store) -> anyhow::Result<Vec<IncidentDetail>> {
    let mut details: Vec<IncidentDetail> = Vec::new();
    for _ in 0..300 {
        details.clear();
        for incident in store
            .list_incidents(&IncidentFilter {
                status: None,
                limit: 50,
            })
            .await?
        {
            if let Some(detail) = store.incident(&incident.id).await? {
                details.push(detail);
            }
        }
        let pending = details
            .iter()
            .flat_map(|d| &d.jobs)
            .any(|j| matches!(j.state, JobState::Queued | JobState::Running));
        if !pending && !details.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(details)
}

fn print_incident(detail: &IncidentDetail) {
    let incident = &detail.incident;
    println!(
        "\n  {}  [{}] {}\n    source {} · priority {} · service {}",
        incident.id,
        incident.status.as_str(),
        incident.title,
        incident.source,
        incident.priority.as_deref().unwrap_or("-"),
        incident.service.as_deref().unwrap_or("-"),
    );
    for stage in &detail.stages {
        let detail: String = stage
            .detail
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(150)
            .collect();
        println!(
            "      {:<8} {:<8} {:>4} ms  {detail}",
            stage.stage.as_str(),
            stage.outcome.as_str(),
            stage.ended_at.map_or(0, |end| end - stage.started_at),
        );
    }
    match detail
        .brief
        .clone()
        .map(|b| crate::analysis::Brief::from_stored(&detail.incident.id, b))
    {
        Some(Ok(brief)) => {
            println!("\n    ── brief ──");
            for line in brief.to_text().lines() {
                println!("    {line}");
            }
        }
        Some(Err(error)) => println!("\n    {error}"),
        None => {}
    }
}
