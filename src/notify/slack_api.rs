//! The Slack Web API, as a bot: `chat.postMessage`, `chat.update`, `conversations.history`
//! (to find a message whose post timed out), `views.open`. Slack answers failures as HTTP 200
//! with `{"ok": false, "error": …}`; those are classified fatal or retryable. 429 waits
//! `Retry-After`; posts to one channel are paced to one per second.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::slack::SlackMessage;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlackError {
    /// Will not succeed by retrying (`channel_not_found`, `invalid_auth`, …).
    #[error("slack: {0} (not retried)")]
    Fatal(String),
    /// May succeed later (`ratelimited`, `internal_error`, 5xx, timeouts).
    #[error("slack: {0}")]
    Retryable(String),
    /// The request may or may not have taken effect (the reply never came).
    #[error("slack: no reply ({0})")]
    Unknown(String),
}

const FATAL: [&str; 9] = [
    "channel_not_found",
    "not_in_channel",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "is_archived",
    "msg_too_long",
    "invalid_blocks",
    "missing_scope",
];

/// The metadata event type that marks a message as a triaged brief.
pub const METADATA_EVENT: &str = "triaged_brief";

pub struct SlackClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    pacing: Mutex<HashMap<String, Instant>>,
    min_interval: Duration,
}

impl SlackClient {
    pub fn new(base: &str, token: SecretString, timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            token,
            pacing: Mutex::new(HashMap::new()),
            min_interval: Duration::from_secs(1),
        }
    }

    /// Waits until `channel` may take another new message: Slack allows about one
    /// `chat.postMessage` per second per channel (updates are limited per method instead).
    async fn pace(&self, channel: &str) {
        let wait = {
            let mut next = self.pacing.lock().await;
            let now = Instant::now();
            let slot = next
                .get(channel)
                .copied()
                .filter(|t| *t > now)
                .unwrap_or(now);
            next.insert(channel.to_string(), slot + self.min_interval);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        for _ in 0..3 {
            let response = self
                .http
                .post(format!("{}/{method}", self.base))
                .bearer_auth(self.token.expose_secret())
                .json(body)
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        SlackError::Unknown("timed out".into())
                    } else if e.is_connect() {
                        SlackError::Retryable("could not connect".into())
                    } else {
                        SlackError::Unknown("request failed".into())
                    }
                })?;
            let status = response.status();
            if status.as_u16() == 429 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                if wait > 30 {
                    return Err(SlackError::Retryable(format!(
                        "ratelimited (retry after {wait} s)"
                    )));
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            if status.is_server_error() {
                return Err(SlackError::Retryable(format!("HTTP {}", status.as_u16())));
            }
            let reply: Value = response
                .json()
                .await
                .map_err(|_| SlackError::Retryable("unreadable reply".into()))?;
            if reply["ok"] == true {
                return Ok(reply);
            }
            let error = reply["error"]
                .as_str()
                .unwrap_or("unknown_error")
                .to_string();
            return Err(if FATAL.contains(&error.as_str()) {
                SlackError::Fatal(error)
            } else {
                SlackError::Retryable(error)
            });
        }
        Err(SlackError::Retryable("ratelimited".into()))
    }

    /// Posts a message (a thread reply when `thread_ts` is set) tagged with the incident id
    /// and its outbox key, so a retry can find it; returns its `ts`.
    pub async fn post(
        &self,
        channel: &str,
        message: &SlackMessage,
        thread_ts: Option<&str>,
        incident_id: &str,
        key: &str,
    ) -> Result<String, SlackError> {
        self.pace(channel).await;
        let mut body = json!({
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
            "metadata": {"event_type": METADATA_EVENT, "event_payload": {"incident_id": incident_id, "key": key}},
        });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let reply = self.call("chat.postMessage", &body).await?;
        reply["ts"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SlackError::Retryable("reply without ts".into()))
    }

    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: &SlackMessage,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.update",
            &json!({"channel": channel, "ts": ts, "text": message.text, "blocks": message.blocks}),
        )
        .await
        .map(|_| ())
    }

    /// Finds the parent brief already posted for `incident_id` (after a post whose reply was
    /// lost), so a retry updates it instead of posting a duplicate.
    pub async fn find_posted(
        &self,
        channel: &str,
        incident_id: &str,
        oldest_secs: i64,
    ) -> Result<Option<String>, SlackError> {
        let reply = self
            .call(
                "conversations.history",
                &json!({"channel": channel, "oldest": oldest_secs.to_string(), "include_all_metadata": true, "limit": 200}),
            )
            .await?;
        Ok(reply["messages"].as_array().and_then(|messages| {
            messages.iter().find_map(|m| {
                let ours = m["metadata"]["event_type"] == METADATA_EVENT
                    && m["metadata"]["event_payload"]["incident_id"] == incident_id
                    && m.get("thread_ts").is_none_or(|t| t == &m["ts"]);
                ours.then(|| m["ts"].as_str().map(str::to_string)).flatten()
            })
        }))
    }

    /// Finds the thread reply posted with outbox `key` under `thread_ts` (after an attempt
    /// whose reply was lost, or a job reclaimed mid-post), so it is not posted twice.
    pub async fn find_reply(
        &self,
        channel: &str,
        thread_ts: &str,
        key: &str,
    ) -> Result<Option<String>, SlackError> {
        let reply = self
            .call(
                "conversations.replies",
                &json!({"channel": channel, "ts": thread_ts, "include_all_metadata": true, "limit": 200}),
            )
            .await?;
        Ok(reply["messages"].as_array().and_then(|messages| {
            messages.iter().find_map(|m| {
                let ours = m["metadata"]["event_type"] == METADATA_EVENT
                    && m["metadata"]["event_payload"]["key"] == key;
                ours.then(|| m["ts"].as_str().map(str::to_string)).flatten()
            })
        }))
    }

    /// Opens the "what was the real cause?" modal.
    pub async fn open_wrong_modal(
        &self,
        trigger_id: &str,
        incident_id: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "views.open",
            &json!({
                "trigger_id": trigger_id,
                "view": {
                    "type": "modal",
                    "callback_id": "feedback_wrong",
                    "private_metadata": incident_id,
                    "title": {"type": "plain_text", "text": "What was it?"},
                    "submit": {"type": "plain_text", "text": "Save"},
                    "blocks": [{
                        "type": "input",
                        "block_id": "real_cause",
                        "label": {"type": "plain_text", "text": "The real cause"},
                        "element": {"type": "plain_text_input", "action_id": "value", "multiline": true}
                    }]
                }
            }),
        )
        .await
        .map(|_| ())
    }
}
