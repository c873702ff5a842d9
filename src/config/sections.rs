//! The sections of the settings file, one type each, with the closed choices as enums so a
//! wrong value is refused when the file is read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Settings;
use crate::domain::{AlertSource, Confidence, Severity};

/// SQLite's `synchronous` pragma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Survives power loss.
    Full,
    /// Survives process crashes.
    Normal,
    Extra,
}

impl SqliteSynchronous {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Normal => "normal",
            Self::Extra => "extra",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For terminals.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    /// OpenAI, or any OpenAI-compatible server (vLLM, Ollama, LiteLLM, …).
    Openai,
    /// Azure OpenAI (`base_url` names the resource).
    Azure,
}

/// Which field carries the output limit. OpenAI's current API reads `max_completion_tokens`;
/// llama.cpp, Ollama's OpenAI layer, older vLLM and LM Studio read only `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens` when `base_url` is set (a self-hosted or proxy server), else
    /// `max_completion_tokens`.
    Auto,
    MaxTokens,
    MaxCompletionTokens,
}

/// How the one tool is forced. `named` is OpenAI's form; `required` is what llama-server and
/// LM Studio accept, and with a single tool it means the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    Named,
    Required,
}

/// When a fast-model answer is re-asked of the strong model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Escalation {
    #[serde(rename = "LOW")]
    AtOrBelowLow,
    #[serde(rename = "MEDIUM")]
    AtOrBelowMedium,
    #[serde(rename = "HIGH")]
    AtOrBelowHigh,
    #[serde(rename = "never")]
    Never,
}

impl Escalation {
    /// The confidence at or below which the strong model is asked; `None` for never.
    pub fn threshold(self) -> Option<Confidence> {
        match self {
            Self::AtOrBelowLow => Some(Confidence::Low),
            Self::AtOrBelowMedium => Some(Confidence::Medium),
            Self::AtOrBelowHigh => Some(Confidence::High),
            Self::Never => None,
        }
    }
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
    pub sqlite_synchronous: SqliteSynchronous,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    pub sources: Vec<AlertSource>,
    pub datadog_token_header: String,
    pub datadog_basic_auth_user: String,
    /// Store each webhook body exactly as received, secrets included, in the alert's raw
    /// column. Off: the stored body is redacted like every other field.
    pub keep_raw: bool,
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
    pub log_format: LogFormat,
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
    /// Post each brief's headline as an event tagged like the monitor, so it shows on the
    /// monitor's timeline (needs `DD_API_KEY`; `DD_APP_KEY` to find an event a lost reply hid).
    pub post_events: bool,
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
    /// Read AWS Health's open events for the region (needs a Business, Enterprise On-Ramp or
    /// Enterprise support plan; without one the part reports that and the rest goes on).
    pub health: bool,
    /// Empty: AWS Health's global endpoint (us-east-1). Set for a local API.
    pub health_endpoint_url: String,
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
    pub provider: LlmProvider,
    /// Empty: OpenAI. A vLLM/Ollama/LiteLLM URL (…/v1) or the Azure resource URL.
    pub base_url: String,
    pub fast_model: String,
    /// Asked when the fast answer is at or below `escalate_at_or_below` or failed; empty: none.
    pub strong_model: String,
    /// `MEDIUM`, `LOW`, `HIGH` or `never`.
    pub escalate_at_or_below: Escalation,
    pub azure_api_version: String,
    pub timeout_secs: u64,
    /// Model calls in flight at once, across all incidents.
    pub max_concurrency: usize,
    pub max_output_tokens: u32,
    /// `auto`, `max_tokens` or `max_completion_tokens`: the field the output limit goes in.
    pub max_tokens_field: MaxTokensField,
    /// `named` or `required`: how the tool is forced (a named choice answered without a
    /// tool call is retried once with `required`).
    pub tool_choice: ToolChoice,
    /// Sampling temperature sent on every request (servers default as high as 0.8).
    pub temperature: f32,
    /// Stream the answer (server-sent events). Giving up at the deadline then closes the
    /// connection and the server stops generating. `false` for a server that cannot stream.
    pub stream: bool,
    pub prompt_budget_tokens: usize,
    /// The model's context window in tokens; 0: unknown. When set, the prompt is cut to fit
    /// it with the tool schema and `max_output_tokens`.
    pub context_tokens: usize,
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

/// Incident memory: every resolved incident, and every incident someone gave feedback on, is
/// indexed as the `incidents` corpus so the next similar incident recalls it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySettings {
    pub enabled: bool,
    /// Records older than this are removed from the index.
    pub retain_days: i64,
}

