//! HTTP: webhook intake, the JSON API and operational endpoints.

pub mod api;
pub mod error;
pub mod pages;
pub mod slack;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

use crate::config::{Secrets, Settings};
use crate::domain::JobState;
use crate::knowledge::KnowledgeIndex;
use crate::notify::Notifier;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub secrets: Arc<Secrets>,
    pub store: Arc<dyn Store>,
    pub wake: Arc<Notify>,
    pub metrics: PrometheusHandle,
    pub notifier: Arc<Notifier>,
    pub knowledge: Option<Arc<KnowledgeIndex>>,
    pub memory: Option<Arc<crate::memory::Memory>>,
    /// Whether a `/knowledge/sync` run is in progress, and how the last one ended.
    pub sync: Arc<api::SyncState>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        // The webhook handler enforces its own limit so it can answer 413 in JSON and count it.
        .route(
            "/webhooks/{source}",
            post(webhooks::receive).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/slack/interactions",
            post(slack::interactions).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/incidents", get(api::list_incidents))
        .route("/api/incidents/{id}", get(api::get_incident))
        .route(
            "/knowledge/sync",
            post(api::knowledge_sync).get(api::knowledge_sync_status),
        )
        .route("/", get(pages::list))
        .route("/incidents/{id}", get(pages::incident))
        .route("/knowledge", get(pages::knowledge))
        .route("/eval", get(pages::eval))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unreachable".to_string(),
            )
        }
    }
}

async fn prometheus(State(state): State<AppState>) -> String {
    match state.store.job_counts().await {
        Ok(counts) => {
            for state_name in JobState::ALL {
                let count = counts
                    .iter()
                    .find(|(s, _)| s == state_name)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("triaged_jobs", "state" => state_name.as_str()).set(count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "could not read queue depth"),
    }
    state.metrics.render()
}

/// Reads a request body of at most `limit` bytes; a larger one (declared or sent) is a JSON
/// 413, never a plain-text one, and is not buffered past the limit.
pub(crate) async fn read_limited(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, error::ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(error::ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| error::ApiError::PayloadTooLarge { limit })
}
