//! JSON over HTTP for the SaaS collectors: one retry after a short rate-limit wait, errors
//! that say what happened without echoing credentials.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use super::CollectError;

/// Longest rate-limit wait worth taking inside a collector's deadline.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(2);

/// Sends a request and parses a JSON reply. A 429 whose reset (`X-RateLimit-Reset`, seconds
/// until reset, or `Retry-After`) is near is waited out once; a far one is an error naming it.
pub async fn send_json(request: RequestBuilder) -> Result<Value, CollectError> {
    let retry = request.try_clone();
    let response = request.send().await.map_err(describe_transport)?;
    let response = if response.status() == StatusCode::TOO_MANY_REQUESTS {
        let wait = reset_after(&response);
        match (wait, retry) {
            (Some(wait), Some(retry)) if wait <= MAX_RATE_LIMIT_WAIT => {
                tokio::time::sleep(wait).await;
                retry.send().await.map_err(describe_transport)?
            }
            (wait, _) => {
                return Err(CollectError(match wait {
                    Some(wait) => {
                        format!("rate limited (HTTP 429), resets in {} s", wait.as_secs())
                    }
                    None => "rate limited (HTTP 429)".into(),
                }));
            }
        }
    } else {
        response
    };
    let status = response.status();
    let body = response.text().await.map_err(describe_transport)?;
    if !status.is_success() {
        let excerpt: String = body.chars().take(200).collect();
        return Err(CollectError(format!(
            "HTTP {}: {}",
            status.as_u16(),
            excerpt.trim()
        )));
    }
    serde_json::from_str(&body).map_err(|e| CollectError(format!("invalid JSON in reply: {e}")))
}

fn reset_after(response: &reqwest::Response) -> Option<Duration> {
    ["x-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|name| {
            let value = response
                .headers()
                .get(*name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()?;
            (value >= 0.0).then(|| Duration::from_secs_f64(value))
        })
}

fn describe_transport(error: reqwest::Error) -> CollectError {
    let what = if error.is_timeout() {
        "request timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() || error.is_body() {
        "could not read the reply"
    } else {
        "request failed"
    };
    // The URL (which may carry query parameters) and headers are deliberately left out.
    CollectError(what.into())
}
