//! Write-back to Datadog: the brief's headline as an event (`POST /api/v1/events`) tagged with
//! the monitor's tags, so it shows on the monitor's timeline beside the alert. A retry after a
//! lost reply looks for the event by its `triaged_ref` tag (`GET /api/v1/events`, which needs
//! the application key) before posting again.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::write::{WriteError, send};
use crate::config::{Secrets, Settings};

/// Datadog keeps at most this many characters of an event's title.
const MAX_TITLE_CHARS: usize = 100;
const MAX_TEXT_CHARS: usize = 4_000;
const MAX_TAGS: usize = 30;

pub struct DatadogEvents {
    http: reqwest::Client,
    base: String,
    api_key: SecretString,
    app_key: Option<SecretString>,
}

impl DatadogEvents {
    /// A client when `datadog.post_events` is on and `DD_API_KEY` is set.
    pub fn from_settings(settings: &Settings, secrets: &Secrets) -> Option<Self> {
        if !settings.datadog.post_events {
            return None;
        }
        Some(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: settings.datadog.api_base.trim_end_matches('/').to_string(),
            api_key: secrets.datadog_api_key.clone()?,
            app_key: secrets.datadog_app_key.clone(),
        })
    }

    /// Posts an event; returns its id.
    pub async fn post(
        &self,
        title: &str,
        text: &str,
        tags: &[String],
        aggregation_key: &str,
    ) -> Result<String, WriteError> {
        let body = json!({
            "title": title.chars().take(MAX_TITLE_CHARS).collect::<String>(),
            "text": text.chars().take(MAX_TEXT_CHARS).collect::<String>(),
            "tags": tags.iter().take(MAX_TAGS).collect::<Vec<_>>(),
            "aggregation_key": aggregation_key.chars().take(100).collect::<String>(),
            "alert_type": "info",
        });
        let reply = send("datadog", false, || {
            self.http
                .post(format!("{}/api/v1/events", self.base))
                .header("DD-API-KEY", self.api_key.expose_secret())
                .json(&body)
        })
        .await?;
        Ok(id_of(&reply["event"]).unwrap_or_else(|| "posted".into()))
    }

    /// The event tagged `tag` posted since `since_secs`, when the application key allows
    /// reading events; `Err` when it cannot be known.
    pub async fn find(&self, tag: &str, since_secs: i64) -> Result<Option<String>, WriteError> {
        let Some(app_key) = &self.app_key else {
            return Err(WriteError::Fatal {
                status: 0,
                message: "datadog: an earlier attempt may have posted the event and DD_APP_KEY \
                          is not set to look for it"
                    .into(),
            });
        };
        let now = chrono::Utc::now().timestamp();
        let reply = send("datadog", true, || {
            self.http
                .get(format!("{}/api/v1/events", self.base))
                .header("DD-API-KEY", self.api_key.expose_secret())
                .header("DD-APPLICATION-KEY", app_key.expose_secret())
                .query(&[
                    ("start", since_secs.to_string()),
                    ("end", (now + 60).to_string()),
                    ("tags", tag.to_string()),
                ])
        })
        .await?;
        Ok(reply["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(tag)))
            })
            .and_then(id_of))
    }
}

fn id_of(event: &Value) -> Option<String> {
    event["id_str"]
        .as_str()
        .map(str::to_string)
        .or_else(|| event["id"].as_i64().map(|id| id.to_string()))
}
