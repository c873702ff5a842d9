//! Secrets: read only from the environment, wrapped so that they never print.

use secrecy::{ExposeSecret, SecretString};

use crate::domain::AlertSource;

/// Secrets, read only from the environment. `Debug` shows `[REDACTED]`.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// PagerDuty signing secrets; several (comma-separated) while rotating.
    pub pagerduty_webhook_secrets: Vec<SecretString>,
    /// Shared token for Datadog (header or basic-auth password) and Alertmanager (bearer).
    pub webhook_token: Option<SecretString>,
    /// Bearer token for `/api/*` when set.
    pub api_token: Option<SecretString>,
    /// Datadog API and application keys (`DD_API_KEY`, `DD_APP_KEY`).
    pub datadog_api_key: Option<SecretString>,
    pub datadog_app_key: Option<SecretString>,
    /// Cloudflare API token with analytics read (`CLOUDFLARE_API_TOKEN`).
    pub cloudflare_api_token: Option<SecretString>,
    /// Key for the model endpoint (`OPENAI_API_KEY`; the Azure key when llm.provider is azure).
    pub openai_api_key: Option<SecretString>,
    /// Key for the embeddings endpoint (`TRIAGED_EMBEDDINGS_API_KEY`, else `OPENAI_API_KEY`).
    pub embeddings_api_key: Option<SecretString>,
    /// API key of the Qdrant server (`QDRANT_API_KEY`), when `knowledge.qdrant_url` is set.
    pub qdrant_api_key: Option<SecretString>,
    /// Slack bot token (`SLACK_BOT_TOKEN`) and request signing secret (`SLACK_SIGNING_SECRET`).
    pub slack_bot_token: Option<SecretString>,
    pub slack_signing_secret: Option<SecretString>,
    /// PagerDuty REST API key (`PAGERDUTY_API_TOKEN`) for writing notes back.
    pub pagerduty_api_token: Option<SecretString>,
}

impl Secrets {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds secrets from any lookup, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            pagerduty_webhook_secrets: non_empty("PAGERDUTY_WEBHOOK_SECRET")
                .map(|all| {
                    all.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| SecretString::from(s.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            webhook_token: non_empty("TRIAGED_WEBHOOK_TOKEN").map(SecretString::from),
            api_token: non_empty("TRIAGED_API_TOKEN").map(SecretString::from),
            datadog_api_key: non_empty("DD_API_KEY").map(SecretString::from),
            datadog_app_key: non_empty("DD_APP_KEY").map(SecretString::from),
            cloudflare_api_token: non_empty("CLOUDFLARE_API_TOKEN").map(SecretString::from),
            openai_api_key: non_empty("OPENAI_API_KEY").map(SecretString::from),
            embeddings_api_key: non_empty("TRIAGED_EMBEDDINGS_API_KEY")
                .or_else(|| non_empty("OPENAI_API_KEY"))
                .map(SecretString::from),
            qdrant_api_key: non_empty("QDRANT_API_KEY").map(SecretString::from),
            slack_bot_token: non_empty("SLACK_BOT_TOKEN").map(SecretString::from),
            slack_signing_secret: non_empty("SLACK_SIGNING_SECRET").map(SecretString::from),
            pagerduty_api_token: non_empty("PAGERDUTY_API_TOKEN").map(SecretString::from),
        }
    }

    /// Whether the secret that authenticates `source` is present.
    pub fn has_secret_for(&self, source: AlertSource) -> bool {
        match source {
            AlertSource::Pagerduty => !self.pagerduty_webhook_secrets.is_empty(),
            AlertSource::Datadog | AlertSource::Alertmanager => self
                .webhook_token
                .as_ref()
                .is_some_and(|t| !t.expose_secret().is_empty()),
        }
    }

    /// Enabled sources that would accept unauthenticated webhooks, with the variable to set.
    pub fn missing_for(&self, sources: &[AlertSource]) -> Vec<String> {
        sources
            .iter()
            .filter(|source| !self.has_secret_for(**source))
            .map(|source| {
                let var = match source {
                    AlertSource::Pagerduty => "PAGERDUTY_WEBHOOK_SECRET",
                    _ => "TRIAGED_WEBHOOK_TOKEN",
                };
                format!("/webhooks/{source} is enabled but {var} is not set")
            })
            .collect()
    }
}
