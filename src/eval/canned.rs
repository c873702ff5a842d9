//! The canned model: a local OpenAI-compatible endpoint answering with each scenario's
//! recorded `submit_triage` call, so the real client, parsing, validation and confidence
//! capping run deterministically.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;

/// A local OpenAI-compatible endpoint answering every chat completion with one canned
/// `submit_triage` call.
pub struct CannedModel {
    pub base: String,
    answer: Arc<Mutex<Value>>,
    _server: tokio::task::JoinHandle<()>,
}

impl CannedModel {
    pub async fn start() -> anyhow::Result<Self> {
        let answer = Arc::new(Mutex::new(Value::Null));
        let router = axum::Router::new()
            .route("/v1/chat/completions", post(canned_completion))
            .with_state(Arc::clone(&answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            base,
            answer,
            _server: server,
        })
    }

    pub fn set(&self, arguments: Value) {
        if let Ok(mut answer) = self.answer.lock() {
            *answer = arguments;
        }
    }
}

impl Drop for CannedModel {
    fn drop(&mut self) {
        self._server.abort();
    }
}

async fn canned_completion(
    State(answer): State<Arc<Mutex<Value>>>,
    Json(request): Json<Value>,
) -> axum::response::Response {
    let arguments = answer.lock().map(|a| a.clone()).unwrap_or(Value::Null);
    crate::bench::fakes::answer(
        &request,
        crate::bench::fakes::tool_call_completion("canned", &arguments, (0, 0)),
    )
}
