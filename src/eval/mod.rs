//! Evaluation: every scenario under a directory runs through the real pipeline — webhook
//! parsing, targets, signals, retrieval on a fresh index, analysis, rendering — and is scored
//! against what the scenario says is right. Also replay of stored incidents and export of
//! incidents with feedback as scenarios.

pub mod export;
pub mod replay;
pub mod scenario;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::scenario::Scenario;
use crate::analysis::schema::{Confidence, Triage};
use crate::analysis::{Analyst, Brief};
use crate::config::{Secrets, Settings};
use crate::domain::{Alert, EvidenceBundle, Incident, IncidentStatus, KnowledgeMatch};
use crate::intake::{self, Delivery};
use crate::knowledge::KnowledgeIndex;
use crate::notify::slack::{BriefView, Tally, render_brief};
use crate::pipeline::targets::{ServiceCatalog, Targets};
use crate::pipeline::triage::retrieval_query;

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
}

/// One confidence level's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    pub confidence: Confidence,
    pub briefs: usize,
    pub right: usize,
    /// Share right; `None` with no briefs at this level.
    pub accuracy: Option<f64>,
    pub mean_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub created_at: chrono::DateTime<Utc>,
    pub analyst: AnalystMode,
    pub scenarios: usize,
    /// Scenarios listed but not scored (exported, awaiting review; or no canned answer).
    pub skipped: Vec<String>,
    pub hit_at_1: f64,
    pub category_hit: f64,
    pub entity_hit: f64,
    /// Top-k per corpus.
    pub k: usize,
    pub knowledge_recall: Option<f64>,
    pub evidence_recall: Option<f64>,
    pub citation_validity: Option<f64>,
    pub calibration: Vec<CalibrationRow>,
    /// Brier score of the stated score against being right (0 is perfect).
    pub brier: Option<f64>,
    /// Median milliseconds per stage.
    pub stage_p50_ms: BTreeMap<String, f64>,
    pub results: Vec<ScenarioResult>,
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
    for dir in dirs {
        let scenario = Scenario::load(&dir).map_err(anyhow::Error::msg)?;
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
        let result = run_one(
            &scenario,
            &base,
            &shared,
            &catalog,
            &analyst,
            embedder.clone(),
            k,
        )
        .await
        .with_context(|| format!("scenario {}", scenario.name))?;
        results.push(result);
    }
    Ok(scorecard(options.analyst, k, skipped, results))
}

fn analyst_for(
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
            settings.llm.provider = "openai".into();
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
    index: KnowledgeIndex,
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
            index,
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
    k: usize,
) -> anyhow::Result<ScenarioResult> {
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
        },
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", scenario.file.alert))?;
    let alert = Alert::current(&alerts).context("the payload carries no alert")?;
    timed("parse", started);

    let started = Instant::now();
    if !scenario.evidence_has_targets {
        bundle.targets = Targets::resolve(alert, catalog);
    }
    timed("targets", started);

    let started = Instant::now();
    let own = match scenario.knowledge_dir() {
        Some(dir) => Some(ScenarioIndex::build(base, Some(&dir), embedder)?),
        None => None,
    };
    let index = &own.as_ref().unwrap_or(shared).index;
    timed("index", started);

    let started = Instant::now();
    let knowledge = index.search(&retrieval_query(alert, &bundle), k)?;
    timed("retrieve", started);

    let started = Instant::now();
    let brief = analyst.analyse(alert, &bundle, &knowledge).await;
    timed("analyse", started);

    let started = Instant::now();
    render(alert, &brief, &bundle, &knowledge)?;
    timed("render", started);

    Ok(score(scenario, &brief, &knowledge, stage_ms))
}

