//! Webhook intake over real HTTP against a running daemon.

use serde_json::{Value, json};
use triaged::domain::{IncidentStatus, JobKind, Transition};

use crate::helpers::*;

#[tokio::test]
async fn pagerduty_triggered_with_two_signatures_is_accepted_and_stored() {
    let app = spawn_app().await;
    let body = fixture("pagerduty_incident_triggered.json");
    let response = app.post_pagerduty(&body, "wh-0001").await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["outcome"], "new");
    let id = receipt["incident_id"].as_str().expect("incident id");

    let detail = app.incident(id).await;
    assert_eq!(detail.incident.dedup_key, "pagerduty:Q2F7NOV3Y6PJ0A");
    assert_eq!(detail.incident.priority.as_deref(), Some("P1"));
    assert_eq!(detail.incident.service.as_deref(), Some("checkout-api"));
    assert_eq!(detail.alerts.len(), 1);
    let alert = &detail.alerts[0];
    assert_eq!(alert.delivery_id, "wh-0001");
    assert_eq!(alert.transition, Transition::Triggered);
    assert!(alert.tags.to_string().contains("Payments primary"));
    assert_eq!(detail.jobs[0].kind, JobKind::Triage);
}

#[tokio::test]
async fn pagerduty_resolved_resolves_the_incident_and_queues_a_resolve() {
    let app = spawn_app().await;
    let triggered = app
        .post_pagerduty(&fixture("pagerduty_incident_triggered.json"), "wh-1")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let resolved = app
        .post_pagerduty(&fixture("pagerduty_incident_resolved.json"), "wh-2")
        .await;
    assert_eq!(resolved.status(), 202);
    let resolved: Value = resolved.json().await.unwrap();
    assert_eq!(resolved["outcome"], "grouped");
    assert_eq!(resolved["incident_id"], triggered["incident_id"]);
    assert_eq!(resolved["alerts"][0]["job"], "resolve");

    let detail = app
        .incident(resolved["incident_id"].as_str().unwrap())
        .await;
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);
    assert!(detail.incident.resolved_at.is_some());
    assert_eq!(detail.alerts.len(), 2);
}

#[tokio::test]
async fn pagerduty_with_a_bad_signature_is_rejected_with_401_and_nothing_stored() {
    let app = spawn_app().await;
    let body = fixture("pagerduty_incident_triggered.json");
    let forged = pagerduty_signature_for("not-the-secret", &body);
    let response = app
        .post_webhook("pagerduty", &body, &[("x-pagerduty-signature", &forged)])
        .await;
    assert_eq!(response.status(), 401);
    let missing = app.post_webhook("pagerduty", &body, &[]).await;
    assert_eq!(missing.status(), 401);
    // A valid signature over different bytes is still refused.
    let tampered = body.replace("P1", "P5");
    let response = app
        .post_webhook(
            "pagerduty",
            &tampered,
            &[(
                "x-pagerduty-signature",
                &pagerduty_signature_for(PAGERDUTY_SECRET, &body),
            )],
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.incident_count().await, 0);
}

fn pagerduty_signature_for(secret: &str, body: &str) -> String {
    triaged::intake::auth::pagerduty_signature(secret, body.as_bytes())
}

