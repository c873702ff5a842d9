//! `POST /slack/interactions`: feedback buttons and the "what was the real cause?" modal.
//! The raw form body is verified against `X-Slack-Signature` before anything is parsed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;

use super::error::ApiError;
use super::{AppState, read_limited};
use crate::intake::auth::verify_slack_signature;
use crate::intake::slack::{Interaction, Verdict, parse_interaction};

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
    let now = Utc::now().timestamp_millis();
    match parse_interaction(&body)? {
        Interaction::Feedback {
            incident_id,
            user,
            verdict,
            trigger_id,
        } => {
            if state.store.incident(&incident_id).await?.is_none() {
                return Err(ApiError::NotFound(format!("incident {incident_id}")));
            }
            let verdict_name = verdict.as_str();
            state
                .store
                .save_feedback(&incident_id, &user, verdict_name, None, now)
                .await?;
            metrics::counter!("triaged_feedback_total", "verdict" => verdict_name).increment(1);
            let notifier = state.notifier.clone();
            remember(&state, &incident_id).await;
            // Slack wants an answer within 3 s: the modal and the tally update happen after.
            tokio::spawn(async move {
                if verdict == Verdict::Wrong
                    && let (Some(slack), Some(trigger)) = (notifier.slack(), trigger_id)
                    && let Err(error) = slack.open_wrong_modal(&trigger, &incident_id).await
                {
                    tracing::warn!(%error, "could not open the feedback modal");
                }
                if let Err(error) = notifier.refresh(&incident_id).await {
                    tracing::warn!(%error, "could not update the brief's feedback tally");
                }
            });
        }
        Interaction::RealCause {
            incident_id,
            user,
            note,
        } => {
            if state.store.incident(&incident_id).await?.is_none() {
                return Err(ApiError::NotFound(format!("incident {incident_id}")));
            }
            state
                .store
                .save_feedback(&incident_id, &user, "wrong", note.as_deref(), now)
                .await?;
            remember(&state, &incident_id).await;
        }
        Interaction::Ignored => {}
    }
    Ok(StatusCode::OK)
}

/// Feedback changes what the incident memory says about the incident: its record is
/// rewritten (one file re-indexed, milliseconds) before Slack gets its answer.
async fn remember(state: &AppState, incident_id: &str) {
    if let Some(memory) = &state.memory
        && let Err(error) = memory.remember(incident_id).await
    {
        tracing::warn!(%error, "could not update the incident memory after feedback");
    }
}
