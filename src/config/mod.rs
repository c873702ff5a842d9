//! Typed settings: built-in defaults, then `config/triaged.toml` (or `--config FILE`), then
//! `TRIAGED__SECTION__KEY` environment overrides. Secrets come only from the environment and
//! are wrapped so that they never print. Each section's type lives in [`sections`] and is
//! what its component is built from (`Notifier` from `SlackSettings`, the model client from
//! `LlmSettings`, …); this file composes them and runs the cross-field checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod secrets;
mod sections;

pub use secrets::Secrets;
pub use sections::*;

use crate::domain::AlertSource;

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config/triaged.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub intake: IntakeSettings,
    pub workers: WorkerSettings,
    pub telemetry: TelemetrySettings,
    pub collectors: CollectorSettings,
    pub datadog: DatadogSettings,
    pub kubernetes: KubernetesSettings,
    pub aws: AwsSettings,
    pub cloudflare: CloudflareSettings,
    pub llm: LlmSettings,
    pub slack: SlackSettings,
    pub pagerduty: PagerDutySettings,
    pub memory: MemorySettings,
    pub knowledge: KnowledgeSettings,
    pub diagnosis: DiagnosisSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                listen: "127.0.0.1:8080".into(),
                data_dir: PathBuf::from("data"),
                body_limit_bytes: 1024 * 1024,
                shutdown_grace_secs: 20,
            },
            database: DatabaseSettings {
                url: String::new(),
                max_connections: 10,
                sqlite_synchronous: SqliteSynchronous::Full,
            },
            intake: IntakeSettings {
                sources: AlertSource::ALL.to_vec(),
                datadog_token_header: "X-Triaged-Token".into(),
                datadog_basic_auth_user: "triaged".into(),
                keep_raw: false,
            },
            workers: WorkerSettings {
                count: 4,
                lease_secs: 60,
                heartbeat_secs: 15,
                max_attempts: 5,
                backoff_base_secs: 5,
                backoff_max_secs: 300,
                poll_interval_ms: 500,
            },
            telemetry: TelemetrySettings {
                log_format: LogFormat::Text,
                log_filter: "info".into(),
            },
            collectors: CollectorSettings {
                services_file: PathBuf::from("config/services.toml"),
                lookback_mins: 30,
                source_timeout_secs: 8,
                overall_timeout_secs: 12,
                bundle_budget_chars: 24_000,
                recorded: Vec::new(),
            },
            datadog: DatadogSettings {
                api_base: "https://api.datadoghq.com".into(),
                max_log_events: 200,
                post_events: false,
            },
            kubernetes: KubernetesSettings {
                enabled: true,
                api_url: String::new(),
                log_lines: 50,
            },
            aws: AwsSettings {
                enabled: true,
                endpoint_url: String::new(),
                region: String::new(),
                health: true,
                health_endpoint_url: String::new(),
            },
            cloudflare: CloudflareSettings {
                api_base: "https://api.cloudflare.com/client/v4".into(),
                zone_id: String::new(),
            },
            llm: LlmSettings {
                provider: LlmProvider::Openai,
                base_url: String::new(),
                fast_model: "gpt-4.1-mini".into(),
                strong_model: "gpt-4.1".into(),
                escalate_at_or_below: Escalation::AtOrBelowMedium,
                azure_api_version: "2024-10-21".into(),
                timeout_secs: 60,
                max_concurrency: 4,
                max_output_tokens: 4000,
                max_tokens_field: MaxTokensField::Auto,
                tool_choice: ToolChoice::Named,
                temperature: 0.1,
                stream: true,
                prompt_budget_tokens: 12_000,
                context_tokens: 0,
                input_usd_per_mtok: 0.4,
                cached_input_usd_per_mtok: 0.1,
                output_usd_per_mtok: 1.6,
            },
            knowledge: KnowledgeSettings {
                runbooks: Vec::new(),
                postmortems: Vec::new(),
                terraform: Vec::new(),
                code: Vec::new(),
                schema: Vec::new(),
                per_corpus: 3,
                qdrant_url: String::new(),
                qdrant_collection: "triaged_knowledge".into(),
                embeddings: EmbeddingSettings {
                    base_url: String::new(),
                    model: String::new(),
                    dimensions: 0,
                    batch_size: 64,
                    timeout_secs: 30,
                    query_prefix: String::new(),
                    document_prefix: String::new(),
                    query_input_type: String::new(),
                    document_input_type: String::new(),
                },
                index_on_start: true,
            },
            diagnosis: DiagnosisSettings::default(),
            slack: SlackSettings {
                api_base: "https://slack.com/api".into(),
                default_channel: String::new(),
                routes: Vec::new(),
                first_look: true,
                timeout_secs: 10,
                public_url: String::new(),
            },
            memory: MemorySettings {
                enabled: true,
                retain_days: 365,
            },
            pagerduty: PagerDutySettings {
                api_base: "https://api.pagerduty.com".into(),
                from_email: String::new(),
                post_status_updates: false,
                timeout_secs: 10,
            },
        }
    }
}

