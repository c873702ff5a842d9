//! Upstream chaos: the model and Slack fail in each way they do in production, one mode per
//! daemon, and for every mode the brief is delivered or the failure is named where the on-call
//! engineer looks, and no message is ever posted twice. Prints a goal table.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use triaged::config::Secrets;
use triaged::domain::JobState;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

const CHANNEL: &str = "C0INCIDENTS";
const SCENARIO: &str = "tests/scenarios/deploy-full-table-scan";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Model500,
    Model429,
    ModelHang,
    ModelInvalidArguments,
    ModelLength,
    ModelNoToolCall,
    Slack500,
    Slack429,
    SlackLostReply,
    SlackChannelNotFound,
}

impl Mode {
    const ALL: [Mode; 10] = [
        Mode::Model500,
        Mode::Model429,
        Mode::ModelHang,
        Mode::ModelInvalidArguments,
        Mode::ModelLength,
        Mode::ModelNoToolCall,
        Mode::Slack500,
        Mode::Slack429,
        Mode::SlackLostReply,
        Mode::SlackChannelNotFound,
    ];

    /// What must hold: the model's brief delivered, the rules brief delivered with the
    /// model's failure named in Slack, or the delivery failure named in the timeline.
    fn goal(self) -> Goal {
        match self {
            Mode::Model429 | Mode::Slack500 | Mode::Slack429 | Mode::SlackLostReply => {
                Goal::ModelBriefDelivered
            }
            Mode::SlackChannelNotFound => Goal::DeliveryFailureNamed("channel_not_found"),
            _ => Goal::RulesBriefWithModelFailureNamed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    ModelBriefDelivered,
    RulesBriefWithModelFailureNamed,
    DeliveryFailureNamed(&'static str),
}

fn completion(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-chaos", "object": "chat.completion", "created": 1795227412,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 3100, "completion_tokens": 240, "total_tokens": 3340}
    })
}

fn tool_call(arguments: &str) -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_chaos", "type": "function",
        "function": {"name": "submit_triage", "arguments": arguments}}]})
}

/// A sound answer citing the first evidence id the prompt shows, as a model would.
fn good_answer(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let cited = triaged::bench::fakes::first_evidence_id(&body).unwrap_or_default();
    let arguments = json!({
        "severity": "SEV2",
        "summary": "A rollout added a query that scans a large table; database CPU saturated.",
        "affected_services": ["inventory-api"],
        "root_cause": {"statement": "The latest rollout of inventory-api runs a full-table scan.",
            "category": "deploy_regression", "entity": "deployment/production/inventory-api",
            "confidence": "MEDIUM", "score": 0.7, "evidence_ids": [cited], "knowledge_ids": []},
        "alternatives": [], "actions": [],
        "confidence_breakdown": [{"check": "The rollout came minutes before the onset", "holds": true, "evidence_ids": [cited]}],
        "data_gaps": [], "past_incident": null,
        "status_page_draft": {"title": "Inventory is slow", "body": "Some requests are slow; we are investigating.", "status": "investigating"},
        "escalate": false
    });
    reply(
        request,
        completion(tool_call(&arguments.to_string()), "tool_calls"),
    )
}

/// A completion as the server sends it for `request`: streamed when the client asked.
fn reply(request: &Request, completion: Value) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if body["stream"] == true {
        ResponseTemplate::new(200).set_body_raw(
            triaged::bench::fakes::stream_events(&completion),
            "text/event-stream",
        )
    } else {
        ResponseTemplate::new(200).set_body_json(completion)
    }
}

