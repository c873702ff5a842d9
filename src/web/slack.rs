//! `POST /slack/interactions`: feedback buttons and the "what was the real cause?" modal.
//! The raw form body is verified against `X-Slack-Signature` before anything is parsed.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::Value;

use super::error::ApiError;
use super::{AppState, read_limited};
use crate::intake::auth::verify_slack_signature;

pub async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let secret = state.secrets.slack_signing_secret.as_ref().ok_or_else(|| {
        ApiError::NotFound("Slack interactions (SLACK_SIGNING_SECRET is not set)".into())
    })?;
    let body = read_limited(&headers, body, state.settings.server.body_limit_bytes).await?;
    verify_slack_signature(&headers, &body, secret, Utc::now().timestamp())?;
    let form = form_fields(&body)?;
    let payload: Value = form
        .get("payload")
        .ok_or_else(|| ApiError::BadRequest("form has no `payload`".into()))
        .and_then(|p| {
            serde_json::from_str(p)
                .map_err(|e| ApiError::BadRequest(format!("payload is not JSON: {e}")))
        })?;
    if !payload.is_object() {
        return Err(ApiError::BadRequest("payload must be a JSON object".into()));
    }
    let user = payload["user"]["id"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let now = Utc::now().timestamp_millis();
    match payload["type"].as_str() {
        Some("block_actions") => {
            let action = &payload["actions"][0];
            let verdict = match action["action_id"].as_str() {
                Some("feedback_correct") => "correct",
                Some("feedback_partly") => "partly",
                Some("feedback_wrong") => "wrong",
                _ => return Ok(StatusCode::OK),
            };
            let incident_id = action["value"].as_str().unwrap_or_default().to_string();
            if state.store.incident(&incident_id).await?.is_none() {
                return Err(ApiError::NotFound(format!("incident {incident_id}")));
            }
            state
                .store
                .save_feedback(&incident_id, &user, verdict, None, now)
                .await?;
            metrics::counter!("triaged_feedback_total", "verdict" => verdict).increment(1);
            let notifier = state.notifier.clone();
            let trigger = payload["trigger_id"].as_str().map(str::to_string);
            // Slack wants an answer within 3 s: the modal and the tally update happen after.
            tokio::spawn(async move {
                if verdict == "wrong"
                    && let (Some(slack), Some(trigger)) = (notifier.slack(), trigger)
                    && let Err(error) = slack.open_wrong_modal(&trigger, &incident_id).await
                {
                    tracing::warn!(%error, "could not open the feedback modal");
                }
                if let Err(error) = notifier.refresh(&incident_id).await {
                    tracing::warn!(%error, "could not update the brief's feedback tally");
                }
            });
        }
        Some("view_submission") if payload["view"]["callback_id"] == "feedback_wrong" => {
            let incident_id = payload["view"]["private_metadata"]
                .as_str()
                .unwrap_or_default();
            let note = payload["view"]["state"]["values"]["real_cause"]["value"]["value"].as_str();
            if state.store.incident(incident_id).await?.is_none() {
                return Err(ApiError::NotFound(format!("incident {incident_id}")));
            }
            state
                .store
                .save_feedback(incident_id, &user, "wrong", note, now)
                .await?;
        }
        _ => {}
    }
    Ok(StatusCode::OK)
}

/// The fields of a form body. Bytes that are not UTF-8, before or after percent-decoding,
/// are refused rather than replaced: a signed body that does not decode is not Slack's.
fn form_fields(body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the form body is not UTF-8".into()))?;
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| ApiError::BadRequest("a form field is not UTF-8 once decoded".into()))
    };
    let mut fields = HashMap::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        fields.insert(decode(key)?, decode(value)?);
    }
    Ok(fields)
}
