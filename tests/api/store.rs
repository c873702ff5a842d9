//! The store suite, run against SQLite and PostgreSQL alike.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use triaged::domain::{
    Alert, AlertSource, IncidentStatus, JobKind, JobState, Stage, StageOutcome, Transition,
};
use triaged::store::{IngestOutcome, Store};

use crate::helpers::{Backend, open_store};

fn alert(delivery: &str, key: &str, transition: Transition) -> Alert {
    Alert {
        source: AlertSource::Datadog,
        delivery_id: delivery.into(),
        dedup_key: key.into(),
        transition,
        event_type: transition.as_str().into(),
        title: format!("checkout-api 5xx rate above 5% ({key})"),
        message: Some("5xx rate 7.2% over 5 minutes".into()),
        priority: Some("P2".into()),
        service: Some("checkout-api".into()),
        tags: vec![triaged::domain::Tag::new("env", "prod")],
        monitor_id: Some("991".into()),
        monitor_query: None,
        metric: None,
        link: None,
        fired_at: Utc.with_ymd_and_hms(2026, 11, 21, 2, 11, 0).unwrap(),
        raw: "{}".into(),
    }
}

const T0: i64 = 1_795_227_000_000;

macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let store = crate::helpers::open_store(crate::helpers::Backend::Sqlite, dir.path()).await.unwrap();
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let Some(store) = crate::helpers::open_store(crate::helpers::Backend::Postgres, dir.path()).await else { return };
                super::$name(store).await;
            })*
        }
    };
}

store_suite!(
    deliveries_are_idempotent,
    a_retrigger_joins_and_updates_coalesce,
    a_recovery_resolves_and_the_next_trigger_opens_anew,
    a_resolve_for_an_unknown_incident_is_kept_unlinked,
    concurrent_deliveries_for_one_key_open_one_incident,
    an_expired_lease_is_reclaimed_by_another_worker,
    a_job_that_keeps_failing_is_dead_lettered,
    a_released_job_does_not_count_an_attempt,
    stages_are_recorded_with_start_end_and_outcome,
    migrations_are_idempotent,
    jobs_of_one_incident_run_one_at_a_time_in_order,
    rows_stored_before_redaction_at_the_door_are_redacted_once,
    an_older_job_under_an_expired_lease_is_reclaimed_before_a_newer_one_starts,
);

async fn an_older_job_under_an_expired_lease_is_reclaimed_before_a_newer_one_starts(
    store: Arc<dyn Store>,
) {
    let receipt = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let incident = receipt[0].incident_id.clone().unwrap();
    let triage = store
        .claim_job("crashed", T0, 1_000, 5)
        .await
        .unwrap()
        .unwrap();
    store
        .start_stage(&triage, Stage::Collect, T0 + 10)
        .await
        .unwrap();
    // A re-trigger queues an update while the triage's worker is dead.
    store
        .ingest(&[alert("d-2", "k", Transition::Retriggered)], T0 + 100)
        .await
        .unwrap();
    // Past the lease, two replicas claim at once: one reclaims the triage, the other gets
    // nothing — never the update while the triage is unfinished.
    let now = T0 + 5_000;
    let first = store.claim_job("replica-a", now, 60_000, 5).await.unwrap();
    let second = store.claim_job("replica-b", now, 60_000, 5).await.unwrap();
    let claimed: Vec<_> = [first, second].into_iter().flatten().collect();
    assert_eq!(
        claimed.len(),
        1,
        "one job of the incident at a time: {claimed:?}"
    );
    assert_eq!(claimed[0].id, triage.id, "the older job first");
    assert_eq!(claimed[0].kind, JobKind::Triage);
    // The stage the dead worker left open is closed as abandoned, naming both workers.
    let detail = store.incident(&incident).await.unwrap().unwrap();
    let left = &detail.stages[0];
    assert_eq!(left.outcome, StageOutcome::Abandoned);
    assert_eq!(left.ended_at, Some(now));
    let why = left.detail.as_deref().unwrap();
    assert!(
        why.contains("crashed") && why.contains("replica-a"),
        "{why}"
    );
    // Once the triage is done, the update runs.
    assert!(
        store
            .complete_job(&triage.id, "replica-a", now + 10)
            .await
            .unwrap()
    );
    let next = store
        .claim_job("replica-b", now + 20, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.kind, JobKind::Update);
}