/// Write-back to PagerDuty (notes on incidents that came from PagerDuty). On when
/// `PAGERDUTY_API_TOKEN` and `from_email` are both set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutySettings {
    /// REST API base (`https://api.eu.pagerduty.com` for EU service regions).
    pub api_base: String,
    /// Email of a PagerDuty user the notes are written as (the `From` header).
    pub from_email: String,
    /// Send the brief's status update draft to subscribers; off, the draft is only stored.
    pub post_status_updates: bool,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackRoute {
    pub service: Option<String>,
    pub team: Option<String>,
    /// `SEV2` matches SEV1 and SEV2.
    pub min_severity: Option<Severity>,
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
    /// Optional dense embeddings fused with BM25 (closeness above the noise ceiling); off while `model` is empty.
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
    /// Put before every search query, for models trained with input types (e5: `"query: "`).
    pub query_prefix: String,
    /// Put before every indexed chunk (e5: `"passage: "`). Changing either rebuilds the index.
    pub document_prefix: String,
    /// Sent as the request's `input_type` with search queries, for endpoints that take one
    /// (`"query"`, `"search_query"`); empty: not sent.
    pub query_input_type: String,
    /// Sent as `input_type` with indexed chunks (`"passage"`, `"document"`,
    /// `"search_document"`); empty: not sent.
    pub document_input_type: String,
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
impl Default for MemorySettings {
    fn default() -> Self {
        Settings::default().memory
    }
}
impl Default for PagerDutySettings {
    fn default() -> Self {
        Settings::default().pagerduty
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

/// What each diagnosis check adds to a hypothesis's score (negative when it speaks against).
/// Against-checks weigh far more than for-checks: one decisive fact against a cause outweighs
/// any coincidence in its favour. `triaged eval` with `TRIAGED__DIAGNOSIS__*` overrides is how
/// they are fitted and how a change to them is judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosisSettings {
    /// The cause preceded the symptom's own onset.
    pub time_before: f64,
    /// The cause came after the symptom began.
    pub time_after: f64,
    /// What the change changed can produce the symptom.
    pub content_for: f64,
    /// It cannot (logging only, a calendar entry, a parameter not yet applied).
    pub content_against: f64,
    /// On the failing path.
    pub local: f64,
    /// Neither the alerting service nor one of its dependencies.
    pub off_path: f64,
    /// Away from its usual level (requests against a week earlier).
    pub baseline_for: f64,
    /// At its usual level, or back at it.
    pub baseline_against: f64,
    /// Per independent source agreeing (at most two).
    pub corroborated: f64,
    /// A past incident with the same mechanism.
    pub knowledge: f64,
    /// Only a past incident suggests it.
    pub knowledge_only: f64,
    /// A past incident with the same symptoms blamed this cause, and people corrected it.
    pub corrected_before: f64,
    /// The alert's own text states it.
    pub alert_text: f64,
}

impl Default for DiagnosisSettings {
    fn default() -> Self {
        Self {
            time_before: 0.05,
            time_after: -0.4,
            content_for: 0.05,
            content_against: -0.4,
            // Fitted on the visible suite: on the path is expected of a cause, not evidence
            // for it (0.05 → 0: same hit@1, Brier 0.078 → 0.039).
            local: 0.0,
            off_path: -0.45,
            baseline_for: 0.15,
            baseline_against: -0.35,
            corroborated: 0.1,
            knowledge: 0.05,
            knowledge_only: -0.2,
            // Not fitted: as decisive as a check of content or time order.
            corrected_before: -0.4,
            alert_text: 0.1,
        }
    }
}
