//! The worker pool on a running daemon: stages, retries, dead letters, crash recovery, drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::Value;
use triaged::domain::{JobState, Stage, StageOutcome};
use triaged::domain::{StageError, StageReport};
use triaged::pipeline::StageHandler;
use triaged::store::ClaimedJob;

use crate::helpers::*;

async fn trigger(app: &TestApp) -> String {
    let receipt: Value = app
        .post_datadog(&fixture("datadog_triggered.json"))
        .await
        .json()
        .await
        .unwrap();
    receipt["incident_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_triage_runs_every_stage_and_records_the_timeline() {
    let app = spawn_app().await;
    let id = trigger(&app).await;
    let detail = app
        .wait_for_incident(&id, "job done", |d| {
            d.jobs.iter().all(|j| j.state == JobState::Done)
        })
        .await;
    let stages: Vec<Stage> = detail.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            Stage::Collect,
            Stage::Retrieve,
            Stage::Analyze,
            Stage::Deliver
        ]
    );
    // Collection ran (every source reports why it has nothing: none is configured here) and
    // stored a bundle; the later stages are not built yet and say so: no fake brief.
    let collect = &detail.stages[0];
    assert_eq!(collect.outcome, StageOutcome::Ok);
    let summary = collect.detail.as_deref().unwrap();
    assert!(summary.contains("datadog: not configured"), "{summary}");
    assert!(summary.contains("kubernetes: not configured"), "{summary}");
    let bundle = detail
        .evidence
        .as_ref()
        .expect("bundle stored with the incident");
    assert_eq!(bundle.reports.len(), 4);
    assert_eq!(bundle.targets.rds_instances, ["prod-postgres-primary"]);
    // Analysis ran on that bundle: with no model configured the rules analyst answers.
    let analyze = &detail.stages[2];
    assert_eq!(analyze.outcome, StageOutcome::Ok);
    assert!(
        analyze.detail.as_deref().unwrap().contains("by rules"),
        "{analyze:?}"
    );
    let brief = detail
        .brief
        .as_ref()
        .expect("brief stored with the incident");
    assert_eq!(brief["analyst"], "rules");
    assert_eq!(brief["fallback_reason"], "no model is configured");
    // No runbooks are configured here, so retrieval says the index is empty.
    let retrieve = &detail.stages[1];
    assert_eq!(retrieve.outcome, StageOutcome::Skipped);
    assert!(
        retrieve
            .detail
            .as_deref()
            .unwrap()
            .contains("index is empty"),
        "{retrieve:?}"
    );
    // Without Slack the brief goes to the log and the API.
    let deliver = &detail.stages[3];
    assert_eq!(deliver.outcome, StageOutcome::Ok);
    assert!(
        deliver
            .detail
            .as_deref()
            .unwrap()
            .contains("Slack not configured")
    );
    assert!(deliver.ended_at.unwrap() >= deliver.started_at);
    let (status, api) = app.get_json(&format!("/api/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(api["stages"].as_array().unwrap().len(), 4);
    assert_eq!(api["alerts"][0]["transition"], "triggered");
}

/// Fails its first `failures` analyze stages.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl StageHandler for Flaky {
    async fn run(&self, _job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError> {
        if stage == Stage::Analyze && self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(StageError::new("model endpoint returned 502"));
        }
        Ok(StageReport::ok("done"))
    }
}

#[tokio::test]
async fn a_failing_stage_is_retried_and_then_succeeds() {
    let handler = Arc::new(Flaky {
        failures: 2,
        calls: AtomicUsize::new(0),
    });
    let app = spawn_app_with(|_| {}, test_secrets(), handler).await;
    let id = trigger(&app).await;
    let detail = app
        .wait_for_incident(&id, "job done", |d| d.jobs[0].state == JobState::Done)
        .await;
    assert_eq!(detail.jobs[0].attempts, 3);
    let failed = detail
        .stages
        .iter()
        .filter(|s| s.outcome == StageOutcome::Failed)
        .count();
    assert_eq!(failed, 2);
    assert_eq!(
        detail.jobs[0].last_error.as_deref(),
        Some("model endpoint returned 502")
    );
}

/// Counts every stage it runs; delivery fails `failures` times.
struct FailingDelivery {
    failures: usize,
    runs: std::sync::Mutex<Vec<Stage>>,
}

#[async_trait]
impl StageHandler for FailingDelivery {
    async fn run(&self, _job: &ClaimedJob, stage: Stage) -> Result<StageReport, StageError> {
        let mut runs = self.runs.lock().unwrap();
        runs.push(stage);
        let deliveries = runs.iter().filter(|s| **s == Stage::Deliver).count();
        if stage == Stage::Deliver && deliveries <= self.failures {
            return Err(StageError::new("Slack answered 500"));
        }
        Ok(StageReport::ok("done"))
    }
}