async fn rows_stored_before_redaction_at_the_door_are_redacted_once(store: Arc<dyn Store>) {
    let mut old = alert("d-secret", "k-secret", Transition::Triggered);
    old.title = "db down: postgres://app:hunter2pass@db:5432/app".into();
    old.message = Some("token ghp_abcdefghijklmnopqrstuvwxyz0123456789".into());
    old.raw = r#"{"title":"postgres://app:hunter2pass@db:5432/app"}"#.into();
    let receipt = store.ingest(&[old], T0).await.unwrap();
    let id = receipt[0].incident_id.clone().unwrap();

    let changed = store.redact_stored(false).await.unwrap();
    assert!(
        changed >= 4,
        "title, message, raw and the incident title: {changed}"
    );
    let alerts = store.alerts_for(&id).await.unwrap();
    assert!(
        !alerts[0].title.contains("hunter2pass"),
        "{}",
        alerts[0].title
    );
    assert!(!alerts[0].raw.contains("hunter2pass"), "{}", alerts[0].raw);
    assert!(
        !alerts[0]
            .message
            .as_deref()
            .unwrap()
            .contains("ghp_abcdefghij"),
        "{:?}",
        alerts[0].message
    );
    let detail = store.incident(&id).await.unwrap().unwrap();
    assert!(!detail.incident.title.contains("hunter2pass"));
    assert_eq!(store.redact_stored(false).await.unwrap(), 0, "idempotent");
}

async fn deliveries_are_idempotent(store: Arc<dyn Store>) {
    let a = alert("d-1", "k", Transition::Triggered);
    let first = store.ingest(std::slice::from_ref(&a), T0).await.unwrap();
    let second = store.ingest(&[a], T0 + 1).await.unwrap();
    assert_eq!(first[0].outcome, IngestOutcome::New);
    assert_eq!(second[0].outcome, IngestOutcome::Duplicate);
    assert_eq!(second[0].incident_id, first[0].incident_id);
    let detail = store
        .incident(first[0].incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.alerts.len(), 1);
    assert_eq!(detail.incident.alert_count, 1);
}

async fn a_retrigger_joins_and_updates_coalesce(store: Arc<dyn Store>) {
    let opened = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let id = opened[0].incident_id.clone().unwrap();
    assert_eq!(opened[0].job, Some(JobKind::Triage));
    // The triage is still queued: re-triggers join without queueing more work.
    for n in 2..6 {
        let r = store
            .ingest(
                &[alert(&format!("d-{n}"), "k", Transition::Retriggered)],
                T0 + n,
            )
            .await
            .unwrap();
        assert_eq!(r[0].outcome, IngestOutcome::Grouped);
        assert_eq!(r[0].incident_id.as_deref(), Some(id.as_str()));
        assert_eq!(r[0].job, None);
    }
    // Once the triage runs, the next re-trigger queues one update.
    let job = store
        .claim_job("w", T0 + 10, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    store.complete_job(&job.id, "w", T0 + 11).await.unwrap();
    let r = store
        .ingest(&[alert("d-9", "k", Transition::Retriggered)], T0 + 12)
        .await
        .unwrap();
    assert_eq!(r[0].job, Some(JobKind::Update));
    let detail = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(detail.alerts.len(), 6);
    assert_eq!(detail.incident.alert_count, 6);
    assert_eq!(detail.jobs.len(), 2);
}

async fn a_recovery_resolves_and_the_next_trigger_opens_anew(store: Arc<dyn Store>) {
    let opened = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let ack = store
        .ingest(&[alert("d-2", "k", Transition::Acknowledged)], T0 + 1)
        .await
        .unwrap();
    let id = opened[0].incident_id.clone().unwrap();
    assert_eq!(ack[0].incident_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        store.incident(&id).await.unwrap().unwrap().incident.status,
        IncidentStatus::Acknowledged
    );
    let resolved = store
        .ingest(&[alert("d-3", "k", Transition::Recovered)], T0 + 2)
        .await
        .unwrap();
    assert_eq!(resolved[0].job, Some(JobKind::Resolve));
    let detail = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);
    assert_eq!(detail.incident.resolved_at, Some(T0 + 2));

    let again = store
        .ingest(&[alert("d-4", "k", Transition::Triggered)], T0 + 3)
        .await
        .unwrap();
    assert_eq!(again[0].outcome, IngestOutcome::New);
    assert_ne!(again[0].incident_id.as_deref(), Some(id.as_str()));
    // A late annotation for the key joins the open (newest) incident.
    let late = store
        .ingest(&[alert("d-5", "k", Transition::Other)], T0 + 4)
        .await
        .unwrap();
    assert_eq!(late[0].incident_id, again[0].incident_id);
}

