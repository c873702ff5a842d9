//! The JSON API: incidents with their alerts, jobs and stage timeline.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::domain::{Incident, IncidentDetail};
use crate::intake::auth::check_bearer;
use crate::store::IncidentFilter;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// `TRIAGED_API_TOKEN`, when set, guards the API.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match &state.secrets.api_token {
        Some(token) => Ok(check_bearer(headers, token)?),
        None => Ok(()),
    }
}

pub async fn list_incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Incident>>, ApiError> {
    authorize(&state, &headers)?;
    let status = query
        .status
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let filter = IncidentFilter {
        status,
        limit: query.limit.unwrap_or(50),
    };
    Ok(Json(state.store.list_incidents(&filter).await?))
}

pub async fn get_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    authorize(&state, &headers)?;
    state
        .store
        .incident(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("incident {id}")))
}

/// The state of `/knowledge/sync`.
#[derive(Debug, Default)]
pub struct SyncState {
    running: std::sync::atomic::AtomicBool,
    last: std::sync::Mutex<Option<serde_json::Value>>,
}

fn sync_authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match &state.secrets.api_token {
        Some(token) => Ok(check_bearer(headers, token)?),
        None => Err(ApiError::Forbidden(
            "re-indexing over HTTP needs TRIAGED_API_TOKEN to be set".into(),
        )),
    }
}

/// `POST /knowledge/sync` (bearer `TRIAGED_API_TOKEN`): re-indexes the configured knowledge
/// paths in the background (unchanged chunks skipped, vanished ones removed). 202 when
/// started, 409 while a run is in progress. A docs repository's CI can call it after a merge.
pub async fn knowledge_sync(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    use std::sync::atomic::Ordering;
    sync_authorize(&state, &headers)?;
    let Some(index) = state.knowledge.clone() else {
        return Err(ApiError::NotFound("knowledge index".into()));
    };
    if state.sync.running.swap(true, Ordering::SeqCst) {
        return Err(ApiError::Conflict(
            "a knowledge sync is already running".into(),
        ));
    }
    let sync = std::sync::Arc::clone(&state.sync);
    let settings = std::sync::Arc::clone(&state.settings);
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let outcome = index.index_configured(&settings.knowledge, &mut |_, _| {});
        let summary = match outcome {
            Ok(report) => {
                tracing::info!(
                    files = report.files,
                    indexed = report.indexed,
                    unchanged = report.unchanged,
                    removed = report.removed,
                    failed = report.failed.len(),
                    "knowledge sync finished"
                );
                serde_json::json!({
                    "ok": true, "files": report.files, "chunks": report.chunks,
                    "indexed": report.indexed, "unchanged": report.unchanged,
                    "removed": report.removed, "failed": report.failed,
                    "elapsed_ms": started.elapsed().as_millis() as u64,
                    "finished_at": chrono::Utc::now(),
                })
            }
            Err(error) => {
                tracing::warn!(%error, "knowledge sync failed");
                serde_json::json!({ "ok": false, "error": error.to_string(), "finished_at": chrono::Utc::now() })
            }
        };
        if let Ok(mut last) = sync.last.lock() {
            *last = Some(summary);
        }
        sync.running.store(false, Ordering::SeqCst);
    });
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(serde_json::json!({ "status": "started" })),
    ))
}

/// `GET /knowledge/sync`: whether a run is in progress and how the last one ended.
pub async fn knowledge_sync_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    sync_authorize(&state, &headers)?;
    let last = state.sync.last.lock().ok().and_then(|l| l.clone());
    Ok(Json(serde_json::json!({
        "running": state.sync.running.load(std::sync::atomic::Ordering::SeqCst),
        "last": last,
        "chunks": state.knowledge.as_ref().map(|k| k.len()),
    })))
}
