//! The one HTTP call shape every write-back shares (PagerDuty notes, Datadog events): 429 and
//! 5xx retried with backoff (honouring `Retry-After` up to 30 s), other failures reported once
//! with the vendor's own message and never retried. A write that may have taken effect (a 5xx
//! or no reply to a POST) is not repeated here: the caller's outbox looks for it first.

use std::time::Duration;

use serde_json::Value;

const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// Will not succeed by retrying (bad token, missing scope, unknown target, bad input).
    #[error("{message} (not retried)")]
    Fatal { status: u16, message: String },
    /// May succeed later (429, 5xx, no connection, no reply).
    #[error("{0}")]
    Retryable(String),
}

impl WriteError {
    /// The credentials were refused (401, 403): nothing will work until they change.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Fatal {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// Sends the request `build` makes, up to three times while the answer is 429 or the
/// connection could not be made — and, when `repeatable` (a read), also after a 5xx or no reply.
pub async fn send(
    service: &'static str,
    repeatable: bool,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Value, WriteError> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let response = match build().send().await {
            Ok(response) => response,
            Err(error) => {
                last = if error.is_timeout() {
                    format!("{service}: timed out")
                } else if error.is_connect() {
                    format!("{service}: could not connect")
                } else {
                    format!("{service}: request failed")
                };
                if error.is_connect() || repeatable {
                    continue;
                }
                return Err(WriteError::Retryable(last));
            }
        };
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            last = format!("{service}: HTTP {}", status.as_u16());
            if status.is_server_error() && !repeatable {
                return Err(WriteError::Retryable(last));
            }
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(wait) = wait {
                if wait > 30 {
                    return Err(WriteError::Retryable(format!(
                        "{last} (retry after {wait} s)"
                    )));
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(reply);
        }
        return Err(WriteError::Fatal {
            status: status.as_u16(),
            message: format!(
                "{service}: HTTP {}{}",
                status.as_u16(),
                vendor_message(&reply).map_or(String::new(), |m| format!(": {m}"))
            ),
        });
    }
    Err(WriteError::Retryable(last))
}

/// The failure as the vendor words it: PagerDuty's `{"error": {"message", "errors"}}`,
/// Datadog's `{"errors": [...]}`. Bounded, so a hostile body cannot flood the timeline.
fn vendor_message(reply: &Value) -> Option<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut parts = Vec::new();
    if let Some(message) = reply["error"]["message"].as_str() {
        parts.push(message.to_string());
    }
    parts.extend(strings(&reply["error"]["errors"]));
    parts.extend(strings(&reply["errors"]));
    let text = parts.join("; ");
    (!text.is_empty()).then(|| text.chars().take(300).collect())
}