#[tokio::test]
async fn a_retry_reuses_the_stages_an_earlier_attempt_finished() {
    let handler = Arc::new(FailingDelivery {
        failures: 2,
        runs: std::sync::Mutex::new(Vec::new()),
    });
    let app = spawn_app_with(|_| {}, test_secrets(), handler.clone()).await;
    let id = trigger(&app).await;
    let detail = app
        .wait_for_incident(&id, "job done", |d| d.jobs[0].state == JobState::Done)
        .await;
    assert_eq!(detail.jobs[0].attempts, 3);
    let runs = handler.runs.lock().unwrap().clone();
    let count = |stage| runs.iter().filter(|s| **s == stage).count();
    assert_eq!(
        count(Stage::Collect),
        1,
        "evidence collected once: {runs:?}"
    );
    assert_eq!(count(Stage::Analyze), 1, "the model asked once: {runs:?}");
    assert_eq!(count(Stage::Deliver), 3, "delivery retried: {runs:?}");
    let reused = detail
        .stages
        .iter()
        .filter(|s| {
            s.outcome == StageOutcome::Skipped
                && s.detail.as_deref().is_some_and(|d| d.contains("reused"))
        })
        .count();
    assert_eq!(reused, 6, "three stages reused on each of two retries");
}

#[tokio::test]
async fn a_job_that_always_fails_ends_dead_lettered_and_visible() {
    let handler = Arc::new(Flaky {
        failures: usize::MAX,
        calls: AtomicUsize::new(0),
    });
    let app = spawn_app_with(|s| s.workers.max_attempts = 3, test_secrets(), handler).await;
    let id = trigger(&app).await;
    app.wait_for_incident(&id, "dead letter", |d| d.jobs[0].state == JobState::Dead)
        .await;
    let (_, api) = app.get_json(&format!("/api/incidents/{id}")).await;
    assert_eq!(api["jobs"][0]["state"], "dead");
    assert_eq!(api["jobs"][0]["attempts"], 3);
    assert_eq!(api["jobs"][0]["last_error"], "model endpoint returned 502");
}

/// Never finishes a stage, like a hung upstream.
struct Hangs;

#[async_trait]
impl StageHandler for Hangs {
    async fn run(&self, _job: &ClaimedJob, _stage: Stage) -> Result<StageReport, StageError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_job_whose_worker_died_is_reclaimed_after_restart_and_completes() {
    // First daemon: its worker claims the job and hangs; then the process "dies" without
    // releasing anything (the app is dropped, not drained).
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.workers.lease_secs = 2;
    settings.workers.heartbeat_secs = 1;
    settings.workers.poll_interval_ms = 50;
    let store = triaged::app::open_store(&settings).await.unwrap();
    let first = spawn_on(
        settings.clone(),
        test_secrets(),
        Arc::clone(&store),
        Arc::new(Hangs) as Arc<dyn StageHandler>,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let id = trigger(&first).await;
    first
        .wait_for_incident(&id, "stage started", |d| !d.stages.is_empty())
        .await;
    let TestApp { app, .. } = first;
    app.unwrap().abort();
    let store = triaged::app::open_store(&settings).await.unwrap();
    let handler = triaged::app::pipeline(&settings, &test_secrets(), Arc::clone(&store))
        .await
        .unwrap();
    let second = spawn_on(settings, test_secrets(), store, handler, dir).await;
    let detail = second
        .wait_for_incident(&id, "reclaimed and done", |d| {
            d.jobs[0].state == JobState::Done
        })
        .await;
    assert_eq!(
        detail.jobs[0].attempts, 2,
        "the crashed claim counts as an attempt"
    );
    assert!(
        detail
            .stages
            .iter()
            .any(|s| s.outcome == StageOutcome::Abandoned
                && s.attempt == 1
                && s.ended_at.is_some()),
        "the interrupted stage stays visible, closed as abandoned: {:?}",
        detail.stages
    );
    assert!(
        !detail
            .stages
            .iter()
            .any(|s| s.outcome == StageOutcome::Running),
        "no stage is left running forever"
    );
}

#[tokio::test]
async fn shutdown_releases_jobs_that_do_not_finish_within_the_grace_period() {
    let mut app = spawn_app_with(
        |s| s.server.shutdown_grace_secs = 0,
        test_secrets(),
        Arc::new(Hangs) as Arc<dyn StageHandler>,
    )
    .await;
    let id = trigger(&app).await;
    app.wait_for_incident(&id, "claimed", |d| d.jobs[0].state == JobState::Running)
        .await;
    app.stop().await;
    let store = triaged::app::open_store(&test_settings(app.dir.path()))
        .await
        .unwrap();
    let detail = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(detail.jobs[0].state, JobState::Queued);
    assert_eq!(
        detail.jobs[0].attempts, 0,
        "a released job does not use up an attempt"
    );
}

#[tokio::test]
async fn retrieval_finds_the_runbook_and_past_incident_and_the_brief_cites_them() {
    let app = spawn_app_with_pipeline(sample_knowledge, test_secrets()).await;
    let id = trigger(&app).await;
    let detail = app
        .wait_for_incident(&id, "job done", |d| {
            d.jobs.iter().all(|j| j.state == JobState::Done)
        })
        .await;
    let retrieve = &detail.stages[1];
    assert_eq!(retrieve.outcome, StageOutcome::Ok, "{retrieve:?}");
    let ids: Vec<&str> = detail.knowledge.iter().map(|k| k.id.as_str()).collect();
    let first_runbook = ids.iter().find(|i| i.starts_with("runbook."));
    assert_eq!(
        first_runbook.copied(),
        Some("runbook.postgres-cpu#high-cpu-on-the-primary"),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|i| i.starts_with("postmortem.INC-2024-047")),
        "{ids:?}"
    );
    // The rules analyst turns the matched runbook into an action that cites it.
    let brief = detail.brief.unwrap();
    let actions = brief["triage"]["actions"].to_string();
    assert!(
        actions.contains("runbook.postgres-cpu#high-cpu-on-the-primary"),
        "{actions}"
    );
}