/// Renders the brief as delivery would, and fails if Slack would refuse it.
fn render(
    alert: &Alert,
    brief: &Brief,
    bundle: &EvidenceBundle,
    knowledge: &[KnowledgeMatch],
) -> anyhow::Result<()> {
    let incident = Incident {
        id: "eval".into(),
        dedup_key: alert.dedup_key.clone(),
        source: alert.source,
        title: alert.title.clone(),
        service: alert.service.clone(),
        priority: alert.priority.clone(),
        status: IncidentStatus::Open,
        opened_at: alert.fired_at.timestamp_millis(),
        updated_at: alert.fired_at.timestamp_millis(),
        resolved_at: None,
        alert_count: 1,
    };
    let message = render_brief(&BriefView {
        incident: &incident,
        brief,
        bundle: Some(bundle),
        knowledge,
        resolved_after: None,
        tally: Tally::default(),
        incident_url: None,
        stage_ms: Vec::new(),
        now: alert.fired_at,
    });
    anyhow::ensure!(
        message.blocks.len() <= 50,
        "the brief renders to {} blocks (Slack allows 50)",
        message.blocks.len()
    );
    let _ = brief.to_text();
    Ok(())
}

/// Every id the brief cites, once.
fn cited(triage: &Triage) -> BTreeSet<String> {
    let rc = &triage.root_cause;
    let mut ids: BTreeSet<String> = rc
        .evidence_ids
        .iter()
        .chain(&rc.knowledge_ids)
        .cloned()
        .collect();
    for a in &triage.alternatives {
        ids.extend(a.evidence_ids.iter().chain(&a.knowledge_ids).cloned());
    }
    for a in &triage.actions {
        ids.extend(a.evidence_ids.iter().chain(&a.knowledge_ids).cloned());
    }
    for c in &triage.confidence_breakdown {
        ids.extend(c.evidence_ids.iter().cloned());
    }
    ids
}

fn score(
    scenario: &Scenario,
    brief: &Brief,
    knowledge: &[KnowledgeMatch],
    stage_ms: BTreeMap<String, f64>,
) -> ScenarioResult {
    let expected = &scenario.file.expected;
    let rc = &brief.triage.root_cause;
    let category_hit = rc.category == expected.category;
    let entity_hit = expected.entity.matches(&rc.entity);
    let retrieved: Vec<String> = knowledge.iter().map(|k| k.id.clone()).collect();
    let cited = cited(&brief.triage);
    ScenarioResult {
        name: scenario.name.clone(),
        description: scenario.file.description.clone(),
        expected_category: expected.category.as_str().into(),
        expected_entity: expected
            .entity
            .all()
            .iter()
            .map(|e| e.to_string())
            .collect(),
        category: rc.category.as_str().into(),
        entity: rc.entity.clone(),
        confidence: rc.confidence,
        score: rc.score,
        analyst: brief.analyst.clone(),
        category_hit,
        entity_hit,
        hit: category_hit && entity_hit,
        knowledge_expected: expected.knowledge.len(),
        knowledge_found: expected
            .knowledge
            .iter()
            .filter(|id| retrieved.contains(id))
            .count(),
        retrieved,
        evidence_expected: expected.evidence.len(),
        evidence_cited: expected
            .evidence
            .iter()
            .filter(|id| cited.contains(*id))
            .count(),
        citations_valid: cited.len(),
        citations_invalid: brief.validation.dropped_ids.len(),
        stage_ms,
        headline: brief.headline(),
        signals: brief
            .signals
            .iter()
            .take(4)
            .map(|s| {
                format!(
                    "{:.2} {} {}: {}",
                    s.strength,
                    s.category.as_str(),
                    s.entity,
                    s.statement
                )
            })
            .collect(),
    }
}