/// Every problem found while loading or checking settings, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{} configuration problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

impl Settings {
    /// Loads defaults, then the file (an explicit path must exist; the default path may not),
    /// then `TRIAGED__*` environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigErrors> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigErrors(vec![format!(
                    "config file {} does not exist",
                    path.display()
                )]));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE)),
        }
        figment = figment.merge(Env::prefixed("TRIAGED__").split("__"));
        figment
            .extract::<Settings>()
            .map_err(|errors| ConfigErrors(errors.into_iter().map(|e| e.to_string()).collect()))
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|e| {
            format!(
                "server.listen `{}` is not an address: {e}",
                self.server.listen
            )
        })
    }

    /// The database URL, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("triaged.db").display()
            )
        } else {
            self.database.url.trim().to_string()
        }
    }

    /// Settings that are valid but probably not what was meant; `config check` prints them
    /// without failing.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let l = &self.llm;
        if !l.strong_model.is_empty() && l.strong_model.trim() == l.fast_model.trim() {
            warnings.push(format!(
                "llm.fast_model and llm.strong_model are both `{}`: a weak answer is never \
                 escalated to a stronger model (set llm.strong_model = \"\" to say so)",
                l.fast_model
            ));
        }
        let qdrant = self.knowledge.qdrant_url.trim();
        if qdrant.trim_end_matches('/').ends_with(":6333") {
            warnings.push(format!(
                "knowledge.qdrant_url `{qdrant}` names Qdrant's REST port; triaged speaks gRPC, on 6334 by default"
            ));
        }
        let e = &self.knowledge.embeddings;
        if !e.model.trim().is_empty() && e.dimensions == 0 {
            warnings.push(format!(
                "knowledge.embeddings.model is `{}` but knowledge.embeddings.dimensions is 0: no dense vectors are made and retrieval stays BM25 only (set the model's dimensions, e.g. 384)",
                e.model
            ));
        }
        warnings
    }

    /// Semantic checks that serde cannot express. Returns every problem, not the first.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.listen_addr() {
            problems.push(e);
        }
        if self.server.body_limit_bytes == 0 {
            problems.push("server.body_limit_bytes must be greater than 0".into());
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems
                .push("database.url must start with sqlite:, postgres:// or postgresql://".into());
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections must be at least 1".into());
        }
        if self.intake.datadog_token_header.trim().is_empty()
            || axum::http::HeaderName::try_from(self.intake.datadog_token_header.as_str()).is_err()
        {
            problems.push(format!(
                "intake.datadog_token_header `{}` is not a valid header name",
                self.intake.datadog_token_header
            ));
        }
        let w = &self.workers;
        if w.count == 0 {
            problems.push("workers.count must be at least 1".into());
        }
        if w.lease_secs == 0 {
            problems.push("workers.lease_secs must be at least 1".into());
        }
        if w.heartbeat_secs == 0 || w.heartbeat_secs >= w.lease_secs {
            problems.push(format!(
                "workers.heartbeat_secs ({}) must be at least 1 and less than workers.lease_secs ({})",
                w.heartbeat_secs, w.lease_secs
            ));
        }
        if w.max_attempts == 0 {
            problems.push("workers.max_attempts must be at least 1".into());
        }
        if w.backoff_base_secs > w.backoff_max_secs {
            problems
                .push("workers.backoff_base_secs must not exceed workers.backoff_max_secs".into());
        }
        if w.poll_interval_ms == 0 {
            problems.push("workers.poll_interval_ms must be at least 1".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_filter).is_err() {
            problems.push(format!(
                "telemetry.log_filter `{}` is not a valid filter",
                self.telemetry.log_filter
            ));
        }
        let c = &self.collectors;
        if c.source_timeout_secs == 0 || c.overall_timeout_secs < c.source_timeout_secs {
            problems.push(format!(
                "collectors.source_timeout_secs ({}) must be at least 1 and at most collectors.overall_timeout_secs ({})",
                c.source_timeout_secs, c.overall_timeout_secs
            ));
        }
        if c.lookback_mins <= 0 {
            problems.push("collectors.lookback_mins must be positive".into());
        }
        match crate::catalog::ServiceCatalog::load(&c.services_file) {
            Err(e) => problems.push(format!("collectors.services_file: {e}")),
            Ok(catalog) => {
                for duplicate in catalog.duplicate_aliases() {
                    problems.push(format!(
                        "collectors.services_file: {duplicate}; each name must point at one service"
                    ));
                }
            }
        }
        for (key, url) in [
            ("datadog.api_base", &self.datadog.api_base),
            ("cloudflare.api_base", &self.cloudflare.api_base),
            ("kubernetes.api_url", &self.kubernetes.api_url),
            ("aws.endpoint_url", &self.aws.endpoint_url),
        ] {
            if !url.is_empty() && reqwest::Url::parse(url).is_err() {
                problems.push(format!("{key} `{url}` is not a URL"));
            }
        }
        for (index, route) in self.slack.routes.iter().enumerate() {
            if route.channel.trim().is_empty() {
                problems.push(format!("slack.routes[{index}] has no channel"));
            }
        }
        let l = &self.llm;
        if l.provider == LlmProvider::Azure && l.base_url.is_empty() {
            problems.push(
                "llm.base_url must name the Azure OpenAI resource when llm.provider is azure"
                    .into(),
            );
        }
        if l.fast_model.trim().is_empty() {
            problems.push("llm.fast_model must name a model".into());
        }
        if l.timeout_secs == 0 || l.max_concurrency == 0 || l.prompt_budget_tokens < 1000 {
            problems.push("llm.timeout_secs and llm.max_concurrency must be at least 1 and llm.prompt_budget_tokens at least 1000".into());
        }
        if !(0.0..=2.0).contains(&l.temperature) {
            problems.push(format!(
                "llm.temperature {} must be between 0 and 2",
                l.temperature
            ));
        }
        if !l.base_url.is_empty() && reqwest::Url::parse(&l.base_url).is_err() {
            problems.push(format!("llm.base_url `{}` is not a URL", l.base_url));
        }
        let qdrant = self.knowledge.qdrant_url.trim();
        if !(qdrant.is_empty() || qdrant.starts_with("http://") || qdrant.starts_with("https://")) {
            problems.push(format!(
                "knowledge.qdrant_url `{qdrant}` needs a scheme: http://HOST:6334 (gRPC), or https:// with TLS"
            ));
        }
        let from = self.pagerduty.from_email.trim();
        if !from.is_empty() && !from.contains('@') {
            problems.push(format!(
                "pagerduty.from_email `{from}` is not an email address (PagerDuty needs a user's email in the From header)"
            ));
        }
        if self.memory.retain_days < 1 {
            problems.push("memory.retain_days must be at least 1".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        assert_eq!(Settings::default().problems(), Vec::<String>::new());
    }

    #[test]
    fn misdirected_knowledge_and_write_back_settings_are_named() {
        let mut s = Settings::default();
        s.knowledge.qdrant_url = "qdrant:6334".into();
        s.pagerduty.from_email = "oncall".into();
        let problems = s.problems().join("\n");
        assert!(problems.contains("needs a scheme"), "{problems}");
        assert!(problems.contains("not an email address"), "{problems}");
        s.knowledge.qdrant_url = "http://qdrant:6333".into();
        s.knowledge.embeddings.model = "multilingual-e5-small".into();
        let warnings = s.warnings().join("\n");
        assert!(warnings.contains("REST port"), "{warnings}");
        assert!(warnings.contains("BM25 only"), "{warnings}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut s = Settings::default();
        s.server.listen = "nowhere".into();
        s.workers.count = 0;
        s.workers.heartbeat_secs = 90;
        s.collectors.lookback_mins = 0;
        assert_eq!(s.problems().len(), 4, "{:?}", s.problems());
    }

    #[test]
    fn secrets_never_print() {
        let secrets = Secrets::from_lookup(|name| match name {
            "PAGERDUTY_WEBHOOK_SECRET" => Some("old-secret, new-secret".into()),
            "TRIAGED_WEBHOOK_TOKEN" => Some("tok-123".into()),
            _ => None,
        });
        assert_eq!(secrets.pagerduty_webhook_secrets.len(), 2);
        let printed = format!("{secrets:?}");
        assert!(
            !printed.contains("old-secret") && !printed.contains("tok-123"),
            "{printed}"
        );
        assert!(secrets.missing_for(&AlertSource::ALL).is_empty());
        assert_eq!(Secrets::default().missing_for(&AlertSource::ALL).len(), 3);
    }

    #[test]
    fn a_closed_choice_with_an_unknown_value_is_refused_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("triaged.toml");
        std::fs::write(&file, "[llm]\nescalate_at_or_below = \"SOMETIMES\"\n").unwrap();
        let errors = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(errors.contains("escalate_at_or_below"), "{errors}");
        assert!(
            errors.contains("`never`"),
            "names what is accepted: {errors}"
        );
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let mut s = Settings::default();
        s.server.data_dir = PathBuf::from("/var/lib/triaged");
        assert_eq!(
            s.database_url(),
            "sqlite:///var/lib/triaged/triaged.db?mode=rwc"
        );
    }
}
