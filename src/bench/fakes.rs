//! Fake upstreams for the benchmark, with fixed latencies: a Datadog API, an
//! OpenAI-compatible model and the Slack Web API. They answer the documented shapes and
//! record what the daemon did (model concurrency, Slack posts per incident, brief times).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    pub datadog: Duration,
    pub model: Duration,
    pub slack: Duration,
    /// Per request to the Kubernetes API, the AWS APIs and Cloudflare's GraphQL API. These
    /// collectors make a few requests each (some one after another), so their per-request
    /// latency is set below Datadog's and Datadog stays the slowest source.
    pub other: Duration,
}

#[derive(Default)]
pub struct Recorder {
    model_in_flight: AtomicUsize,
    pub model_peak: AtomicUsize,
    pub model_calls: AtomicUsize,
    /// Requests answered by the Kubernetes, AWS and Cloudflare fakes.
    pub other_requests: AtomicUsize,
    next_ts: AtomicUsize,
    /// Parent messages (not thread replies) posted per incident.
    pub parents: Mutex<HashMap<String, usize>>,
    ts_to_incident: Mutex<HashMap<String, String>>,
    /// When each incident's analysed brief first reached Slack.
    pub brief_at: Mutex<HashMap<String, Instant>>,
    /// When each incident's first card (a parent message before the brief) reached Slack.
    pub card_at: Mutex<HashMap<String, Instant>>,
}

struct Fake {
    latencies: Latencies,
    recorder: Arc<Recorder>,
}

pub struct Upstreams {
    pub datadog: String,
    pub model: String,
    pub slack: String,
    pub kubernetes: String,
    pub aws: String,
    pub cloudflare: String,
    pub recorder: Arc<Recorder>,
}

pub async fn start(latencies: Latencies) -> anyhow::Result<Upstreams> {
    let recorder = Arc::new(Recorder::default());
    let fake = Arc::new(Fake {
        latencies,
        recorder: Arc::clone(&recorder),
    });
    let datadog = Router::new()
        .route("/api/v1/monitor/{id}", get(monitor))
        .route("/api/v1/monitor", get(monitor_list))
        .route("/api/v1/query", get(query))
        .route("/api/v2/logs/events/search", post(empty_search))
        .route("/api/v2/events/search", post(empty_search))
        .with_state(Arc::clone(&fake));
    let model = Router::new()
        .route("/v1/chat/completions", post(completion))
        .with_state(Arc::clone(&fake));
    let slack = Router::new()
        .route("/chat.postMessage", post(slack_post))
        .route("/chat.update", post(slack_update))
        .route(
            "/conversations.history",
            post(|| async { Json(json!({"ok": true, "messages": [], "has_more": false})) }),
        )
        .with_state(Arc::clone(&fake));
    // Kubernetes: every list the collector reads is empty (a quiet cluster), in the API
    // server's List shape.
    let kubernetes = Router::new()
        .fallback(get(kube_list))
        .with_state(Arc::clone(&fake));
    // AWS Query protocol (RDS, CloudWatch): an empty result for whichever Action is asked.
    let aws = Router::new()
        .fallback(post(aws_query))
        .with_state(Arc::clone(&fake));
    let cloudflare = Router::new()
        .route("/graphql", post(cloudflare_graphql))
        .with_state(Arc::clone(&fake));
    Ok(Upstreams {
        datadog: serve(datadog).await?,
        model: serve(model).await?,
        slack: serve(slack).await?,
        kubernetes: serve(kubernetes).await?,
        aws: serve(aws).await?,
        cloudflare: serve(cloudflare).await?,
        recorder,
    })
}

async fn serve(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://{addr}"))
}

/// Get all monitor details (`monitor_tags=service:…`): the service's monitors, as a list.
async fn monitor_list(State(fake): State<Arc<Fake>>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.datadog).await;
    Json(
        json!([{"id": 1, "name": "p99 latency", "type": "query alert", "query": "avg(last_5m):avg:trace.http.request.duration{*} > 2", "overall_state": "Alert", "options": {}, "tags": ["service:checkout-api"]}]),
    )
}

async fn monitor(State(fake): State<Arc<Fake>>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.datadog).await;
    Json(
        json!({"id": 1, "name": "p99 latency", "type": "query alert", "query": "avg(last_5m):avg:trace.http.request.duration{*} > 2", "overall_state": "Alert", "options": {}, "tags": []}),
    )
}

