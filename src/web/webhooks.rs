//! `POST /webhooks/{source}`: read the raw body within the limit, authenticate it, parse it,
//! store it durably, and only then answer 202.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use serde::Serialize;

use super::error::ApiError;
use super::{AppState, read_limited};
use crate::domain::AlertSource;
use crate::intake::{self, Delivery, auth};
use crate::store::{IngestOutcome, IngestReceipt};

#[derive(Debug, Serialize)]
pub struct WebhookAccepted {
    /// The incident the delivery landed in (the first, for a group spanning several).
    pub incident_id: Option<String>,
    /// `new`, `grouped`, `duplicate` or `unlinked`.
    pub outcome: IngestOutcome,
    pub alerts: Vec<IngestReceipt>,
}

pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<WebhookAccepted>), ApiError> {
    let started = Instant::now();
    let source: AlertSource = source
        .parse()
        .map_err(|_| ApiError::NotFound(format!("webhook source `{source}`")))?;
    if !state.settings.intake.sources.contains(&source) {
        return Err(ApiError::NotFound(format!("webhook source `{source}`")));
    }
    let result = accept(&state, source, &headers, body).await;
    let outcome = match &result {
        Ok(accepted) => match accepted.outcome {
            IngestOutcome::Duplicate => "duplicate",
            _ => "accepted",
        },
        Err(error) => error.code(),
    };
    metrics::counter!("triaged_webhooks_total", "source" => source.as_str(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("triaged_webhook_ack_seconds", "source" => source.as_str())
        .record(started.elapsed().as_secs_f64());
    match &result {
        Ok(accepted) => tracing::info!(
            source = source.as_str(),
            incident.id = accepted.incident_id.as_deref().unwrap_or("-"),
            outcome = ?accepted.outcome,
            alerts = accepted.alerts.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "webhook accepted"
        ),
        Err(error) => tracing::warn!(source = source.as_str(), %error, "webhook refused"),
    }
    result.map(|accepted| (StatusCode::ACCEPTED, Json(accepted)))
}

async fn accept(
    state: &AppState,
    source: AlertSource,
    headers: &HeaderMap,
    body: Body,
) -> Result<WebhookAccepted, ApiError> {
    let body = read_limited(headers, body, state.settings.server.body_limit_bytes).await?;

    auth::authenticate(
        source,
        headers,
        &body,
        &state.secrets,
        &state.settings.intake,
    )?;

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType(if content_type.is_empty() {
            "nothing".into()
        } else {
            content_type.into()
        }));
    }

    let received_at = Utc::now();
    let alerts = intake::parse(
        source,
        &Delivery {
            body: &body,
            header_delivery_id: headers.get("x-webhook-id").and_then(|v| v.to_str().ok()),
            received_at,
            keep_raw: state.settings.intake.keep_raw,
        },
    )?;
    let receipts = state
        .store
        .ingest(&alerts, received_at.timestamp_millis())
        .await?;
    for _ in receipts.iter().filter(|r| r.job.is_some()) {
        state.wake.notify_one();
    }

    let primary = receipts
        .iter()
        .find(|r| r.outcome == IngestOutcome::New)
        .or_else(|| receipts.iter().find(|r| r.incident_id.is_some()))
        .or_else(|| receipts.first());
    Ok(WebhookAccepted {
        incident_id: primary.and_then(|r| r.incident_id.clone()),
        outcome: primary.map_or(IngestOutcome::Unlinked, |r| r.outcome),
        alerts: receipts,
    })
}
