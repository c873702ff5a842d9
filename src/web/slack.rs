//! `POST /slack/interactions`: feedback buttons and the "what was the real cause?" modal.
//! The raw form body is verified against `X-Slack-Signature` before anything is parsed.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::intake::auth::verify_slack_signature;

pub async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let secret = state.secrets.slack_signing_secret.as_ref().ok_or_else(|| {
        ApiError::NotFound("Slack interactions (SLACK_SIGNING_SECRET is not set)".into())
    })?;
    verify_slack_signature(&headers, &body, secret, Utc::now().timestamp())?;
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::BadRequest(format!("form body: {e}")))?;
    let payload: Value = form
        .get("payload")
        .ok_or_else(|| ApiError::BadRequest("form has no `payload`".into()))
        .and_then(|p| {
            serde_json::from_str(p)
                .map_err(|e| ApiError::BadRequest(format!("payload is not JSON: {e}")))
        })?;
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
