//! Scoring: each scenario's brief against what the scenario says is right, the scorecard
//! (hit@1, knowledge recall, citations, calibration, Brier score, time per stage), its text
//! form, the baseline CI holds it to, and its JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::scenario::Scenario;
use super::{AnalystMode, ScenarioResult};
use crate::analysis::Brief;
use crate::analysis::schema::Triage;
use crate::domain::{Confidence, KnowledgeMatch};

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
    /// The headline: expected chunk ids (the exact section) among the retrieved top-k.
    pub knowledge_recall: Option<f64>,
    /// Expected documents among the retrieved top-k, whichever section matched.
    #[serde(default)]
    pub knowledge_doc_recall: Option<f64>,
    pub evidence_recall: Option<f64>,
    pub citation_validity: Option<f64>,
    pub calibration: Vec<CalibrationRow>,
    /// Brier score of the stated score against being right (0 is perfect).
    pub brier: Option<f64>,
    /// Median milliseconds per stage.
    pub stage_p50_ms: BTreeMap<String, f64>,
    /// External labels only: required keywords found, briefs naming a forbidden category,
    /// ruling-out keywords mentioned.
    #[serde(default)]
    pub keyword_recall: Option<f64>,
    #[serde(default)]
    pub forbidden_rate: Option<f64>,
    #[serde(default)]
    pub ruling_out_recall: Option<f64>,
    /// Which suite: `scenarios` (ours) or `opensre`.
    #[serde(default)]
    pub suite: String,
    /// Scenarios that could not be read or run (`path: reason`): the rest are still scored,
    /// and `triaged eval` exits non-zero at the end.
    #[serde(default)]
    pub broken: Vec<String>,
    /// Scenarios that ran but look inconsistent (an alert hours away from its evidence).
    #[serde(default)]
    pub warnings: Vec<String>,
    pub results: Vec<ScenarioResult>,
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

/// The document a knowledge chunk id belongs to: `runbook.tls#renewal` → `runbook.tls`.
fn document(id: &str) -> &str {
    id.split('#').next().unwrap_or(id)
}

/// The best hypotheses of a brief with the verdict of each check (or, without hypotheses,
/// the strongest signals), one line each, for reading a miss.
pub(super) fn strongest_signals(brief: &Brief) -> Vec<String> {
    if !brief.hypotheses.is_empty() {
        return brief
            .hypotheses
            .iter()
            .take(4)
            .map(|h| {
                let checks: Vec<String> = h
                    .checks
                    .iter()
                    .map(|c| format!("{}{}", c.mark(), c.kind.as_str()))
                    .collect();
                format!(
                    "{:.2} {} {} [{}]: {}",
                    h.score,
                    h.category.as_str(),
                    h.entity,
                    checks.join(" "),
                    h.statement
                )
            })
            .collect();
    }
    brief
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
        .collect()
}

pub(super) fn score(
    scenario: &Scenario,
    brief: &Brief,
    knowledge: &[KnowledgeMatch],
    stage_ms: BTreeMap<String, f64>,
) -> ScenarioResult {
    let expected = &scenario.file.expected;
    let rc = &brief.triage.root_cause;
    let category_hit = expected.category.matches(rc.category);
    let entity_hit = expected.entity.matches(&rc.entity);
    let retrieved: Vec<String> = knowledge.iter().map(|k| k.id.clone()).collect();
    let cited = cited(&brief.triage);
    ScenarioResult {
        name: scenario.name.clone(),
        description: scenario.file.description.clone(),
        expected_category: expected.category.label(),
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
        // The right document, whichever of its sections was retrieved.
        knowledge_doc_found: expected
            .knowledge
            .iter()
            .filter(|id| retrieved.iter().any(|r| document(r) == document(id)))
            .count(),
        retrieved,
        evidence_expected: expected.evidence.len(),
        evidence_cited: expected
            .evidence
            .iter()
            .filter(|id| cited.contains(*id))
            .count(),
        citations_valid: cited.len(),
        // Ids invented by the brief, or by a model answer set aside for the rules brief.
        citations_invalid: brief.validation.dropped_ids.len()
            + brief
                .set_aside
                .iter()
                .map(|s| s.dropped_ids.len())
                .sum::<usize>(),
        stage_ms,
        headline: brief.headline(),
        signals: strongest_signals(brief),
        keywords_expected: 0,
        keywords_found: 0,
        forbidden: false,
        ruled_out_expected: 0,
        ruled_out_found: 0,
        hypotheses: outcomes(brief, |h| {
            expected.category.matches(h.category) && expected.entity.matches(&h.entity)
        }),
    }
}

/// Each tested hypothesis of `brief`, judged right by `right`.
pub(super) fn outcomes(
    brief: &Brief,
    right: impl Fn(&crate::diagnosis::Hypothesis) -> bool,
) -> Vec<super::HypothesisOutcome> {
    brief
        .hypotheses
        .iter()
        .map(|h| super::HypothesisOutcome {
            category: h.category.as_str().into(),
            entity: h.entity.clone(),
            raw: h.score,
            right: right(h),
        })
        .collect()
}

fn ratio(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

pub(crate) fn scorecard(
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
        knowledge_doc_recall: ratio(
            sum(&|r| r.knowledge_doc_found),
            sum(&|r| r.knowledge_expected),
        ),
        evidence_recall: ratio(sum(&|r| r.evidence_cited), sum(&|r| r.evidence_expected)),
        citation_validity: ratio(
            sum(&|r| r.citations_valid),
            sum(&|r| r.citations_valid + r.citations_invalid),
        ),
        calibration,
        brier,
        stage_p50_ms,
        keyword_recall: ratio(sum(&|r| r.keywords_found), sum(&|r| r.keywords_expected)),
        forbidden_rate: results
            .iter()
            .any(|r| r.keywords_expected + r.ruled_out_expected > 0)
            .then(|| share(&|r| r.forbidden)),
        ruling_out_recall: ratio(sum(&|r| r.ruled_out_found), sum(&|r| r.ruled_out_expected)),
        suite: "scenarios".into(),
        broken: Vec::new(),
        warnings: Vec::new(),
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
        for b in &self.broken {
            out.push_str(&format!("BROKEN  {b}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("WARNING {w}\n"));
        }
        out.push_str(&format!(
            "\nanalyst {} · {} scenarios\n\
             root-cause hit@1   {}\n\
             category hit       {}\n\
             entity hit         {}\n\
             knowledge recall@{} {} (section; document {})\n\
             evidence cited     {}\n\
             citation validity  {}\n",
            self.analyst.as_str(),
            self.scenarios,
            pct(Some(self.hit_at_1)),
            pct(Some(self.category_hit)),
            pct(Some(self.entity_hit)),
            self.k,
            pct(self.knowledge_recall),
            pct(self.knowledge_doc_recall),
            pct(self.evidence_recall),
            pct(self.citation_validity),
        ));
        if let Some(brier) = self.brier {
            out.push_str(&format!("brier score        {brier:.3}\n"));
        }
        if self.keyword_recall.is_some() || self.forbidden_rate.is_some() {
            out.push_str(&format!(
                "keyword recall     {}\nforbidden category {}\nruling-out recall  {}\n",
                pct(self.keyword_recall),
                pct(self.forbidden_rate),
                pct(self.ruling_out_recall)
            ));
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

/// Where `--json` goes, and the scorecard recorded for `/eval`.
pub fn write_json(scorecard: &Scorecard, path: &PathBuf) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(scorecard)?)
        .with_context(|| format!("writing {}", path.display()))
}