async fn query(State(fake): State<Arc<Fake>>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.datadog).await;
    let now = chrono::Utc::now().timestamp_millis();
    let points: Vec<Value> = (0..60)
        .map(|i| {
            json!([
                (now - (60 - i) * 60_000) as f64,
                if i > 40 { 2.8 } else { 0.4 }
            ])
        })
        .collect();
    Json(
        json!({"status": "ok", "series": [{"metric": "trace.http.request.duration", "scope": "*", "pointlist": points}]}),
    )
}

async fn kube_list(State(fake): State<Arc<Fake>>, uri: axum::http::Uri) -> Json<Value> {
    fake.recorder.other_requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.latencies.other).await;
    let kind = uri
        .path()
        .rsplit('/')
        .next()
        .map_or("List".to_string(), |resource| format!("{resource}List"));
    Json(
        json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}),
    )
}

async fn aws_query(State(fake): State<Arc<Fake>>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    fake.recorder.other_requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.latencies.other).await;
    let action = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("Unknown")
        .to_string();
    let namespace = if matches!(action.as_str(), "GetMetricData" | "DescribeAlarms") {
        "http://monitoring.amazonaws.com/doc/2010-08-01/"
    } else {
        "http://rds.amazonaws.com/doc/2014-10-31/"
    };
    let xml = format!(
        "<{action}Response xmlns=\"{namespace}\"><{action}Result></{action}Result><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></{action}Response>"
    );
    ([("content-type", "text/xml")], xml).into_response()
}

async fn cloudflare_graphql(State(fake): State<Arc<Fake>>) -> Json<Value> {
    fake.recorder.other_requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.latencies.other).await;
    Json(json!({
        "data": {"viewer": {"zones": [{"statuses": [], "latency": [], "cache": [], "firewall": []}]}},
        "errors": null
    }))
}

async fn empty_search(State(fake): State<Arc<Fake>>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.datadog).await;
    Json(json!({"data": [], "meta": {"page": {}}}))
}

/// The first evidence id the prompt shows (`[id] source kind, anomaly …`), which the fake
/// model cites as a model would: an answer citing nothing real is set aside by validation.
pub fn first_evidence_id(request: &Value) -> Option<String> {
    let messages = request["messages"].as_array()?;
    messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .flat_map(str::lines)
        .find(|line| line.starts_with('[') && line.contains(", anomaly "))
        .and_then(|line| line[1..].split_once(']'))
        .map(|(id, _)| id.to_string())
}

async fn completion(State(fake): State<Arc<Fake>>, Json(request): Json<Value>) -> Response {
    let recorder = &fake.recorder;
    let now = recorder.model_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    recorder.model_peak.fetch_max(now, Ordering::SeqCst);
    recorder.model_calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.latencies.model).await;
    recorder.model_in_flight.fetch_sub(1, Ordering::SeqCst);
    let arguments = json!({
        "severity": "SEV2", "summary": "Latency regression.", "affected_services": ["checkout-api"],
        "root_cause": {"statement": "Latency rose after the onset.", "category": "unknown", "entity": "service/checkout-api",
                       "confidence": "LOW", "score": 0.3, "evidence_ids": first_evidence_id(&request).into_iter().collect::<Vec<_>>(), "knowledge_ids": []},
        "alternatives": [], "actions": [], "confidence_breakdown": [], "data_gaps": [], "past_incident": null,
        "status_page_draft": {"title": "Slow responses", "body": "We are investigating.", "status": "investigating"},
        "escalate": false
    });
    answer(
        &request,
        tool_call_completion("bench-model", &arguments, (3000, 400)),
    )
}

/// A chat completion as an OpenAI-compatible server answers `request`: one JSON body, or
/// server-sent events when the request asked for a stream.
pub fn answer(request: &Value, completion: Value) -> Response {
    if request["stream"] == true {
        (
            [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
            stream_events(&completion),
        )
            .into_response()
    } else {
        Json(completion).into_response()
    }
}

/// A whole chat completion as the server-sent events OpenAI streams for it: a first chunk
/// with the role, content and each tool call's id and name, its arguments in pieces, a chunk
/// with the finish reason, the usage chunk (`stream_options.include_usage`), then `[DONE]`.
pub fn stream_events(completion: &Value) -> String {
    let chunk = |choices: Value, usage: Value| {
        json!({
            "id": completion["id"], "object": "chat.completion.chunk",
            "created": completion["created"], "model": completion["model"],
            "choices": choices, "usage": usage
        })
    };
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let calls = message["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut chunks = vec![chunk(
        json!([{"index": 0, "finish_reason": null, "delta": {
            "role": "assistant", "content": message["content"],
            "tool_calls": calls.iter().enumerate().map(|(i, call)| json!({
                "index": i, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}
            })).collect::<Vec<_>>()
        }}]),
        Value::Null,
    )];
    for (i, call) in calls.iter().enumerate() {
        let arguments: Vec<char> = call["function"]["arguments"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .collect();
        for piece in arguments.chunks(64) {
            let piece: String = piece.iter().collect();
            chunks.push(chunk(
                json!([{"index": 0, "finish_reason": null, "delta": {
                    "tool_calls": [{"index": i, "function": {"arguments": piece}}]}}]),
                Value::Null,
            ));
        }
    }
    chunks.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]),
        Value::Null,
    ));
    chunks.push(chunk(json!([]), completion["usage"].clone()));
    let mut events: String = chunks
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect();
    events.push_str("data: [DONE]\n\n");
    events
}