fn ratio(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn scorecard(
    analyst: AnalystMode,
    k: usize,
    skipped: Vec<String>,
    results: Vec<ScenarioResult>,
) -> Scorecard {
    let n = results.len();
    let share = |f: &dyn Fn(&ScenarioResult) -> bool| {
        ratio(results.iter().filter(|r| f(r)).count(), n).unwrap_or(0.0)
    };
    let sum = |f: &dyn Fn(&ScenarioResult) -> usize| results.iter().map(f).sum::<usize>();
    let calibration = [Confidence::Low, Confidence::Medium, Confidence::High]
        .into_iter()
        .map(|confidence| {
            let at: Vec<&ScenarioResult> = results
                .iter()
                .filter(|r| r.confidence == confidence)
                .collect();
            let right = at.iter().filter(|r| r.hit).count();
            CalibrationRow {
                confidence,
                briefs: at.len(),
                right,
                accuracy: ratio(right, at.len()),
                mean_score: (!at.is_empty())
                    .then(|| at.iter().map(|r| r.score).sum::<f64>() / at.len() as f64),
            }
        })
        .collect();
    let brier = (n > 0).then(|| {
        results
            .iter()
            .map(|r| (r.score - if r.hit { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / n as f64
    });
    let stages: BTreeSet<&String> = results.iter().flat_map(|r| r.stage_ms.keys()).collect();
    let stage_p50_ms = stages
        .into_iter()
        .map(|stage| {
            let values = results
                .iter()
                .filter_map(|r| r.stage_ms.get(stage).copied())
                .collect();
            (stage.clone(), median(values))
        })
        .collect();
    Scorecard {
        created_at: Utc::now(),
        analyst,
        scenarios: n,
        skipped,
        hit_at_1: share(&|r| r.hit),
        category_hit: share(&|r| r.category_hit),
        entity_hit: share(&|r| r.entity_hit),
        k,
        knowledge_recall: ratio(sum(&|r| r.knowledge_found), sum(&|r| r.knowledge_expected)),
        evidence_recall: ratio(sum(&|r| r.evidence_cited), sum(&|r| r.evidence_expected)),
        citation_validity: ratio(
            sum(&|r| r.citations_valid),
            sum(&|r| r.citations_valid + r.citations_invalid),
        ),
        calibration,
        brier,
        stage_p50_ms,
        results,
    }
}

/// A share as a whole percentage, or "—" when there is nothing to divide.
pub fn percent(share: Option<f64>) -> String {
    share.map_or("—".to_string(), |v| format!("{:.0}%", v * 100.0))
}

impl Scorecard {
    /// The scorecard as a terminal table.
    pub fn to_text(&self) -> String {
        let pct = percent;
        let mut out = format!(
            "{:<34} {:<4} {:<46} {:<10} {:>6} {:>7}\n",
            "scenario", "hit", "root cause (expected → got)", "confidence", "know.", "cites"
        );
        for r in &self.results {
            let mark = |ok: bool| if ok { "✓" } else { "✗" };
            out.push_str(&format!(
                "{:<34} {:<4} {:<46} {:<10} {:>6} {:>7}\n",
                r.name,
                mark(r.hit),
                format!("{} {}", mark(r.category_hit), r.expected_category),
                format!("{} {:.2}", r.confidence.as_str(), r.score),
                format!("{}/{}", r.knowledge_found, r.knowledge_expected),
                format!("{}/{}", r.evidence_cited, r.evidence_expected),
            ));
            if !r.hit {
                out.push_str(&format!(
                    "{:<39} {} expected {}\n{:<39}   got {} {}\n",
                    "",
                    mark(r.entity_hit),
                    r.expected_entity.join(" | "),
                    "",
                    r.category,
                    r.entity
                ));
                for signal in &r.signals {
                    let short: String = signal.chars().take(110).collect();
                    out.push_str(&format!("{:<41} · {short}\n", ""));
                }
            }
        }
        for s in &self.skipped {
            out.push_str(&format!("{s:<34} skipped\n"));
        }
        out.push_str(&format!(
            "\nanalyst {} · {} scenarios\n\
             root-cause hit@1   {}\n\
             category hit       {}\n\
             entity hit         {}\n\
             knowledge recall@{} {}\n\
             evidence cited     {}\n\
             citation validity  {}\n",
            self.analyst.as_str(),
            self.scenarios,
            pct(Some(self.hit_at_1)),
            pct(Some(self.category_hit)),
            pct(Some(self.entity_hit)),
            self.k,
            pct(self.knowledge_recall),
            pct(self.evidence_recall),
            pct(self.citation_validity),
        ));
        if let Some(brier) = self.brier {
            out.push_str(&format!("brier score        {brier:.3}\n"));
        }
        out.push_str("\ncalibration        briefs  right  accuracy  mean score\n");
        for row in &self.calibration {
            out.push_str(&format!(
                "  {:<16} {:>6} {:>6} {:>9} {:>11}\n",
                row.confidence.as_str(),
                row.briefs,
                row.right,
                pct(row.accuracy),
                row.mean_score.map_or("—".into(), |s| format!("{s:.2}")),
            ));
        }
        out.push_str("\nstage p50 (ms)    ");
        for (stage, ms) in &self.stage_p50_ms {
            out.push_str(&format!(" {stage} {ms:.1}"));
        }
        out.push('\n');
        out
    }
}

/// `baseline.toml`: the hit@1 each analyst must keep.
#[derive(Debug, Deserialize)]
struct Baseline {
    #[serde(default)]
    rules: Option<BaselineEntry>,
    #[serde(default)]
    canned: Option<BaselineEntry>,
    #[serde(default)]
    llm: Option<BaselineEntry>,
}

#[derive(Debug, Deserialize)]
struct BaselineEntry {
    hit_at_1: f64,
}

/// Fails when the scorecard's hit@1 is below the recorded baseline for its analyst.
pub fn check_baseline(scorecard: &Scorecard, path: &Path) -> anyhow::Result<Option<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let baseline: Baseline = toml::from_str(&text)
        .with_context(|| format!("{} is not a baseline file", path.display()))?;
    let entry = match scorecard.analyst {
        AnalystMode::Rules => baseline.rules,
        AnalystMode::Canned => baseline.canned,
        AnalystMode::Llm => baseline.llm,
    };
    let Some(entry) = entry else {
        return Ok(None);
    };
    anyhow::ensure!(
        scorecard.hit_at_1 + 1e-9 >= entry.hit_at_1,
        "root-cause hit@1 {:.3} is below the baseline {:.3} recorded in {}",
        scorecard.hit_at_1,
        entry.hit_at_1,
        path.display()
    );
    Ok(Some(entry.hit_at_1))
}

/// A local OpenAI-compatible endpoint answering every chat completion with one canned
/// `submit_triage` call.
pub struct CannedModel {
    pub base: String,
    answer: Arc<Mutex<Value>>,
    _server: tokio::task::JoinHandle<()>,
}

impl CannedModel {
    pub async fn start() -> anyhow::Result<Self> {
        let answer = Arc::new(Mutex::new(Value::Null));
        let router = axum::Router::new()
            .route("/v1/chat/completions", post(canned_completion))
            .with_state(Arc::clone(&answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            base,
            answer,
            _server: server,
        })
    }

    pub fn set(&self, arguments: Value) {
        if let Ok(mut answer) = self.answer.lock() {
            *answer = arguments;
        }
    }
}

impl Drop for CannedModel {
    fn drop(&mut self) {
        self._server.abort();
    }
}

async fn canned_completion(State(answer): State<Arc<Mutex<Value>>>) -> Json<Value> {
    let arguments = answer.lock().map(|a| a.clone()).unwrap_or(Value::Null);
    Json(crate::bench::fakes::tool_call_completion(
        "canned",
        &arguments,
        (0, 0),
    ))
}

/// Where `--json` goes, and the scorecard recorded for `/eval`.
pub fn write_json(scorecard: &Scorecard, path: &PathBuf) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(scorecard)?)
        .with_context(|| format!("writing {}", path.display()))
}
