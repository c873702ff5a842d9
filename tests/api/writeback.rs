//! The progressive card (posted before any source answers, updated as they do, replaced by the
//! brief) and the write-backs beside Slack — PagerDuty incident notes and Datadog events —
//! through a running daemon against fakes that answer like the vendors' documented APIs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use triaged::domain::{IncidentDetail, JobState, StageOutcome, StageRun};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

const CHANNEL: &str = "C0INCIDENTS";
const PD_INCIDENT: &str = "Q2F7NOV3Y6PJ0A";

/// A Slack Web API that records every call with its arrival time.
#[derive(Clone, Default)]
struct Slack {
    calls: Arc<Mutex<Vec<(Instant, String, Value)>>>,
}

impl Slack {
    fn calls(&self) -> Vec<(Instant, String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Respond for Slack {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let method = request.url.path().trim_start_matches('/').to_string();
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), method.clone(), body));
        match method.as_str() {
            "chat.postMessage" => ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "channel": CHANNEL, "ts": "1795227090.000100",
                "message": {"type": "message", "ts": "1795227090.000100"}
            })),
            "conversations.history" => ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "messages": [], "has_more": false})),
            _ => ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": CHANNEL, "ts": "1795227090.000100"})),
        }
    }
}

fn last_deliver(detail: &IncidentDetail) -> &StageRun {
    detail
        .stages
        .iter()
        .rev()
        .find(|s| s.stage.as_str() == "deliver")
        .expect("a deliver stage ran")
}

fn blocks(body: &Value) -> String {
    body["blocks"].to_string()
}

#[tokio::test]
async fn the_card_is_posted_before_any_source_answers_follows_them_and_yields_to_the_brief() {
    let slack_server = MockServer::start().await;
    let slack = Slack::default();
    Mock::given(method("POST"))
        .respond_with(slack.clone())
        .mount(&slack_server)
        .await;
    // Datadog answers every read after 1.5 s, with its documented 500 body.
    let datadog = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(500)
                .set_delay(Duration::from_millis(1500))
                .set_body_json(json!({"errors": ["Internal Server Error"]})),
        )
        .mount(&datadog)
        .await;
    let mut secrets = test_secrets();
    secrets.slack_bot_token = Some("xoxb-test-not-real".to_string().into());
    secrets.datadog_api_key = Some("dd-api-key-not-real".to_string().into());
    secrets.datadog_app_key = Some("dd-app-key-not-real".to_string().into());
    let (slack_uri, datadog_uri) = (slack_server.uri(), datadog.uri());
    let app = spawn_app_with_pipeline(
        move |s| {
            s.slack.api_base = slack_uri;
            s.slack.default_channel = CHANNEL.into();
            s.slack.timeout_secs = 2;
            s.datadog.api_base = datadog_uri;
            s.collectors.source_timeout_secs = 4;
            s.collectors.overall_timeout_secs = 5;
            sample_knowledge(s);
        },
        secrets,
    )
    .await;

    let response = app.post_datadog(&fixture("datadog_triggered.json")).await;
    let (_, detail) = app.settle(response).await;
    assert_eq!(detail.jobs[0].state, JobState::Done, "{:?}", detail.jobs);

    let calls = slack.calls();
    let posts: Vec<&(Instant, String, Value)> = calls
        .iter()
        .filter(|(_, m, _)| m == "chat.postMessage")
        .collect();
    assert_eq!(posts.len(), 1, "one parent message: {calls:#?}");
    let (posted_at, _, card) = posts[0];
    assert_eq!(calls[0].1, "chat.postMessage", "the card comes first");
    let first = blocks(card);
    assert!(
        first.contains("*datadog* — collecting…"),
        "the card went out before Datadog answered: {first}"
    );
    assert!(
        first.contains("team `payments`") && first.contains("*P1*"),
        "what fired and who owns it: {first}"
    );
    assert!(
        first.contains("*Runbook:*") && first.contains("Postgres"),
        "the runbook for the alert text, found without any collector: {first}"
    );
    assert!(card["text"].as_str().unwrap().starts_with("Investigating"));

    let updates: Vec<&(Instant, String, Value)> = calls
        .iter()
        .filter(|(_, m, _)| m == "chat.update")
        .collect();
    let brief_at = updates
        .iter()
        .position(|(_, _, b)| blocks(b).contains("ROOT CAUSE"))
        .expect("the brief replaced the card");
    let card_updates = &updates[..brief_at];
    assert!(
        updates[brief_at..]
            .iter()
            .all(|(_, _, b)| blocks(b).contains("ROOT CAUSE")),
        "no card update after the brief: {updates:#?}"
    );
    let answered = card_updates
        .iter()
        .map(|(_, _, b)| blocks(b))
        .find(|b| !b.contains("*datadog* — collecting…"))
        .expect("the card was updated once Datadog answered");
    assert!(
        answered.contains("*datadog* — ") && answered.contains("FIRST LOOK"),
        "{answered}"
    );
    // At most one update per second per message.
    let mut previous = *posted_at;
    for (at, _, _) in card_updates {
        assert!(
            at.duration_since(previous) >= Duration::from_millis(950),
            "card updates are coalesced to one a second"
        );
        previous = *at;
    }
}