async fn a_resolve_for_an_unknown_incident_is_kept_unlinked(store: Arc<dyn Store>) {
    let r = store
        .ingest(&[alert("d-1", "never-seen", Transition::Resolved)], T0)
        .await
        .unwrap();
    assert_eq!(r[0].outcome, IngestOutcome::Unlinked);
    assert!(r[0].alert_id.is_some(), "stored even without an incident");
    let again = store
        .ingest(&[alert("d-1", "never-seen", Transition::Resolved)], T0)
        .await
        .unwrap();
    assert_eq!(again[0].outcome, IngestOutcome::Duplicate);
}

async fn concurrent_deliveries_for_one_key_open_one_incident(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..24 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            store
                .ingest(
                    &[alert(&format!("storm-{n}"), "storm", Transition::Triggered)],
                    T0 + n,
                )
                .await
                .unwrap()
        });
    }
    let mut incidents = std::collections::HashSet::new();
    let mut new = 0;
    while let Some(receipts) = tasks.join_next().await {
        let receipt = &receipts.unwrap()[0];
        incidents.insert(receipt.incident_id.clone().unwrap());
        new += usize::from(receipt.outcome == IngestOutcome::New);
    }
    assert_eq!(incidents.len(), 1, "one incident for one key");
    assert_eq!(new, 1);
    let id = incidents.into_iter().next().unwrap();
    let detail = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(detail.alerts.len(), 24);
    let queued = detail
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Queued)
        .count();
    assert_eq!(queued, 1, "a storm queues one job: {:?}", detail.jobs);
}