/// An OpenAI chat completion whose one choice calls `submit_triage` with `arguments`, as the
/// API answers a forced tool call; `usage` is (prompt, completion) tokens.
pub fn tool_call_completion(model: &str, arguments: &Value, usage: (u64, u64)) -> Value {
    json!({
        "id": format!("chatcmpl-{model}"), "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": crate::analysis::schema::TOOL_NAME, "arguments": arguments.to_string()}}]}}],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}
    })
}

async fn slack_post(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.slack).await;
    let recorder = &fake.recorder;
    let ts = format!(
        "1795227000.{:06}",
        recorder.next_ts.fetch_add(1, Ordering::SeqCst)
    );
    let incident = body["metadata"]["event_payload"]["incident_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if body.get("thread_ts").is_none() {
        *recorder
            .parents
            .lock()
            .await
            .entry(incident.clone())
            .or_default() += 1;
        recorder
            .ts_to_incident
            .lock()
            .await
            .insert(ts.clone(), incident.clone());
        let arrived = if body["blocks"].to_string().contains("ROOT CAUSE") {
            &recorder.brief_at
        } else {
            &recorder.card_at
        };
        arrived
            .lock()
            .await
            .entry(incident)
            .or_insert_with(Instant::now);
    }
    Json(json!({"ok": true, "channel": body["channel"], "ts": ts}))
}

async fn slack_update(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    tokio::time::sleep(fake.latencies.slack).await;
    let recorder = &fake.recorder;
    let ts = body["ts"].as_str().unwrap_or("").to_string();
    if body["blocks"].to_string().contains("ROOT CAUSE")
        && let Some(incident) = recorder.ts_to_incident.lock().await.get(&ts).cloned()
    {
        recorder
            .brief_at
            .lock()
            .await
            .entry(incident)
            .or_insert_with(Instant::now);
    }
    Json(json!({"ok": true, "channel": body["channel"], "ts": ts}))
}

/// An OpenAI-compatible embeddings endpoint (`POST /v1/embeddings`) answering with
/// deterministic unit vectors: hashed word features, so texts sharing words point the same
/// way. Requests and texts are counted; `fail_after` makes every later request a 500 in
/// OpenAI's error shape.
pub struct FakeEmbeddings {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    pub texts: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct EmbeddingsState {
    dimensions: usize,
    latency: Duration,
    requests: Arc<AtomicUsize>,
    texts: Arc<AtomicUsize>,
    fail_after: Option<usize>,
}

pub async fn embeddings(
    dimensions: usize,
    latency: Duration,
    fail_after: Option<usize>,
) -> anyhow::Result<FakeEmbeddings> {
    let state = EmbeddingsState {
        dimensions,
        latency,
        requests: Arc::new(AtomicUsize::new(0)),
        texts: Arc::new(AtomicUsize::new(0)),
        fail_after,
    };
    let router = Router::new()
        .route("/v1/embeddings", post(embed))
        .with_state(state.clone());
    Ok(FakeEmbeddings {
        url: format!("{}/v1", serve(router).await?),
        requests: state.requests,
        texts: state.texts,
    })
}

/// The fake's vector for one text (also used by tests to predict it).
pub fn hashed_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions.max(1)];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let word = word.to_lowercase();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in word.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        vector[(hash % dimensions.max(1) as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    vector.iter().map(|v| v / norm).collect()
}

async fn embed(
    State(state): State<EmbeddingsState>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    tokio::time::sleep(state.latency).await;
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    if state.fail_after.is_some_and(|limit| n >= limit) {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if inputs.is_empty() {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "'input' is a required property", "type": "invalid_request_error", "param": "input", "code": null}})),
        )
            .into_response();
    }
    state.texts.fetch_add(inputs.len(), Ordering::SeqCst);
    let dimensions = body["dimensions"]
        .as_u64()
        .map_or(state.dimensions, |d| d as usize);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": hashed_embedding(text, dimensions)}))
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.len() / 4).sum();
    Json(json!({
        "object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
    .into_response()
}