fn api_error(status: u16, message: &str, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

async fn mount_model(model: &MockServer, mode: Mode) {
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |request: &Request| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            match mode {
                Mode::Model500 => api_error(500, "The server had an error", "server_error"),
                Mode::Model429 if n == 0 => {
                    api_error(429, "Rate limit reached for requests", "requests")
                        .insert_header("retry-after", "1")
                }
                Mode::ModelHang => good_answer(request).set_delay(Duration::from_secs(30)),
                Mode::ModelInvalidArguments => reply(
                    request,
                    completion(
                        tool_call("{\"severity\": \"SEV2\", \"summary\": "),
                        "tool_calls",
                    ),
                ),
                Mode::ModelLength => reply(
                    request,
                    completion(
                        tool_call("{\"severity\": \"SEV2\", \"summary\": \"The data"),
                        "length",
                    ),
                ),
                Mode::ModelNoToolCall => reply(
                    request,
                    completion(
                        json!({"role": "assistant", "content": "It is probably the database."}),
                        "stop",
                    ),
                ),
                _ => good_answer(request),
            }
        })
        .mount(model)
        .await;
}

/// A Slack that keeps what it accepted (history and thread lookups see it), failing the
/// first post as the mode says.
async fn mount_slack(slack: &MockServer, mode: Mode) -> Arc<Mutex<Vec<Value>>> {
    let kept = Arc::new(Mutex::new(Vec::<Value>::new()));
    let posts = Arc::new(AtomicUsize::new(0));
    let record = Arc::clone(&kept);
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(move |request: &Request| {
            let first = posts.fetch_add(1, Ordering::SeqCst) == 0;
            let fail = |error: &str| {
                ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
            };
            match mode {
                Mode::SlackChannelNotFound => return fail("channel_not_found"),
                Mode::Slack500 if first => {
                    return ResponseTemplate::new(500).set_body_string("internal error");
                }
                Mode::Slack429 if first => {
                    return ResponseTemplate::new(429)
                        .set_body_json(json!({"ok": false, "error": "ratelimited"}))
                        .insert_header("retry-after", "1");
                }
                _ => {}
            }
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let mut messages = record.lock().unwrap();
            let ts = format!("1795227090.{:06}", messages.len() + 1);
            let mut message = json!({"type": "message", "ts": ts, "text": body["text"],
                "blocks": body["blocks"], "metadata": body["metadata"]});
            if let Some(thread) = body.get("thread_ts") {
                message["thread_ts"] = thread.clone();
            }
            messages.push(message);
            let reply = ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": CHANNEL, "ts": ts}));
            if mode == Mode::SlackLostReply && first {
                // Posted, but the reply outlives the client's timeout.
                reply.set_delay(Duration::from_secs(5))
            } else {
                reply
            }
        })
        .mount(slack)
        .await;
    let record = Arc::clone(&kept);
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let mut messages = record.lock().unwrap();
            if let Some(message) = messages.iter_mut().find(|m| m["ts"] == body["ts"]) {
                message["text"] = body["text"].clone();
                message["blocks"] = body["blocks"].clone();
            }
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": CHANNEL, "ts": body["ts"]}))
        })
        .mount(slack)
        .await;
    for lookup in ["/conversations.history", "/conversations.replies"] {
        let record = Arc::clone(&kept);
        Mock::given(method("POST"))
            .and(path(lookup))
            .respond_with(move |_: &Request| {
                let messages = record.lock().unwrap().clone();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "messages": messages, "has_more": false}))
            })
            .mount(slack)
            .await;
    }
    kept
}

struct Outcome {
    met: bool,
    what: String,
    model_calls: usize,
    slack_messages: usize,
    duplicates: usize,
}

