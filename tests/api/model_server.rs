//! The analysis call against a real OpenAI-compatible server running a real (tiny) model:
//! llama-cpp-python's server with Gemma 3 270M, started by `.ci/run` and named by
//! `TRIAGED_TEST_LLM_URL` (its `/v1` base) and `TRIAGED_TEST_LLM_MODEL`. What is asserted is
//! the wire, not the model's judgement: the tool is forced, the output limit is honoured and a
//! cut answer is detected as truncated, and a repair in the standard tool-call form is rendered
//! by the server's chat template. Without a server the tests are skipped with a printed reason,
//! except under CI, where a missing server is a failure.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use triaged::analysis::llm::{LlmClient, LlmError};
use triaged::analysis::prompt::Prompt;
use triaged::config::{Secrets, Settings};

struct ModelServer {
    base: String,
    model: String,
}

fn model_server() -> Option<ModelServer> {
    match (
        std::env::var("TRIAGED_TEST_LLM_URL"),
        std::env::var("TRIAGED_TEST_LLM_MODEL"),
    ) {
        (Ok(base), Ok(model)) => Some(ModelServer { base, model }),
        _ if std::env::var_os("CI").is_none() => {
            eprintln!(
                "SKIPPED: no model server (set TRIAGED_TEST_LLM_URL and TRIAGED_TEST_LLM_MODEL; .ci/run starts llama-cpp-python's)"
            );
            None
        }
        _ => panic!("CI requires the model server that .ci/run starts"),
    }
}

fn client(base: &str, max_output_tokens: u32) -> LlmClient {
    let mut settings = Settings::default();
    settings.llm.base_url = base.to_string();
    settings.llm.max_output_tokens = max_output_tokens;
    settings.llm.timeout_secs = 300;
    // The recorder reads whole JSON replies; the streamed wire has its own test.
    settings.llm.stream = false;
    LlmClient::from_settings(&settings.llm, &Secrets::default())
        .expect("a base URL configures the model")
}

/// A small incident, so a CPU serves it in seconds.
fn prompt() -> Prompt {
    Prompt {
        system: "You are an SRE triaging an incident. Answer only by calling submit_triage."
            .into(),
        user: "INCIDENT\nalert: checkout-api p99 latency above 800ms\n\nEVIDENCE\n\
               [k8s.rollout.production/checkout-api.rev118] rollout of checkout-api v3.41.0, 4 min before the onset\n\
               [aws.rds.prod-postgres-primary.cpu] prod-postgres-primary CPU 97% (was 35%)\n\n\
               Call submit_triage now."
            .into(),
        omitted: Vec::new(),
    }
}

/// Forwards to the real server and records every exchange. With `break_first`, the first
/// request is not forwarded: it is answered with a tool call whose arguments miss fields,
/// so the client must repair, and the repair is what reaches the real server.
#[derive(Clone)]
struct Recorder {
    upstream: String,
    break_first: bool,
    seen: Arc<Mutex<Vec<(Value, u16, Value)>>>,
}

async fn forward(State(recorder): State<Recorder>, Json(body): Json<Value>) -> Json<Value> {
    let first = recorder.seen.lock().unwrap().is_empty();
    let (status, reply) = if first && recorder.break_first {
        // Complete JSON that misses required fields: a repair, not a cut.
        let cut = r#"{"severity": "SEV2", "summary": "checkout-api is slow", "root_cause": {"statement": "The rollout"}}"#;
        (
            200,
            json!({
                "id": "chatcmpl-broken", "object": "chat.completion", "created": 1795227412,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_broken", "type": "function",
                        "function": {"name": "submit_triage", "arguments": cut}}]}}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}
            }),
        )
    } else {
        let response = reqwest::Client::new()
            .post(format!("{}/chat/completions", recorder.upstream))
            .json(&body)
            .send()
            .await
            .expect("the model server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    };
    recorder
        .seen
        .lock()
        .unwrap()
        .push((body, status, reply.clone()));
    Json(reply)
}

/// Starts a recorder in front of the real server; returns its `/v1` base.
async fn recorder(server: &ModelServer, break_first: bool) -> (String, Recorder) {
    let recorder = Recorder {
        upstream: server.base.trim_end_matches('/').to_string(),
        break_first,
        seen: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(forward))
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, recorder)
}

fn print_exchanges(seen: &[(Value, u16, Value)]) {
    for (request, status, reply) in seen {
        println!(
            "request roles {:?} tool_choice {} max_tokens {} temperature {} → HTTP {status}: {}",
            request["messages"]
                .as_array()
                .map(|m| m.iter().map(|m| m["role"].clone()).collect::<Vec<_>>()),
            request["tool_choice"],
            request["max_tokens"],
            request["temperature"],
            reply.to_string().chars().take(500).collect::<String>()
        );
    }
}

