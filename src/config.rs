//! Typed settings: built-in defaults, then `config/triaged.toml` (or `--config FILE`), then
//! `TRIAGED__SECTION__KEY` environment overrides. Secrets come only from the environment and
//! are wrapped so that they never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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
    pub knowledge: KnowledgeSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Empty: SQLite at `<data_dir>/triaged.db`. Otherwise `sqlite://…` or `postgres://…`.
    pub url: String,
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: `full` survives power loss, `normal` only process crashes.
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    pub sources: Vec<AlertSource>,
    pub datadog_token_header: String,
    pub datadog_basic_auth_user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    pub count: usize,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub max_attempts: u32,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `text` for terminals, `json` for log pipelines.
    pub log_format: String,
    /// A `tracing` filter such as `info` or `triaged=debug,info`; `RUST_LOG` wins when set.
    pub log_filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSettings {
    /// The service catalog; a missing file is an empty catalog.
    pub services_file: PathBuf,
    /// How far before the alert's onset the collectors look.
    pub lookback_mins: i64,
    /// Each source gets this long; what overruns is cancelled and reported as a timeout.
    pub source_timeout_secs: u64,
    /// The whole fan-out gets this long.
    pub overall_timeout_secs: u64,
    /// The bundle is cut to about this many characters of JSON, least anomalous items first.
    pub bundle_budget_chars: usize,
    /// Recorded evidence bundles (files, or directories searched for `evidence.json`) served
    /// back for alerts with the onset they were recorded at: game days, training, the demo.
    pub recorded: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogSettings {
    /// API base for your Datadog site (e.g. https://api.datadoghq.eu).
    pub api_base: String,
    /// Log events read per incident (grouped by message).
    pub max_log_events: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    pub enabled: bool,
    /// Empty: in-cluster service account, else KUBECONFIG / ~/.kube/config.
    pub api_url: String,
    /// Lines of a crashing container's previous log kept as evidence.
    pub log_lines: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSettings {
    pub enabled: bool,
    /// Empty: the SDK's default endpoints. Set for a VPC endpoint, a gateway or a local API.
    pub endpoint_url: String,
    /// Empty: the SDK default chain (AWS_REGION, profile, instance metadata).
    pub region: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudflareSettings {
    pub api_base: String,
    /// Zone analysed when the service catalog names none.
    pub zone_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// `openai` (also any OpenAI-compatible server) or `azure`.
    pub provider: String,
    /// Empty: OpenAI. A vLLM/Ollama/LiteLLM URL (…/v1) or the Azure resource URL.
    pub base_url: String,
    pub fast_model: String,
    /// Asked when the fast answer is at or below `escalate_at_or_below` or failed; empty: none.
    pub strong_model: String,
    /// `MEDIUM`, `LOW`, `HIGH` or `never`.
    pub escalate_at_or_below: String,
    pub azure_api_version: String,
    pub timeout_secs: u64,
    /// Model calls in flight at once, across all incidents.
    pub max_concurrency: usize,
    pub max_output_tokens: u32,
    pub prompt_budget_tokens: usize,
    /// Prices for the cost estimate, US dollars per million tokens.
    pub input_usd_per_mtok: f64,
    pub cached_input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    pub api_base: String,
    /// Where briefs go when no route matches. Empty with no routes: Slack is not used.
    pub default_channel: String,
    /// First match wins: service and/or team, and an optional minimum severity.
    pub routes: Vec<SlackRoute>,
    /// Post a deterministic card as soon as evidence is in, then update it with the brief.
    pub first_look: bool,
    pub timeout_secs: u64,
    /// The daemon's external URL, for links to the incident page. Empty: no links.
    pub public_url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackRoute {
    pub service: Option<String>,
    pub team: Option<String>,
    /// `SEV2` matches SEV1 and SEV2.
    pub min_severity: Option<String>,
    pub channel: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeSettings {
    /// Markdown runbooks (files or directories), indexed into `<data_dir>/index`.
    pub runbooks: Vec<PathBuf>,
    /// Post-mortems: Markdown with front matter (id, date, services, root_cause, resolution).
    pub postmortems: Vec<PathBuf>,
    /// Terraform (`.tf`): one chunk per resource, data source or module block.
    pub terraform: Vec<PathBuf>,
    /// Source code (Go, Python, TypeScript/JavaScript, Rust): one chunk per function.
    pub code: Vec<PathBuf>,
    /// Metric catalogues (YAML, JSON or TOML): metric, meaning, normal range, owner.
    pub schema: Vec<PathBuf>,
    /// Best matches kept from each corpus.
    pub per_corpus: usize,
    /// Optional dense embeddings fused with BM25 (RRF); off while `model` is empty.
    pub embeddings: EmbeddingSettings,
    /// A Qdrant server or cluster (gRPC, e.g. `http://qdrant:6334`) instead of the embedded
    /// shard in `<data_dir>/index`; key from `QDRANT_API_KEY`.
    pub qdrant_url: String,
    /// The collection on that server.
    pub qdrant_collection: String,
    /// Re-index the configured paths when the daemon starts (unchanged chunks are skipped).
    pub index_on_start: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSettings {
    /// An OpenAI-compatible API base (…/v1); empty: OpenAI.
    pub base_url: String,
    /// Embeddings model, e.g. `text-embedding-3-small`; empty: BM25 only.
    pub model: String,
    pub dimensions: usize,
    /// Texts per request.
    pub batch_size: usize,
    pub timeout_secs: u64,
}

impl KnowledgeSettings {
    /// Each corpus with its configured paths.
    pub fn corpora(&self) -> [(&'static str, &Vec<PathBuf>); 5] {
        [
            ("runbooks", &self.runbooks),
            ("postmortems", &self.postmortems),
            ("terraform", &self.terraform),
            ("code", &self.code),
            ("schema", &self.schema),
        ]
    }
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
                sqlite_synchronous: "full".into(),
            },
            intake: IntakeSettings {
                sources: AlertSource::ALL.to_vec(),
                datadog_token_header: "X-Triaged-Token".into(),
                datadog_basic_auth_user: "triaged".into(),
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
                log_format: "text".into(),
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
            },
            cloudflare: CloudflareSettings {
                api_base: "https://api.cloudflare.com/client/v4".into(),
                zone_id: String::new(),
            },
            llm: LlmSettings {
                provider: "openai".into(),
                base_url: String::new(),
                fast_model: "gpt-4.1-mini".into(),
                strong_model: "gpt-4.1".into(),
                escalate_at_or_below: "MEDIUM".into(),
                azure_api_version: "2024-10-21".into(),
                timeout_secs: 60,
                max_concurrency: 4,
                max_output_tokens: 4000,
                prompt_budget_tokens: 12_000,
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
                },
                index_on_start: true,
            },
            slack: SlackSettings {
                api_base: "https://slack.com/api".into(),
                default_channel: String::new(),
                routes: Vec::new(),
                first_look: true,
                timeout_secs: 10,
                public_url: String::new(),
            },
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Settings::default().server
    }
}
impl Default for DatabaseSettings {
    fn default() -> Self {
        Settings::default().database
    }
}
impl Default for IntakeSettings {
    fn default() -> Self {
        Settings::default().intake
    }
}
impl Default for WorkerSettings {
    fn default() -> Self {
        Settings::default().workers
    }
}
impl Default for TelemetrySettings {
    fn default() -> Self {
        Settings::default().telemetry
    }
}
impl Default for CollectorSettings {
    fn default() -> Self {
        Settings::default().collectors
    }
}
impl Default for DatadogSettings {
    fn default() -> Self {
        Settings::default().datadog
    }
}
impl Default for KubernetesSettings {
    fn default() -> Self {
        Settings::default().kubernetes
    }
}
impl Default for AwsSettings {
    fn default() -> Self {
        Settings::default().aws
    }
}
impl Default for KnowledgeSettings {
    fn default() -> Self {
        Settings::default().knowledge
    }
}
impl Default for SlackSettings {
    fn default() -> Self {
        Settings::default().slack
    }
}
impl Default for LlmSettings {
    fn default() -> Self {
        Settings::default().llm
    }
}
impl Default for CloudflareSettings {
    fn default() -> Self {
        Settings::default().cloudflare
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
        if !matches!(
            self.database.sqlite_synchronous.as_str(),
            "full" | "normal" | "extra"
        ) {
            problems.push(format!(
                "database.sqlite_synchronous `{}` must be full, normal or extra",
                self.database.sqlite_synchronous
            ));
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
        if !matches!(self.telemetry.log_format.as_str(), "text" | "json") {
            problems.push(format!(
                "telemetry.log_format `{}` must be text or json",
                self.telemetry.log_format
            ));
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
        if let Err(e) = crate::pipeline::targets::ServiceCatalog::load(&c.services_file) {
            problems.push(format!("collectors.services_file: {e}"));
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
            if route
                .min_severity
                .as_deref()
                .is_some_and(|s| !matches!(s, "SEV1" | "SEV2" | "SEV3" | "SEV4"))
            {
                problems.push(format!(
                    "slack.routes[{index}].min_severity must be SEV1 to SEV4"
                ));
            }
        }
        let l = &self.llm;
        if !matches!(l.provider.as_str(), "openai" | "azure") {
            problems.push(format!(
                "llm.provider `{}` must be openai or azure",
                l.provider
            ));
        }
        if l.provider == "azure" && l.base_url.is_empty() {
            problems.push(
                "llm.base_url must name the Azure OpenAI resource when llm.provider is azure"
                    .into(),
            );
        }
        if l.fast_model.trim().is_empty() {
            problems.push("llm.fast_model must name a model".into());
        }
        if !matches!(
            l.escalate_at_or_below.as_str(),
            "LOW" | "MEDIUM" | "HIGH" | "never"
        ) {
            problems.push(format!(
                "llm.escalate_at_or_below `{}` must be LOW, MEDIUM, HIGH or never",
                l.escalate_at_or_below
            ));
        }
        if l.timeout_secs == 0 || l.max_concurrency == 0 || l.prompt_budget_tokens < 1000 {
            problems.push("llm.timeout_secs and llm.max_concurrency must be at least 1 and llm.prompt_budget_tokens at least 1000".into());
        }
        if !l.base_url.is_empty() && reqwest::Url::parse(&l.base_url).is_err() {
            problems.push(format!("llm.base_url `{}` is not a URL", l.base_url));
        }
        problems
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        assert_eq!(Settings::default().problems(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut s = Settings::default();
        s.server.listen = "nowhere".into();
        s.workers.count = 0;
        s.workers.heartbeat_secs = 90;
        s.telemetry.log_format = "xml".into();
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
    fn default_database_is_sqlite_in_the_data_dir() {
        let mut s = Settings::default();
        s.server.data_dir = PathBuf::from("/var/lib/triaged");
        assert_eq!(
            s.database_url(),
            "sqlite:///var/lib/triaged/triaged.db?mode=rwc"
        );
    }
}