async fn an_expired_lease_is_reclaimed_by_another_worker(store: Arc<dyn Store>) {
    store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let first = store
        .claim_job("crashed", T0, 1_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempt, 1);
    // While the lease holds, nobody else gets it.
    assert!(
        store
            .claim_job("other", T0 + 500, 1_000, 5)
            .await
            .unwrap()
            .is_none()
    );
    let reclaimed = store
        .claim_job("other", T0 + 1_001, 1_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reclaimed.id, first.id);
    assert_eq!(reclaimed.attempt, 2);
    // The crashed worker can no longer touch it.
    assert!(
        !store
            .complete_job(&first.id, "crashed", T0 + 1_002)
            .await
            .unwrap()
    );
    assert!(
        !store
            .extend_lease(&first.id, "crashed", T0 + 9_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .extend_lease(&first.id, "other", T0 + 9_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_job(&first.id, "other", T0 + 1_003)
            .await
            .unwrap()
    );
}

async fn a_job_that_keeps_failing_is_dead_lettered(store: Arc<dyn Store>) {
    let r = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let job = store.claim_job("w", T0, 60_000, 2).await.unwrap().unwrap();
    assert!(
        store
            .fail_job(&job.id, "w", T0 + 1, "datadog 500", Some(T0 + 5_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_job("w", T0 + 10, 60_000, 2)
            .await
            .unwrap()
            .is_none(),
        "backoff respected"
    );
    let job = store
        .claim_job("w", T0 + 5_000, 60_000, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempt, 2);
    assert!(
        store
            .fail_job(&job.id, "w", T0 + 5_001, "datadog 500 again", None)
            .await
            .unwrap()
    );
    let detail = store
        .incident(r[0].incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.jobs[0].state, JobState::Dead);
    assert_eq!(
        detail.jobs[0].last_error.as_deref(),
        Some("datadog 500 again")
    );

    // A worker that dies on the final attempt also ends in the dead-letter state.
    store
        .ingest(&[alert("d-2", "k2", Transition::Triggered)], T0)
        .await
        .unwrap();
    let job = store.claim_job("w", T0, 1_000, 1).await.unwrap().unwrap();
    store
        .start_stage(&job, Stage::Collect, T0 + 1)
        .await
        .unwrap();
    assert!(
        store
            .claim_job("w", T0 + 2_000, 1_000, 1)
            .await
            .unwrap()
            .is_none()
    );
    // Its stage run is closed, not left running forever.
    let detail = store.incident(&job.incident_id).await.unwrap().unwrap();
    assert_eq!(detail.stages[0].outcome, StageOutcome::Abandoned);
    assert_eq!(detail.stages[0].ended_at, Some(T0 + 2_000));
    let counts = store.job_counts().await.unwrap();
    assert!(
        counts.contains(&(JobState::Dead, 2)),
        "{counts:?} ({})",
        job.id
    );
}

async fn a_released_job_does_not_count_an_attempt(store: Arc<dyn Store>) {
    store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let job = store.claim_job("w", T0, 60_000, 5).await.unwrap().unwrap();
    assert!(store.release_job(&job.id, "w", T0 + 1).await.unwrap());
    let again = store
        .claim_job("w2", T0 + 2, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempt, 1);
}

async fn stages_are_recorded_with_start_end_and_outcome(store: Arc<dyn Store>) {
    let r = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    let job = store.claim_job("w", T0, 60_000, 5).await.unwrap().unwrap();
    let run = store
        .start_stage(&job, Stage::Collect, T0 + 1)
        .await
        .unwrap();
    let detail = store
        .incident(r[0].incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.stages[0].outcome, StageOutcome::Running);
    assert_eq!(detail.stages[0].ended_at, None);
    store
        .finish_stage(&run, T0 + 40, StageOutcome::Ok, Some("4 sources"))
        .await
        .unwrap();
    let detail = store
        .incident(r[0].incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let stage = &detail.stages[0];
    assert_eq!(
        (stage.stage, stage.outcome, stage.started_at, stage.ended_at),
        (Stage::Collect, StageOutcome::Ok, T0 + 1, Some(T0 + 40))
    );
    assert_eq!(stage.detail.as_deref(), Some("4 sources"));
}

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
}

#[tokio::test]
async fn sqlite_data_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Backend::Sqlite, dir.path()).await.unwrap();
    let r = store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    store.close().await;
    let reopened = open_store(Backend::Sqlite, dir.path()).await.unwrap();
    let detail = reopened
        .incident(r[0].incident_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(detail.is_some());
}

async fn jobs_of_one_incident_run_one_at_a_time_in_order(store: Arc<dyn Store>) {
    store
        .ingest(&[alert("d-1", "k", Transition::Triggered)], T0)
        .await
        .unwrap();
    store
        .ingest(&[alert("d-2", "k", Transition::Resolved)], T0 + 1)
        .await
        .unwrap();
    store
        .ingest(&[alert("d-3", "other", Transition::Triggered)], T0 + 2)
        .await
        .unwrap();
    let triage = store
        .claim_job("w1", T0 + 10, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(triage.kind, JobKind::Triage);
    // The resolve waits for its incident's triage; the other incident's job is free to run.
    let next = store
        .claim_job("w2", T0 + 10, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(next.incident_id, triage.incident_id);
    assert!(
        store
            .claim_job("w3", T0 + 10, 60_000, 5)
            .await
            .unwrap()
            .is_none()
    );
    store.complete_job(&triage.id, "w1", T0 + 11).await.unwrap();
    let resolve = store
        .claim_job("w3", T0 + 12, 60_000, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (resolve.kind, resolve.incident_id),
        (JobKind::Resolve, triage.incident_id)
    );
}
