//! Evaluation: every scenario under a directory runs through the real pipeline — webhook
//! parsing, targets, signals, retrieval on a fresh index, analysis, rendering — and is scored
//! against what the scenario says is right. Also replay of stored incidents and export of
//! incidents with feedback as scenarios.

pub mod calibration;
mod canned;
pub mod export;
pub mod opensre;
pub mod replay;
pub mod scenario;
mod score;

pub use canned::CannedModel;
pub use score::{CalibrationRow, Scorecard, check_baseline, percent, write_json};
use score::{score, scorecard, strongest_signals};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use self::scenario::Scenario;
use crate::analysis::Analyst;
use crate::catalog::ServiceCatalog;
use crate::config::{Secrets, Settings};
use crate::domain::Alert;
use crate::domain::Confidence;
use crate::intake::{self, Delivery};
use crate::knowledge::KnowledgeIndex;
use crate::pipeline::stages;

/// Which analyst answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AnalystMode {
    /// The deterministic rules analyst (no model).
    Rules,
    /// The configured model (`[llm]` and `OPENAI_API_KEY`).
    Llm,
    /// Each scenario's `llm_response.json`, served by a local OpenAI-compatible endpoint, so
    /// the real client, parsing and validation run deterministically.
    Canned,
}

impl AnalystMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rules => "rules",
            Self::Llm => "llm",
            Self::Canned => "canned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub analyst: AnalystMode,
    /// Only scenarios whose name contains one of these (all when empty).
    pub only: Vec<String>,
    /// Leave the scenarios' remembered incidents (`knowledge/incidents/`) out of retrieval,
    /// to measure what incident memory changes.
    pub without_memory: bool,
}

/// What retrieval keeps for each scenario.
#[derive(Debug, Clone, Copy)]
struct Keep {
    per_corpus: usize,
    memory: bool,
}

/// How one scenario went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    pub description: String,
    pub expected_category: String,
    pub expected_entity: Vec<String>,
    pub category: String,
    pub entity: String,
    pub confidence: Confidence,
    pub score: f64,
    pub analyst: String,
    pub category_hit: bool,
    pub entity_hit: bool,
    /// Category and entity both right.
    pub hit: bool,
    /// Expected knowledge ids found in the retrieved top-k (per corpus).
    pub knowledge_expected: usize,
    pub knowledge_found: usize,
    /// Expected ids whose document was retrieved, whichever section.
    #[serde(default)]
    pub knowledge_doc_found: usize,
    pub retrieved: Vec<String>,
    /// Expected evidence ids the brief cites.
    pub evidence_expected: usize,
    pub evidence_cited: usize,
    /// Ids the analyst cited that exist, and ids it invented (dropped by validation).
    pub citations_valid: usize,
    pub citations_invalid: usize,
    /// Milliseconds per stage: parse, targets, index, retrieve, analyse, render.
    pub stage_ms: BTreeMap<String, f64>,
    pub headline: String,
    /// The strongest deterministic signals, for reading a miss.
    pub signals: Vec<String>,
    /// External labels (`--format opensre`): keywords the brief must contain, whether it
    /// named a forbidden category, and the ruling-out keywords it mentions.
    #[serde(default)]
    pub keywords_expected: usize,
    #[serde(default)]
    pub keywords_found: usize,
    #[serde(default)]
    pub forbidden: bool,
    #[serde(default)]
    pub ruled_out_expected: usize,
    #[serde(default)]
    pub ruled_out_found: usize,
    /// Every tested hypothesis with its raw score and whether it names the labelled cause:
    /// the data the confidence calibration is fitted on (`triaged eval --fit-calibration`).
    #[serde(default)]
    pub hypotheses: Vec<HypothesisOutcome>,
}

/// One tested hypothesis of a scored brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisOutcome {
    pub category: String,
    pub entity: String,
    /// The checks' raw score, before calibration.
    pub raw: f64,
    pub right: bool,
}