async fn run(mode: Mode) -> Outcome {
    let model = MockServer::start().await;
    let slack = MockServer::start().await;
    mount_model(&model, mode).await;
    let kept = mount_slack(&slack, mode).await;
    let secrets = Secrets::from_lookup(|name| match name {
        "TRIAGED_WEBHOOK_TOKEN" => Some(WEBHOOK_TOKEN.into()),
        "OPENAI_API_KEY" => Some("sk-test-not-a-real-key".into()),
        "SLACK_BOT_TOKEN" => Some("xoxb-test-not-real".into()),
        _ => None,
    });
    let (model_url, slack_url) = (format!("{}/v1", model.uri()), slack.uri());
    let scenario = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    let recorded = scenario.join("evidence.json");
    let app = spawn_app_with_pipeline(
        move |s| {
            s.llm.base_url = model_url;
            s.llm.strong_model = String::new();
            s.llm.timeout_secs = 2;
            s.slack.api_base = slack_url;
            s.slack.default_channel = CHANNEL.into();
            s.slack.timeout_secs = 2;
            s.collectors.recorded = vec![recorded];
        },
        secrets,
    )
    .await;
    let payload = std::fs::read_to_string(scenario.join("alert.json")).unwrap();
    let receipt: Value = app.post_datadog(&payload).await.json().await.unwrap();
    let id = receipt["incident_id"].as_str().unwrap().to_string();
    let detail = app
        .wait_for_incident(&id, "all jobs finished", |d| {
            d.jobs
                .iter()
                .all(|j| matches!(j.state, JobState::Done | JobState::Dead))
        })
        .await;

    let messages = kept.lock().unwrap().clone();
    let mut keys = std::collections::HashMap::<String, usize>::new();
    for message in &messages {
        let key = message["metadata"]["event_payload"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *keys.entry(key).or_default() += 1;
    }
    let duplicates = keys.values().filter(|n| **n > 1).count();
    let shown: String = messages
        .iter()
        .map(|m| format!("{} {}", m["text"], m["blocks"]))
        .collect();
    let brief = detail.brief.clone().unwrap_or_default();
    let analyst = brief["analyst"].as_str().unwrap_or_default().to_string();
    let delivered = shown.contains("analyst: ");
    let (met, what) = match mode.goal() {
        Goal::ModelBriefDelivered => (
            delivered && analyst == "gpt-4.1-mini",
            format!(
                "brief by {analyst} delivered: {delivered} {}",
                brief["fallback_reason"]
            ),
        ),
        Goal::RulesBriefWithModelFailureNamed => {
            let named =
                shown.contains("model unavailable") && shown.contains("deterministic rules:");
            (
                delivered && analyst == "rules" && named,
                format!(
                    "rules brief delivered: {delivered}, model failure named in Slack: {named}"
                ),
            )
        }
        Goal::DeliveryFailureNamed(error) => {
            let named = detail
                .stages
                .iter()
                .any(|s| s.detail.as_deref().is_some_and(|d| d.contains(error)));
            let stopped = detail.jobs.iter().all(|j| j.attempts == 1);
            (
                named && stopped && messages.is_empty(),
                format!("failure named in the timeline: {named}, not retried: {stopped}"),
            )
        }
    };
    Outcome {
        met: met && duplicates == 0,
        what,
        model_calls: model.received_requests().await.unwrap().len(),
        slack_messages: messages.len(),
        duplicates,
    }
}

#[tokio::test]
async fn every_upstream_failure_mode_delivers_a_brief_or_names_the_failure_and_never_duplicates() {
    let mut table = vec![format!(
        "{:<24} {:<36} {:>6} {:>6} {:>5}  {}",
        "mode", "goal", "model", "slack", "dups", "met"
    )];
    let mut missed = Vec::new();
    for mode in Mode::ALL {
        let outcome = run(mode).await;
        table.push(format!(
            "{:<24} {:<36} {:>6} {:>6} {:>5}  {} ({})",
            format!("{mode:?}"),
            format!("{:?}", mode.goal()),
            outcome.model_calls,
            outcome.slack_messages,
            outcome.duplicates,
            if outcome.met { "yes" } else { "NO" },
            outcome.what
        ));
        if !outcome.met {
            missed.push(format!("{mode:?}: {}", outcome.what));
        }
    }
    println!("{}", table.join("\n"));
    println!(
        "chaos: {}/{} modes meet their goal",
        Mode::ALL.len() - missed.len(),
        Mode::ALL.len()
    );
    assert!(
        missed.is_empty(),
        "modes missing their goal:\n{}",
        missed.join("\n")
    );
}