// ------------------------------------------------------------------------- PagerDuty notes

/// A request as the fake saw it: method, path, `From` and `Authorization` headers.
type Seen = (String, String, Option<String>, Option<String>);

/// A PagerDuty REST API: notes are stored and listed; `lose_first_reply` makes the first
/// note's reply a 502 after the note was created (a reply lost on the way back); `status`
/// answers every write with that error status and PagerDuty's error body instead.
#[derive(Clone, Default)]
struct PagerDuty {
    notes: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<Seen>>>,
    lose_first_reply: bool,
    status: Option<u16>,
}

impl Respond for PagerDuty {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        self.requests.lock().unwrap().push((
            request.method.to_string(),
            request.url.path().to_string(),
            header("from"),
            header("authorization"),
        ));
        if let Some(status) = self.status {
            let message = if status == 401 {
                "Unauthorized"
            } else {
                "Access Denied"
            };
            return ResponseTemplate::new(status)
                .set_body_json(json!({"error": {"message": message, "code": 2006}}));
        }
        if request.method.as_str() == "GET" {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"notes": self.notes.lock().unwrap().clone()}));
        }
        if request.url.path().ends_with("/status_updates") {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"status_update": {"id": "PSU1234", "message": "x"}}));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut notes = self.notes.lock().unwrap();
        let note = json!({
            "id": format!("PNOTE{}", notes.len() + 1),
            "user": {"id": "PTUXL6G", "type": "user_reference", "summary": "triaged"},
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": body["note"]["content"],
            "created_at": "2026-11-21T02:12:00Z",
        });
        notes.push(note.clone());
        if self.lose_first_reply && notes.len() == 1 {
            return ResponseTemplate::new(502);
        }
        ResponseTemplate::new(201).set_body_json(json!({"note": note}))
    }
}

async fn pagerduty_app(pd: &PagerDuty, server: &MockServer, post_status: bool) -> TestApp {
    Mock::given(path_regex("^/incidents/[A-Z0-9]+/(notes|status_updates)$"))
        .respond_with(pd.clone())
        .mount(server)
        .await;
    let mut secrets = test_secrets();
    secrets.pagerduty_api_token = Some("pd-token-not-real".to_string().into());
    let uri = server.uri();
    spawn_app_with_pipeline(
        move |s| {
            s.pagerduty.api_base = uri;
            s.pagerduty.from_email = "triaged@example.com".into();
            s.pagerduty.post_status_updates = post_status;
            s.slack.public_url = "https://triaged.example.com".into();
        },
        secrets,
    )
    .await
}

async fn trigger_pagerduty(app: &TestApp) -> String {
    let response = app
        .post_pagerduty(&fixture("pagerduty_incident_triggered.json"), "wh-1")
        .await;
    app.settle(response).await.0
}

#[tokio::test]
async fn the_brief_becomes_one_pagerduty_note_although_the_first_reply_was_lost() {
    let server = MockServer::start().await;
    let pd = PagerDuty {
        lose_first_reply: true,
        ..PagerDuty::default()
    };
    let app = pagerduty_app(&pd, &server, false).await;
    let id = trigger_pagerduty(&app).await;
    let detail = app.incident(&id).await;
    assert!(
        detail.jobs.iter().all(|j| j.state == JobState::Done),
        "{:?}",
        detail.jobs
    );
    assert!(
        detail.jobs[0].attempts >= 2,
        "the lost reply made the deliver stage retry: {:?}",
        detail.jobs
    );

    let notes = pd.notes.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "one note per brief: {notes:#?}");
    let content = notes[0]["content"].as_str().unwrap();
    assert!(content.starts_with("triaged brief — "), "{content}");
    assert!(
        content.contains(&format!("https://triaged.example.com/incidents/{id}")),
        "links the incident page: {content}"
    );
    assert!(
        content.chars().count() < 2_000,
        "short enough to read on a phone"
    );
    let requests = pd.requests.lock().unwrap().clone();
    let (posts, lists): (Vec<_>, Vec<_>) = requests.iter().partition(|r| r.0 == "POST");
    assert_eq!(
        posts.len(),
        1,
        "the note was not posted twice: {requests:#?}"
    );
    assert!(
        !lists.is_empty(),
        "the retry looked for the note first: {requests:#?}"
    );
    for (_, path, from, auth) in &requests {
        assert_eq!(path, &format!("/incidents/{PD_INCIDENT}/notes"));
        assert_eq!(from.as_deref(), Some("triaged@example.com"));
        assert_eq!(auth.as_deref(), Some("Token token=pd-token-not-real"));
    }
    assert!(
        !requests.iter().any(|r| r.1.ends_with("/status_updates")),
        "the status update stays a draft unless pagerduty.post_status_updates is on"
    );
}