/// Runs every scenario under `root`. `root/base/` holds the shared base corpus
/// (`base/knowledge/<corpus>/`) and the service catalog (`base/services.toml`).
pub async fn run(
    root: &Path,
    settings: &Settings,
    secrets: &Secrets,
    options: &EvalOptions,
) -> anyhow::Result<Scorecard> {
    let base = root.join("base");
    let catalog_path = if base.join("services.toml").is_file() {
        base.join("services.toml")
    } else {
        settings.collectors.services_file.clone()
    };
    let catalog = ServiceCatalog::load(&catalog_path).map_err(anyhow::Error::msg)?;
    let dirs = scenario::discover(root).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !dirs.is_empty(),
        "no scenarios under {} (a scenario is a directory with a scenario.toml)",
        root.display()
    );
    let canned = match options.analyst {
        AnalystMode::Canned => Some(CannedModel::start().await?),
        _ => None,
    };
    let analyst = analyst_for(
        options.analyst,
        settings,
        secrets,
        &catalog,
        canned.as_ref(),
    )?;
    let k = settings.knowledge.per_corpus;
    // With embeddings configured, the indexes are hybrid, as in production.
    let embedder = crate::knowledge::Embedder::from_settings(
        &settings.knowledge.embeddings,
        secrets.embeddings_api_key.clone(),
    );
    // The base corpus is indexed once and shared by every scenario without documents of its
    // own; a scenario with `knowledge/` gets a fresh index of the base plus its documents.
    let shared = ScenarioIndex::build(&base, None, embedder.clone())?;

    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let mut broken = Vec::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        // One unreadable scenario is reported and the rest are still scored.
        let scenario = match Scenario::load(&dir) {
            Ok(scenario) => scenario,
            Err(e) => {
                broken.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        if !options.only.is_empty() && !options.only.iter().any(|o| scenario.name.contains(o)) {
            continue;
        }
        if scenario.file.needs_review {
            skipped.push(format!("{} (needs review)", scenario.name));
            continue;
        }
        if let Some(canned) = &canned {
            match &scenario.llm_response {
                Some(response) => canned.set(response.clone()),
                None => {
                    skipped.push(format!("{} (no llm_response.json)", scenario.name));
                    continue;
                }
            }
        }
        match run_one(
            &scenario,
            &base,
            &shared,
            &catalog,
            &analyst,
            embedder.clone(),
            Keep {
                per_corpus: k,
                memory: !options.without_memory,
            },
        )
        .await
        {
            Ok((result, warning)) => {
                results.push(result);
                warnings.extend(warning);
            }
            Err(e) => broken.push(format!("{}: {e:#}", dir.display())),
        }
    }
    let mut card = scorecard(options.analyst, k, skipped, results);
    card.broken = broken;
    card.warnings = warnings;
    // The suite is its directory (`scenarios`, `held-out`), so each is shown on its own.
    if let Some(name) = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        card.suite = name;
    }
    Ok(card)
}

pub(crate) fn analyst_for(
    mode: AnalystMode,
    settings: &Settings,
    secrets: &Secrets,
    catalog: &ServiceCatalog,
    canned: Option<&CannedModel>,
) -> anyhow::Result<Analyst> {
    let mut settings = settings.clone();
    let secrets = match (mode, canned) {
        (AnalystMode::Rules, _) => Secrets::default(),
        (AnalystMode::Llm, _) => {
            anyhow::ensure!(
                secrets.openai_api_key.is_some(),
                "--analyst llm needs a model: set OPENAI_API_KEY (and [llm] for another endpoint)"
            );
            secrets.clone()
        }
        (AnalystMode::Canned, Some(canned)) => {
            settings.llm.provider = crate::config::LlmProvider::Openai;
            settings.llm.base_url = format!("{}/v1", canned.base);
            settings.llm.fast_model = "canned".into();
            settings.llm.strong_model = String::new();
            Secrets {
                openai_api_key: Some(SecretString::from("canned")),
                ..Secrets::default()
            }
        }
        (AnalystMode::Canned, None) => anyhow::bail!("the canned model is not running"),
    };
    Ok(Analyst::from_settings(&settings, &secrets, catalog.clone()))
}