#[tokio::test]
async fn the_tool_is_forced_the_output_limit_honoured_and_a_cut_answer_called_truncated() {
    let Some(server) = model_server() else {
        return;
    };
    let (base, recorder) = recorder(&server, false).await;
    let started = Instant::now();
    let result = client(&base, 24)
        .submit_triage(&server.model, &prompt())
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let seen = recorder.seen.lock().unwrap().clone();
    println!("24-token limit: {result:?} in {seconds:.1} s");
    print_exchanges(&seen);
    assert_eq!(seen.len(), 1, "no repair is spent on a cut answer");
    let (request, status, reply) = &seen[0];
    assert_eq!(*status, 200, "{reply}");
    assert_eq!(
        request["max_tokens"], 24,
        "the limit goes where the server reads it"
    );
    // Forced: the answer is a call of submit_triage, not prose.
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "submit_triage",
        "{reply}"
    );
    // The server stopped at the limit, and the client saw the cut whatever finish_reason said.
    assert!(
        reply["usage"]["completion_tokens"].as_u64().unwrap() <= 24,
        "{reply}"
    );
    assert!(matches!(result, Err(LlmError::Truncated(24))), "{result:?}");
}

#[tokio::test]
async fn a_repair_in_the_standard_tool_call_form_is_rendered_by_the_server() {
    let Some(server) = model_server() else {
        return;
    };
    let (base, recorder) = recorder(&server, true).await;
    let started = Instant::now();
    let result = client(&base, 48)
        .submit_triage(&server.model, &prompt())
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let seen = recorder.seen.lock().unwrap().clone();
    println!("repair: {result:?} in {seconds:.1} s");
    print_exchanges(&seen);
    assert_eq!(seen.len(), 2, "one repair: {result:?}");
    let (repair, status, reply) = &seen[1];
    let roles: Vec<&str> = repair["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(repair["messages"][3]["tool_call_id"], "call_broken");
    assert_eq!(
        *status, 200,
        "the server's chat template rendered the repair: {reply}"
    );
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "submit_triage",
        "the repair is answered with the tool again: {reply}"
    );
    // Whatever the tiny model wrote the second time, the client names the outcome.
    assert!(
        matches!(
            result,
            Ok(_) | Err(LlmError::InvalidArguments(_)) | Err(LlmError::Truncated(_))
        ),
        "{result:?}"
    );
}

fn streaming_client(base: &str, max_output_tokens: u32, timeout_secs: u64) -> LlmClient {
    let mut settings = Settings::default();
    settings.llm.base_url = base.to_string();
    settings.llm.max_output_tokens = max_output_tokens;
    settings.llm.timeout_secs = timeout_secs;
    settings.llm.stream = true;
    LlmClient::from_settings(&settings.llm, &Secrets::default())
        .expect("a base URL configures the model")
}

#[tokio::test]
async fn a_streamed_answer_is_the_forced_tool_and_a_deadline_frees_the_server() {
    let Some(server) = model_server() else {
        return;
    };
    // Streamed with a small limit: the tool call arrives in deltas (the server repeats the
    // function name in each, and sends no usage chunk), and the cut is seen as truncation.
    let started = Instant::now();
    let result = streaming_client(&server.base, 24, 300)
        .submit_triage(&server.model, &prompt())
        .await;
    println!(
        "streamed, 24-token limit: {result:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(matches!(result, Err(LlmError::Truncated(24))), "{result:?}");

    // A deadline shorter than the answer: the stream is dropped, the connection closed, and the
    // server's only slot is free for the next request instead of generating 4,000 tokens for
    // nobody.
    let started = Instant::now();
    let result = streaming_client(&server.base, 4000, 1)
        .submit_triage(&server.model, &prompt())
        .await;
    assert!(matches!(result, Err(LlmError::Timeout(1))), "{result:?}");
    let started_next = Instant::now();
    let next = streaming_client(&server.base, 24, 300)
        .submit_triage(&server.model, &prompt())
        .await;
    let waited = started_next.elapsed().as_secs_f64();
    println!(
        "deadline after {:.1} s; the next request answered in {waited:.1} s: {next:?}",
        started.elapsed().as_secs_f64() - waited
    );
    assert!(
        matches!(next, Err(LlmError::Truncated(24))),
        "the server answered the next request: {next:?}"
    );
}
