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