/// A knowledge index in its own scratch directory.
struct ScenarioIndex {
    index: Arc<KnowledgeIndex>,
    _scratch: tempfile::TempDir,
}

impl ScenarioIndex {
    /// The base corpus (`base/knowledge/`), plus `extra` when given.
    fn build(
        base: &Path,
        extra: Option<&Path>,
        embedder: Option<crate::knowledge::Embedder>,
    ) -> anyhow::Result<Self> {
        let scratch = tempfile::tempdir()?;
        let index = KnowledgeIndex::open_with(scratch.path(), embedder)?;
        if base.join("knowledge").is_dir() {
            index.index_corpora(&base.join("knowledge"))?;
        }
        if let Some(dir) = extra {
            index.index_corpora(dir)?;
        }
        Ok(Self {
            index: Arc::new(index),
            _scratch: scratch,
        })
    }
}

async fn run_one(
    scenario: &Scenario,
    base: &Path,
    shared: &ScenarioIndex,
    catalog: &ServiceCatalog,
    analyst: &Analyst,
    embedder: Option<crate::knowledge::Embedder>,
    keep: Keep,
) -> anyhow::Result<(ScenarioResult, Option<String>)> {
    let mut stage_ms = BTreeMap::new();
    let mut timed = |stage: &str, started: Instant| {
        stage_ms.insert(stage.to_string(), started.elapsed().as_secs_f64() * 1000.0);
    };

    let started = Instant::now();
    let mut bundle = scenario.evidence.clone();
    let alerts = intake::parse(
        scenario.file.source,
        &Delivery {
            body: &scenario.payload,
            header_delivery_id: Some("eval"),
            received_at: bundle.window.onset,
            keep_raw: false,
        },
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", scenario.file.alert))?;
    let alert = Alert::current(&alerts).context("the payload carries no alert")?;
    timed("parse", started);
    let warning = window_mismatch(&scenario.name, alert, &bundle.window);

    let started = Instant::now();
    stages::complete_targets(&mut bundle, alert, catalog);
    timed("targets", started);

    let started = Instant::now();
    let own = match scenario.knowledge_dir() {
        Some(dir) => Some(ScenarioIndex::build(base, Some(&dir), embedder)?),
        None => None,
    };
    let index = &own.as_ref().unwrap_or(shared).index;
    timed("index", started);

    let started = Instant::now();
    let retrieval = stages::retrieve(Some(index), alert, Some(&bundle), keep.per_corpus).await;
    bundle.reports.extend(retrieval.gap());
    let mut knowledge = retrieval.into_matches();
    if !keep.memory {
        knowledge.retain(|k| k.corpus != crate::domain::memory::CORPUS);
    }
    timed("retrieve", started);

    let started = Instant::now();
    let brief = stages::analyse(analyst, alert, &bundle, &knowledge).await;
    timed("analyse", started);

    let started = Instant::now();
    stages::render(alert, &brief, &bundle, &knowledge)?;
    timed("render", started);

    Ok((score(scenario, &brief, &knowledge, stage_ms), warning))
}

/// Hours apart beyond which an alert and its evidence cannot be about the same incident.
const WINDOW_MISMATCH_HOURS: i64 = 2;

/// A warning naming the scenario when its alert fired hours away from the evidence window's
/// onset: the time checks of the diagnosis would read a different incident.
fn window_mismatch(name: &str, alert: &Alert, window: &crate::domain::Window) -> Option<String> {
    let apart = (alert.fired_at - window.onset).num_minutes().abs();
    (apart > WINDOW_MISMATCH_HOURS * 60).then(|| {
        format!(
            "{name}: the alert fired at {} but the evidence window's onset is {} ({:.1} h apart)",
            alert.fired_at.format("%Y-%m-%d %H:%M UTC"),
            window.onset.format("%Y-%m-%d %H:%M UTC"),
            apart as f64 / 60.0
        )
    })
}