#[tokio::test]
async fn unknown_pagerduty_event_types_are_stored_and_acknowledged() {
    let app = spawn_app().await;
    let first = app
        .post_pagerduty(&fixture("pagerduty_incident_triggered.json"), "wh-a")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let response = app
        .post_pagerduty(&fixture("pagerduty_unknown_event.json"), "wh-b")
        .await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["outcome"], "grouped");
    assert_eq!(receipt["alerts"][0]["job"], Value::Null);
    let detail = app.incident(first["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.alerts[1].transition, Transition::Other);
    assert_eq!(detail.alerts[1].event_type, "incident.workflow.completed");
}

#[tokio::test]
async fn datadog_template_with_a_literal_unresolved_cycle_key_is_accepted() {
    let app = spawn_app().await;
    let response = app.post_datadog(&fixture("datadog_triggered.json")).await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    let detail = app.incident(receipt["incident_id"].as_str().unwrap()).await;
    // Without a cycle key the incident groups by monitor and scope.
    assert_eq!(
        detail.incident.dedup_key,
        "datadog:88123401:dbinstanceidentifier:prod-postgres-primary,env:prod"
    );
    assert_eq!(detail.incident.service.as_deref(), Some("checkout-db"));
    let alert = &detail.alerts[0];
    assert_eq!(alert.delivery_id, "7311054470861829421");
    assert_eq!(alert.fired_at, 1_795_227_090_000);
    // `$HOSTNAME` arrived unresolved and must not become a host tag.
    assert!(
        !alert.tags.to_string().contains("$HOSTNAME"),
        "{}",
        alert.tags
    );
}

#[tokio::test]
async fn datadog_accepts_basic_auth_and_refuses_a_wrong_token() {
    let app = spawn_app().await;
    let body = fixture("datadog_triggered.json");
    let wrong = app
        .post_webhook("datadog", &body, &[("x-triaged-token", "guess")])
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(app.incident_count().await, 0);

    let response = app
        .client
        .post(format!("{}/webhooks/datadog", app.base))
        .basic_auth("triaged", Some(WEBHOOK_TOKEN))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(app.incident_count().await, 1);
}

#[tokio::test]
async fn a_retrigger_joins_its_incident_and_a_recovery_resolves_it() {
    let app = spawn_app().await;
    let base: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    let send = |id: &str, transition: &str| {
        let mut body = base.clone();
        body["id"] = json!(id);
        body["transition"] = json!(transition);
        body.to_string()
    };
    let first: Value = app
        .post_datadog(&send("1", "Triggered"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = app
        .post_datadog(&send("2", "Re-Triggered"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"], "grouped");
    assert_eq!(again["incident_id"], first["incident_id"]);
    let recovered: Value = app
        .post_datadog(&send("3", "Recovered"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recovered["incident_id"], first["incident_id"]);
    let detail = app.incident(first["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);

    // The monitor fires again after recovery: a new incident.
    let next: Value = app
        .post_datadog(&send("4", "Triggered"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["outcome"], "new");
    assert_ne!(next["incident_id"], first["incident_id"]);
}

#[tokio::test]
async fn the_same_delivery_twice_is_stored_once() {
    let app = spawn_app().await;
    let body = fixture("datadog_triggered.json");
    let first: Value = app.post_datadog(&body).await.json().await.unwrap();
    let second = app.post_datadog(&body).await;
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["outcome"], "duplicate");
    assert_eq!(second["incident_id"], first["incident_id"]);
    let detail = app.incident(first["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.alerts.len(), 1);
    assert_eq!(detail.jobs.len(), 1);
}

#[tokio::test]
async fn an_alertmanager_group_with_two_alerts_is_stored_in_one_incident() {
    let app = spawn_app().await;
    let body = fixture("alertmanager_group.json");
    let response = app.post_alertmanager(&body).await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["outcome"], "new");
    assert_eq!(receipt["alerts"].as_array().unwrap().len(), 2);
    let detail = app.incident(receipt["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.alerts.len(), 2);
    assert_eq!(detail.incident.priority.as_deref(), Some("critical"));
    assert!(detail.alerts[0].title.contains("is crash looping"));
    assert_eq!(detail.jobs.len(), 1, "one group, one triage");

    // Alertmanager repeats the notification: nothing new is stored.
    let repeat: Value = app.post_alertmanager(&body).await.json().await.unwrap();
    assert_eq!(repeat["outcome"], "duplicate");

    // One alert of the group recovers while the other still fires: the incident stays open.
    let mut partial: Value = serde_json::from_str(&body).unwrap();
    partial["alerts"][0]["status"] = json!("resolved");
    partial["alerts"][0]["endsAt"] = json!("2026-11-21T02:30:05.112Z");
    app.post_alertmanager(&partial.to_string()).await;
    let detail = app.incident(receipt["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.incident.status, IncidentStatus::Open);

    // The whole group resolves.
    let mut resolved = partial.clone();
    resolved["status"] = json!("resolved");
    resolved["alerts"][1]["status"] = json!("resolved");
    app.post_alertmanager(&resolved.to_string()).await;
    let detail = app.incident(receipt["incident_id"].as_str().unwrap()).await;
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn alertmanager_without_the_bearer_token_is_rejected_with_401() {
    let app = spawn_app().await;
    let body = fixture("alertmanager_group.json");
    assert_eq!(
        app.post_webhook("alertmanager", &body, &[]).await.status(),
        401
    );
    let wrong = app
        .post_webhook("alertmanager", &body, &[("authorization", "Bearer nope")])
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn malformed_json_is_rejected_with_400_naming_the_problem() {
    let app = spawn_app().await;
    let response = app.post_datadog(r#"{"id": "1", "title": "#).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{error}"
    );

    let response = app
        .post_alertmanager(r#"{"groupKey": "g", "alerts": []}"#)
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("no `alerts`"),
        "{error}"
    );

    let response = app.post_pagerduty(r#"{"messages": []}"#, "wh-x").await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn an_oversized_body_is_rejected_with_413() {
    let app = spawn_app_with_pipeline(|s| s.server.body_limit_bytes = 4096, test_secrets()).await;
    let mut body: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    body["message"] = json!("x".repeat(8192));
    let response = app.post_datadog(&body.to_string()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn a_wrong_content_type_is_rejected_with_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/webhooks/datadog", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-triaged-token", WEBHOOK_TOKEN)
        .body(fixture("datadog_triggered.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn an_unknown_or_disabled_source_is_404() {
    let app = spawn_app_with_pipeline(
        |s| s.intake.sources = vec![triaged::domain::AlertSource::Datadog],
        test_secrets(),
    )
    .await;
    assert_eq!(app.post_webhook("opsgenie", "{}", &[]).await.status(), 404);
    let body = fixture("alertmanager_group.json");
    assert_eq!(app.post_alertmanager(&body).await.status(), 404);
}

#[tokio::test]
async fn webhooks_get_503_when_the_store_is_down_so_senders_retry() {
    let app = spawn_app().await;
    app.store.close().await;
    let response = app.post_datadog(&fixture("datadog_triggered.json")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let error: Value = response.json().await.unwrap();
    assert!(
        !error.to_string().contains("sqlite"),
        "no internals: {error}"
    );
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn the_api_requires_the_token_when_one_is_set() {
    let mut secrets = test_secrets();
    secrets.api_token = Some("api-secret".to_string().into());
    let app = spawn_app_with_pipeline(|_| {}, secrets).await;
    let (status, _) = app.get_json("/api/incidents").await;
    assert_eq!(status, 401);
    let ok = app
        .client
        .get(format!("{}/api/incidents", app.base))
        .bearer_auth("api-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Health endpoints stay open for probes.
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn metrics_count_webhooks_by_source_and_outcome_and_show_queue_depth() {
    let app = spawn_app().await;
    app.post_datadog(&fixture("datadog_triggered.json")).await;
    app.post_webhook("datadog", "{}", &[("x-triaged-token", "bad")])
        .await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"triaged_webhooks_total{source="datadog",outcome="accepted"}"#),
        "{text}"
    );
    assert!(text.contains(r#"triaged_webhooks_total{source="datadog",outcome="unauthorized"}"#));
    assert!(text.contains(r#"triaged_jobs{state="queued"}"#));
    assert!(text.contains("triaged_webhook_ack_seconds_bucket"));
}

#[tokio::test]
async fn incidents_list_filters_by_status() {
    let app = spawn_app().await;
    app.post_datadog(&fixture("datadog_triggered.json")).await;
    app.post_pagerduty(&fixture("pagerduty_incident_triggered.json"), "w1")
        .await;
    app.post_pagerduty(&fixture("pagerduty_incident_resolved.json"), "w2")
        .await;
    let (_, open) = app.get_json("/api/incidents?status=open").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["source"], "datadog");
    let (_, resolved) = app.get_json("/api/incidents?status=resolved").await;
    assert_eq!(resolved[0]["source"], "pagerduty");
    let (status, error) = app.get_json("/api/incidents?status=sideways").await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = app.get_json("/api/incidents/does-not-exist").await;
    assert_eq!(status, 404);
}

/// A daemon on SQLite, or on a fresh PostgreSQL database (skipped with a printed reason
/// without a server, except under CI).
async fn app_on(backend: Backend) -> Option<TestApp> {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await?),
    };
    Some(
        spawn_app_with_pipeline(
            move |s| {
                if let Some(url) = url {
                    s.database.url = url;
                }
            },
            test_secrets(),
        )
        .await,
    )
}

/// Bodies an attacker or a broken sender might post to each route: NUL characters in stored
/// text, identifiers past a btree index row, wrong types, deep nesting, huge numbers.
fn hostile_corpus() -> Vec<(&'static str, String)> {
    let long = "k".repeat(3000);
    let datadog = |patch: Value| {
        let mut payload: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
        for (key, value) in patch.as_object().unwrap() {
            payload[key] = value.clone();
        }
        payload.to_string()
    };
    let alertmanager = |patch: &dyn Fn(&mut Value)| {
        let mut payload: Value = serde_json::from_str(&fixture("alertmanager_group.json")).unwrap();
        patch(&mut payload);
        payload.to_string()
    };
    let pagerduty = |patch: &dyn Fn(&mut Value)| {
        let mut payload: Value =
            serde_json::from_str(&fixture("pagerduty_incident_triggered.json")).unwrap();
        patch(&mut payload);
        payload.to_string()
    };
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    vec![
        (
            "datadog",
            datadog(json!({"title": "db\u{0000}down", "message": "a\u{0000}b"})),
        ),
        (
            "datadog",
            datadog(json!({"id": long, "alert_id": long, "alert_cycle_key": long})),
        ),
        (
            "datadog",
            datadog(json!({"tags": "env:prod\u{0000},team:\u{0000}", "query": "\u{0000}"})),
        ),
        (
            "datadog",
            datadog(json!({"title": ["not", "text"], "date": "-99999999999999999999"})),
        ),
        ("datadog", datadog(json!({"title": "x".repeat(200_000)}))),
        ("datadog", format!("{{\"title\": {nested}}}")),
        ("datadog", "{}".into()),
        ("datadog", "null".into()),
        (
            "alertmanager",
            alertmanager(&|p| p["groupKey"] = json!("g".repeat(3000))),
        ),
        (
            "alertmanager",
            alertmanager(&|p| p["alerts"][0]["labels"]["alertname"] = json!("a\u{0000}")),
        ),
        (
            "alertmanager",
            alertmanager(&|p| p["alerts"][0]["fingerprint"] = json!("f".repeat(3000))),
        ),
        (
            "alertmanager",
            alertmanager(&|p| p["alerts"] = json!("not a list")),
        ),
        ("alertmanager", alertmanager(&|p| p["alerts"] = json!([]))),
        (
            "alertmanager",
            alertmanager(&|p| p["alerts"][0]["startsAt"] = json!(1e308)),
        ),
        (
            "pagerduty",
            pagerduty(&|p| p["event"]["data"]["id"] = json!("P".repeat(3000))),
        ),
        (
            "pagerduty",
            pagerduty(&|p| p["event"]["data"]["title"] = json!("t\u{0000}")),
        ),
        (
            "pagerduty",
            pagerduty(&|p| p["event"]["id"] = json!("e".repeat(3000))),
        ),
        ("pagerduty", pagerduty(&|p| p["event"] = json!(null))),
    ]
}

async fn hostile_input_gets_a_4xx_or_is_stored_never_a_5xx(backend: Backend) {
    let Some(mut app) = app_on(backend).await else {
        return;
    };
    let mut histogram = std::collections::BTreeMap::new();
    for (n, (route, body)) in hostile_corpus().into_iter().enumerate() {
        let before = app.incident_count().await;
        let response = match route {
            "datadog" => app.post_datadog(&body).await,
            "alertmanager" => app.post_alertmanager(&body).await,
            _ => app.post_pagerduty(&body, &format!("hostile-{n}")).await,
        };
        let status = response.status();
        *histogram.entry((route, status.as_u16())).or_insert(0) += 1;
        let text = response.text().await.unwrap();
        assert!(
            status.is_client_error() || status == 202,
            "{route} #{n} answered {status}: {text}"
        );
        let reply: Value = serde_json::from_str(&text).expect("every answer is JSON");
        if status == 202 {
            if let Some(id) = reply["incident_id"].as_str() {
                let (found, _) = app.get_json(&format!("/api/incidents/{id}")).await;
                assert_eq!(found, 200, "{route} #{n}: the incident it names is stored");
            }
        } else {
            assert_eq!(
                app.incident_count().await,
                before,
                "{route} #{n}: nothing half-stored on {status}"
            );
            assert!(reply["error"].is_string(), "{route} #{n}: {reply}");
        }
    }
    println!("{backend:?} status histogram: {histogram:?}");
    // The daemon is still healthy after all of it.
    let (ready, _) = app.get_json("/readyz").await;
    assert_eq!(ready, 200);
    app.stop().await;
}

#[tokio::test]
async fn hostile_input_on_sqlite_gets_a_4xx_or_is_stored_never_a_5xx() {
    hostile_input_gets_a_4xx_or_is_stored_never_a_5xx(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_input_on_postgres_gets_a_4xx_or_is_stored_never_a_5xx() {
    hostile_input_gets_a_4xx_or_is_stored_never_a_5xx(Backend::Postgres).await;
}
