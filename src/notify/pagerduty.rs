//! Write-back to PagerDuty's REST API v2, for incidents that came from PagerDuty: the brief as
//! an incident note (`POST /incidents/{id}/notes` with the `From` header), a short note of what
//! changed on a re-trigger, and — only when `pagerduty.post_status_updates` is on — the brief's
//! status update draft (`POST /incidents/{id}/status_updates`).
//!
//! PagerDuty answers failures as `{"error": {"message", "code", "errors"}}`; [`send`] retries
//! 429 and 5xx with backoff and reports 400, 401, 403 and 404 once, unretried.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::slack::ellipsis;
use super::write::{WriteError, send};

use crate::analysis::Brief;
use crate::config::{PagerDutySettings, Secrets};
use crate::domain::Confidence;

/// PagerDuty refuses note content longer than this.
pub const MAX_NOTE_CHARS: usize = 25_000;
/// Notes are kept short: what an engineer reads on a phone.
const NOTE_BUDGET_CHARS: usize = 1_500;
pub struct PagerDutyClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    from: String,
    pub post_status_updates: bool,
}

impl PagerDutyClient {
    /// A client when both `PAGERDUTY_API_TOKEN` and `pagerduty.from_email` are set.
    pub fn from_settings(settings: &PagerDutySettings, secrets: &Secrets) -> Option<Self> {
        let token = secrets.pagerduty_api_token.clone()?;
        let from = settings.from_email.trim();
        if from.is_empty() {
            return None;
        }
        Some(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
                .build()
                .unwrap_or_default(),
            base: settings.api_base.trim_end_matches('/').to_string(),
            token,
            from: from.to_string(),
            post_status_updates: settings.post_status_updates,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(
                "Authorization",
                format!("Token token={}", self.token.expose_secret()),
            )
            .header("Accept", "application/vnd.pagerduty+json;version=2")
            .header("From", &self.from)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WriteError> {
        send("pagerduty", method == reqwest::Method::GET, || {
            let request = self.request(method.clone(), path);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await
    }

    /// Adds a note to `incident`; returns the note's id.
    pub async fn add_note(&self, incident: &str, content: &str) -> Result<String, WriteError> {
        let content: String = content.chars().take(MAX_NOTE_CHARS).collect();
        let reply = self
            .call(
                reqwest::Method::POST,
                &format!("/incidents/{}/notes", path_segment(incident)),
                Some(&json!({"note": {"content": content}})),
            )
            .await?;
        reply["note"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| WriteError::Retryable("reply without a note id".into()))
    }

    /// The note on `incident` whose content carries `marker`, after a post whose reply was
    /// lost.
    pub async fn find_note(
        &self,
        incident: &str,
        marker: &str,
    ) -> Result<Option<String>, WriteError> {
        let reply = self
            .call(
                reqwest::Method::GET,
                &format!("/incidents/{}/notes", path_segment(incident)),
                None,
            )
            .await?;
        Ok(reply["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["content"].as_str().is_some_and(|c| c.contains(marker)))
            .and_then(|n| n["id"].as_str())
            .map(str::to_string))
    }

    /// Sends a status update to the incident's subscribers.
    pub async fn post_status_update(
        &self,
        incident: &str,
        message: &str,
    ) -> Result<String, WriteError> {
        let reply = self
            .call(
                reqwest::Method::POST,
                &format!("/incidents/{}/status_updates", path_segment(incident)),
                Some(&json!({"message": message})),
            )
            .await?;
        Ok(reply["status_update"]["id"]
            .as_str()
            .unwrap_or("sent")
            .to_string())
    }
}

/// An id as one URL path segment: anything but letters, digits, `-` and `_` is refused, so a
/// hostile id cannot reach another endpoint.
fn path_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The PagerDuty incident a triaged incident is about: incidents opened by a PagerDuty
/// incident webhook are keyed `pagerduty:<incident id>`.
pub fn incident_id(dedup_key: &str) -> Option<&str> {
    let id = dedup_key.strip_prefix("pagerduty:")?;
    (!id.is_empty() && !id.contains(':')).then_some(id)
}

/// The line a note carries so a retry can find it.
pub fn marker(key: &str) -> String {
    format!("ref: {key}")
}

/// The brief as a short plain-text note: the cause (or, below MEDIUM, the leading hypothesis
/// stated as one), what it rests on, the safest first action, what is missing, the link.
pub fn brief_note(
    brief: &Brief,
    missing: &[String],
    incident_url: Option<&str>,
    key: &str,
) -> String {
    let t = &brief.triage;
    let rc = &t.root_cause;
    let mut lines = vec![format!(
        "triaged brief — {:?}, confidence {} ({:.2})",
        t.severity,
        rc.confidence.as_str(),
        rc.score
    )];
    let label = if rc.confidence == Confidence::Low {
        "Leading hypothesis (not confirmed)"
    } else {
        "Root cause"
    };
    lines.push(format!(
        "{label}: {} [{} {}]",
        ellipsis(&rc.statement, 400),
        rc.category.as_str(),
        rc.entity
    ));
    let cites: Vec<&str> = rc
        .evidence_ids
        .iter()
        .chain(&rc.knowledge_ids)
        .map(String::as_str)
        .take(6)
        .collect();
    if !cites.is_empty() {
        lines.push(format!("Evidence: {}", cites.join(", ")));
    }
    if let Some(action) = t.actions.first() {
        lines.push(format!(
            "First action: {} (risk {:?})",
            ellipsis(&action.action, 300),
            action.risk
        ));
    }
    if let Some(alternative) = t.alternatives.first() {
        lines.push(format!(
            "Also possible: {} [{} {}]",
            ellipsis(&alternative.statement, 200),
            alternative.category.as_str(),
            alternative.entity
        ));
    }
    if !missing.is_empty() {
        lines.push(format!("Missing: {}", ellipsis(&missing.join("; "), 300)));
    }
    finish(lines, incident_url, key)
}

/// A re-trigger's note: what changed since the previous brief.
pub fn change_note(changes: &str, incident_url: Option<&str>, key: &str) -> String {
    finish(
        vec![format!("triaged update — {}", ellipsis(changes, 800))],
        incident_url,
        key,
    )
}

fn finish(mut lines: Vec<String>, incident_url: Option<&str>, key: &str) -> String {
    if let Some(url) = incident_url {
        lines.push(format!("Full brief: {url}"));
    }
    let mut text = ellipsis(&lines.join("\n"), NOTE_BUDGET_CHARS);
    text.push('\n');
    text.push_str(&marker(key));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_incident_keys_name_a_pagerduty_incident() {
        assert_eq!(incident_id("pagerduty:Q1ABCDEF"), Some("Q1ABCDEF"));
        assert_eq!(incident_id("pagerduty:service:PX1"), None);
        assert_eq!(incident_id("datadog:1:*"), None);
        assert_eq!(incident_id("pagerduty:"), None);
        assert_eq!(path_segment("Q1/../../users?x"), "Q1usersx");
    }
}
