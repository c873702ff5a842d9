//! `triaged demo`: the daemon on embedded defaults, fed the sample webhooks in
//! `config/samples/` over real HTTP, with what it made of them printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use crate::app;
use crate::config::{Secrets, Settings};
use crate::domain::{IncidentDetail, JobState};
use crate::intake::auth::pagerduty_signature;
use crate::store::IncidentFilter;

const DATADOG: &str = include_str!("../config/samples/datadog_triggered.json");
const PAGERDUTY_TRIGGERED: &str =
    include_str!("../config/samples/pagerduty_incident_triggered.json");
const PAGERDUTY_RESOLVED: &str = include_str!("../config/samples/pagerduty_incident_resolved.json");
const ALERTMANAGER: &str = include_str!("../config/samples/alertmanager_group.json");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (default: a fresh temporary one).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep serving after the demo so the API can be explored; stop with Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.data_dir = args
        .data_dir
        .unwrap_or_else(|| scratch.path().to_path_buf());
    settings.workers.poll_interval_ms = 50;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let pd_secret = uuid::Uuid::new_v4().simple().to_string();
    let secrets = Secrets {
        pagerduty_webhook_secrets: vec![SecretString::from(pd_secret.clone())],
        webhook_token: Some(SecretString::from(token.clone())),
        ..Secrets::default()
    };

    // The demo needs no account: sources without credentials report "not configured".
    settings.kubernetes.enabled = false;
    settings.aws.enabled = false;
    // Sample runbooks and a post-mortem make the knowledge index retrieve something.
    settings.knowledge.runbooks = vec![PathBuf::from("config/samples/knowledge/runbooks")];
    settings.knowledge.postmortems = vec![PathBuf::from("config/samples/knowledge/postmortems")];
    let store = app::open_store(&settings).await?;
    let handler = app::pipeline(&settings, &secrets, Arc::clone(&store)).await?;
    let running = app::start(settings.clone(), secrets, Arc::clone(&store), handler).await?;
    let base = format!("http://{}", running.addr);
    println!(
        "triaged listening on {base} (SQLite in {})\n",
        settings.server.data_dir.display()
    );

    let client = reqwest::Client::new();
    let post = |source: &'static str, body: &'static str, headers: Vec<(&'static str, String)>| {
        let mut request = client
            .post(format!("{base}/webhooks/{source}"))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.context("posting a sample webhook")?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            println!("POST /webhooks/{source:<12} → {status}  {text}");
            anyhow::Ok(())
        }
    };
    post("datadog", DATADOG, vec![("x-triaged-token", token.clone())]).await?;
    post(
        "pagerduty",
        PAGERDUTY_TRIGGERED,
        vec![
            (
                "x-pagerduty-signature",
                pagerduty_signature(&pd_secret, PAGERDUTY_TRIGGERED.as_bytes()),
            ),
            ("x-webhook-id", "demo-1".into()),
        ],
    )
    .await?;
    post(
        "alertmanager",
        ALERTMANAGER,
        vec![("authorization", format!("Bearer {token}"))],
    )
    .await?;
    post(
        "pagerduty",
        PAGERDUTY_RESOLVED,
        vec![
            (
                "x-pagerduty-signature",
                pagerduty_signature(&pd_secret, PAGERDUTY_RESOLVED.as_bytes()),
            ),
            ("x-webhook-id", "demo-2".into()),
        ],
    )
    .await?;
    post(
        "datadog",
        DATADOG,
        vec![("x-triaged-token", "wrong-token".into())],
    )
    .await?;

    // Wait for the workers to run every queued job.
    let mut details: Vec<IncidentDetail> = Vec::new();
    for _ in 0..100 {
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
        if !pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("\nincidents:");
    for detail in details.iter().rev() {
        let incident = &detail.incident;
        println!(
            "\n  {}  [{}] {}\n    source {} · priority {} · service {} · {} alert(s)",
            incident.id,
            incident.status.as_str(),
            incident.title,
            incident.source,
            incident.priority.as_deref().unwrap_or("-"),
            incident.service.as_deref().unwrap_or("-"),
            incident.alert_count
        );
        for job in &detail.jobs {
            println!(
                "    job {} → {} (attempts {})",
                job.kind.as_str(),
                job.state.as_str(),
                job.attempts
            );
        }
        for stage in &detail.stages {
            println!(
                "      {:<8} {:<8} {:>4} ms  {}",
                stage.stage.as_str(),
                stage.outcome.as_str(),
                stage.ended_at.map_or(0, |end| end - stage.started_at),
                stage.detail.as_deref().unwrap_or("")
            );
        }
        if let Some(brief) = detail
            .brief
            .clone()
            .and_then(|b| serde_json::from_value::<crate::analysis::Brief>(b).ok())
        {
            println!("\n    ── brief ──");
            for line in brief.to_text().lines() {
                println!("    {line}");
            }
        }
    }
    println!("\npages: {base}/ · JSON: {base}/api/incidents · metrics: {base}/metrics");

    if args.keep_running {
        println!("serving until Ctrl-C (webhook token: {token})");
        tokio::signal::ctrl_c().await?;
    }
    running.shutdown();
    running.wait().await
}