#[tokio::test]
async fn a_refused_pagerduty_token_is_reported_once_and_not_retried() {
    let server = MockServer::start().await;
    let pd = PagerDuty {
        status: Some(401),
        ..PagerDuty::default()
    };
    let app = pagerduty_app(&pd, &server, true).await;
    let id = trigger_pagerduty(&app).await;
    let detail = app.incident(&id).await;
    assert_eq!(detail.jobs[0].state, JobState::Done, "{:?}", detail.jobs);
    assert_eq!(detail.jobs[0].attempts, 1, "a 401 is not retried");
    let deliver = last_deliver(&detail);
    assert_eq!(deliver.outcome, StageOutcome::Failed);
    let text = deliver.detail.clone().unwrap_or_default();
    assert!(
        text.contains("HTTP 401") && text.contains("Unauthorized") && text.contains("not retried"),
        "{text}"
    );
    assert!(
        !text.contains("pd-token-not-real"),
        "the token never appears"
    );
    let requests = pd.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        1,
        "one call; the status update is not attempted with a refused token: {requests:#?}"
    );
}

// ------------------------------------------------------------------------- Datadog events

#[tokio::test]
async fn the_brief_headline_becomes_a_datadog_event_tagged_like_the_monitor() {
    let datadog = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/events"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "ok",
            "event": {"id": 6_543_210_987_654_321_i64, "id_str": "6543210987654321", "title": "x"}
        })))
        .mount(&datadog)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"errors": ["Forbidden"]})))
        .mount(&datadog)
        .await;
    let mut secrets = test_secrets();
    secrets.datadog_api_key = Some("dd-api-key-not-real".to_string().into());
    secrets.datadog_app_key = Some("dd-app-key-not-real".to_string().into());
    let uri = datadog.uri();
    let app = spawn_app_with_pipeline(
        move |s| {
            s.datadog.api_base = uri;
            s.datadog.post_events = true;
        },
        secrets,
    )
    .await;
    let response = app.post_datadog(&fixture("datadog_triggered.json")).await;
    let (_, detail) = app.settle(response).await;
    assert_eq!(detail.jobs[0].state, JobState::Done, "{:?}", detail.jobs);
    let requests = datadog.received_requests().await.unwrap();
    let events: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/api/v1/events")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    let tags: Vec<&str> = events[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tag in [
        "service:checkout-db",
        "dbinstanceidentifier:prod-postgres-primary",
        "source:triaged",
    ] {
        assert!(tags.contains(&tag), "{tag} in {tags:?}");
    }
    assert!(tags.iter().any(|t| t.starts_with("triaged_ref:")));
    assert!(
        events[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("triaged: ")
    );
    let deliver = last_deliver(&detail);
    assert!(
        deliver
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("Datadog event 6543210987654321 posted")),
        "{deliver:?}"
    );
}

#[tokio::test]
async fn a_retrigger_adds_a_note_of_what_changed_and_status_updates_go_out_only_when_enabled() {
    let server = MockServer::start().await;
    let pd = PagerDuty::default();
    let app = pagerduty_app(&pd, &server, true).await;
    let id = trigger_pagerduty(&app).await;
    let mut reopened: Value =
        serde_json::from_str(&fixture("pagerduty_incident_triggered.json")).unwrap();
    reopened["event"]["id"] = json!("01DVUHO7TEFQ3XSA9JB8REOPEN");
    reopened["event"]["event_type"] = json!("incident.reopened");
    let response = app.post_pagerduty(&reopened.to_string(), "wh-2").await;
    let (again, detail) = app.settle(response).await;
    assert_eq!(again, id, "the re-trigger joins the incident");
    assert!(detail.jobs.len() >= 2, "{:?}", detail.jobs);

    let notes = pd.notes.lock().unwrap().clone();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    let update = notes[1]["content"].as_str().unwrap();
    assert!(
        update.starts_with("triaged update — Re-triggered"),
        "{update}"
    );
    let requests = pd.requests.lock().unwrap().clone();
    let status_updates: Vec<_> = requests
        .iter()
        .filter(|r| r.1.ends_with("/status_updates"))
        .collect();
    assert_eq!(
        status_updates.len(),
        1,
        "one status update for the brief, none for the re-trigger: {requests:#?}"
    );
}
