//! Analysis: deterministic signals, the prompt, the model behind one forced tool, validation
//! and calibration of its answer, and the rules analyst that answers when the model cannot.

pub mod fallback;
pub mod llm;
pub mod prompt;
pub mod schema;
pub mod validate;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use self::llm::{LlmClient, Usage};
use self::schema::Triage;
use self::validate::ValidationReport;
use crate::catalog::ServiceCatalog;
use crate::config::{Secrets, Settings};
use crate::diagnosis::{self, Hypothesis};
use crate::domain::Confidence;
use crate::domain::{Alert, EvidenceBundle, KnowledgeMatch};
use crate::signals::Signal;

/// The analysed brief: what delivery renders and the store keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brief {
    pub triage: Triage,
    /// The model that produced it, or `rules`.
    pub analyst: String,
    pub signals: Vec<Signal>,
    pub validation: ValidationReport,
    /// Why the rules analyst answered, when it did.
    pub fallback_reason: Option<String>,
    pub usage: Vec<Usage>,
    pub prompt_tokens_estimate: usize,
    pub created_at: i64,
    /// Model answers that were not good enough to become the brief, and why.
    #[serde(default)]
    pub set_aside: Vec<SetAside>,
    /// Every candidate cause and the checks for and against it, best first.
    #[serde(default)]
    pub hypotheses: Vec<Hypothesis>,
}

/// A model answer that did not replace the rules brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAside {
    pub model: String,
    pub why: String,
    /// The ids it cited that exist nowhere (dropped by validation).
    pub dropped_ids: Vec<String>,
}

/// A stored brief that no longer decodes (written by another version, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("the stored brief of incident {incident_id} cannot be read: {source}")]
pub struct UnreadableBrief {
    pub incident_id: String,
    #[source]
    pub source: serde_json::Error,
}

impl Brief {
    /// Decodes a brief read from the store. One that no longer decodes is logged with the
    /// incident id and returned as an error for the caller to show, never dropped silently.
    pub fn from_stored(
        incident_id: &str,
        json: serde_json::Value,
    ) -> Result<Self, UnreadableBrief> {
        serde_json::from_value(json).map_err(|source| {
            let error = UnreadableBrief {
                incident_id: incident_id.to_string(),
                source,
            };
            tracing::error!(incident.id = incident_id, %error, "stored brief does not decode");
            error
        })
    }

    /// "deploy_regression deployment/production/game-api (MEDIUM, 0.72) by rules".
    pub fn headline(&self) -> String {
        let rc = &self.triage.root_cause;
        format!(
            "{} {} ({}, {:.2}) by {}",
            rc.category.as_str(),
            rc.entity,
            rc.confidence.as_str(),
            rc.score,
            self.analyst
        )
    }
}

impl Brief {
    /// The brief as plain text, for the terminal.
    pub fn to_text(&self) -> String {
        let t = &self.triage;
        let rc = &t.root_cause;
        let mut out = format!("{:?} — {}\n\n", t.severity, t.summary);
        out.push_str(&format!(
            "ROOT CAUSE ({}, {:.2}) {} → {}\n  {}\n  cites: {}\n",
            rc.confidence.as_str(),
            rc.score,
            rc.category.as_str(),
            rc.entity,
            rc.statement,
            rc.evidence_ids
                .iter()
                .chain(&rc.knowledge_ids)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(reason) = &self.validation.capped {
            out.push_str(&format!("  confidence lowered: {reason}\n"));
        }
        out.push_str("\nACTIONS\n");
        for (n, action) in t.actions.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {} (risk {:?})\n",
                n + 1,
                action.action,
                action.risk
            ));
            if let Some(command) = &action.command {
                out.push_str(&format!("     $ {command}\n"));
            }
        }
        if !t.confidence_breakdown.is_empty() {
            out.push_str("\nCONFIDENCE BREAKDOWN\n");
            for check in &t.confidence_breakdown {
                out.push_str(&format!(
                    "  {} {}\n",
                    if check.holds { "✓" } else { "✗" },
                    check.check
                ));
            }
        }
        if !self.hypotheses.is_empty() {
            out.push_str("\nHYPOTHESES\n");
            for h in self.hypotheses.iter().take(6) {
                out.push_str(&format!(
                    "  {} {:.2} {} {} → {}\n",
                    h.id,
                    h.score,
                    h.confidence.as_str(),
                    h.category.as_str(),
                    h.entity
                ));
                for c in &h.checks {
                    out.push_str(&format!(
                        "      {} {}: {}\n",
                        c.mark(),
                        c.kind.as_str(),
                        c.reason
                    ));
                }
            }
        }
        if !t.alternatives.is_empty() {
            out.push_str("\nALTERNATIVES\n");
            for alternative in &t.alternatives {
                out.push_str(&format!(
                    "  - {} ({}): {}\n",
                    alternative.statement,
                    alternative.category.as_str(),
                    alternative.why_less_likely
                ));
            }
        }
        if !t.data_gaps.is_empty() {
            out.push_str("\nDATA GAPS\n");
            for gap in &t.data_gaps {
                out.push_str(&format!(
                    "  - {}: {} — {}\n",
                    gap.source, gap.reason, gap.next_step
                ));
            }
        }
        if !self.validation.dropped_ids.is_empty() {
            out.push_str(&format!(
                "\nignored ids the analyst invented: {}\n",
                self.validation.dropped_ids.join(", ")
            ));
        }
        out.push_str(&format!("\nanalyst: {}", self.analyst));
        if let Some(reason) = &self.fallback_reason {
            out.push_str(&format!(" ({reason})"));
        }
        let tokens: u64 = self
            .usage
            .iter()
            .map(|u| u.prompt_tokens + u.completion_tokens)
            .sum();
        let cost: f64 = self.usage.iter().map(|u| u.cost_usd).sum();
        if tokens > 0 {
            out.push_str(&format!(" · {tokens} tokens · ${cost:.4}"));
        }
        out.push('\n');
        out
    }
}

pub struct Analyst {
    llm: Option<LlmClient>,
    catalog: ServiceCatalog,
    fast_model: String,
    strong_model: String,
    escalate_at_or_below: Option<Confidence>,
    budget_tokens: usize,
    diagnosis: crate::config::DiagnosisSettings,
}

impl Analyst {
    pub fn from_settings(settings: &Settings, secrets: &Secrets, catalog: ServiceCatalog) -> Self {
        let llm = &settings.llm;
        Self {
            llm: LlmClient::from_settings(llm, secrets),
            catalog,
            fast_model: llm.fast_model.clone(),
            strong_model: llm.strong_model.clone(),
            escalate_at_or_below: llm.escalate_at_or_below.threshold(),
            budget_tokens: prompt::fitting_budget(
                llm.prompt_budget_tokens,
                llm.context_tokens,
                llm.max_output_tokens as usize,
            ),
            diagnosis: settings.diagnosis,
        }
    }

    /// Analyses one incident from its evidence, knowledge and the signals derived from both
    /// (see `pipeline::stages::analyse`). Always returns a brief: the rules analyst answers
    /// when no model is configured or every model attempt fails.
    #[tracing::instrument(skip_all, fields(items = bundle.items.len(), knowledge = knowledge.len()))]
    pub async fn analyse(
        &self,
        alert: &Alert,
        bundle: &EvidenceBundle,
        knowledge: &[KnowledgeMatch],
        signals: Vec<Signal>,
    ) -> Brief {
        let hypotheses = diagnosis::diagnose_with(
            alert.service.as_deref(),
            bundle,
            knowledge,
            &signals,
            &self.diagnosis,
        );
        let prompt = prompt::build_with(
            &self.catalog,
            alert,
            bundle,
            knowledge,
            &signals,
            &hypotheses,
            self.budget_tokens,
            Utc::now(),
        );
        let mut usage = Vec::new();
        let mut failures = Vec::new();
        let mut rejected = Vec::new();
        let mut best: Option<(Triage, ValidationReport, String)> = None;

        if let Some(llm) = &self.llm {
            let mut models = vec![self.fast_model.clone()];
            if !self.strong_model.is_empty() && self.strong_model != self.fast_model {
                models.push(self.strong_model.clone());
            }
            for model in models {
                match llm.submit_triage(&model, &prompt).await {
                    Ok(answer) => {
                        usage.push(answer.usage);
                        let mut triage = answer.triage;
                        let report = validate::validate_with(
                            &mut triage,
                            bundle,
                            knowledge,
                            &signals,
                            &hypotheses,
                        );
                        if let Some(why) = set_aside(&triage, &report) {
                            tracing::warn!(model = model.as_str(), why, "model answer set aside");
                            failures.push(format!("{model}: answer set aside ({why})"));
                            rejected.push(SetAside {
                                model: model.clone(),
                                why: why.into(),
                                dropped_ids: report.dropped_ids,
                            });
                            continue;
                        }
                        let confidence = triage.root_cause.confidence;
                        let clean =
                            report.dropped_ids.is_empty() && report.contradictions.is_empty();
                        let better = best
                            .as_ref()
                            .is_none_or(|(b, _, _)| confidence >= b.root_cause.confidence);
                        if better {
                            best = Some((triage, report, model.clone()));
                        }
                        let good_enough = self
                            .escalate_at_or_below
                            .is_none_or(|limit| confidence > limit)
                            && clean;
                        if good_enough {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, model = model.as_str(), "model analysis failed");
                        failures.push(format!("{model}: {error}"));
                    }
                }
            }
        } else {
            failures.push("no model is configured".into());
        }

        let created_at = Utc::now().timestamp_millis();
        match best {
            Some((triage, validation, model)) => Brief {
                triage: with_omitted_gap(triage, &prompt.omitted),
                analyst: model,
                signals,
                validation,
                fallback_reason: None,
                usage,
                prompt_tokens_estimate: prompt.estimated_tokens(),
                created_at,
                set_aside: rejected,
                hypotheses,
            },
            None => {
                let mut triage = fallback::analyse(alert, bundle, knowledge, &signals, &hypotheses);
                if self.llm.is_some() {
                    // A configured model that did not answer is a gap in the analysis, named
                    // where the reader looks for what is missing.
                    triage.data_gaps.push(schema::DataGap {
                        source: "model".into(),
                        reason: format!(
                            "model unavailable ({}); the rules analyst answered",
                            crate::redact::redact(&failures.join("; "))
                        ),
                        next_step: "check the model endpoint (llm.base_url), its key and its logs"
                            .into(),
                    });
                }
                let validation =
                    validate::validate_with(&mut triage, bundle, knowledge, &signals, &hypotheses);
                Brief {
                    triage,
                    analyst: "rules".into(),
                    signals,
                    validation,
                    fallback_reason: Some(failures.join("; ")),
                    usage,
                    prompt_tokens_estimate: prompt.estimated_tokens(),
                    created_at,
                    set_aside: rejected,
                    hypotheses,
                }
            }
        }
    }
}

/// Why a validated model answer must not replace the rules brief, if it must not: a brief
/// with no statement or entity, with nothing it cites surviving validation, or contradicted by
/// the signals is worse than the deterministic one.
fn set_aside(triage: &Triage, report: &ValidationReport) -> Option<&'static str> {
    let rc = &triage.root_cause;
    if rc.statement.trim().is_empty() || rc.entity.trim().is_empty() {
        Some("empty root cause statement or entity")
    } else if rc.evidence_ids.is_empty() && rc.knowledge_ids.is_empty() {
        Some("no citation of evidence or knowledge that exists")
    } else if !report.contradictions.is_empty() {
        Some("contradicted by the signals")
    } else {
        None
    }
}

/// What the model did not see is a gap in its answer: the evidence and knowledge cut from its
/// prompt to fit the budget are named as a `prompt` data gap.
fn with_omitted_gap(mut triage: Triage, omitted: &[String]) -> Triage {
    if omitted.is_empty() {
        return triage;
    }
    let shown: Vec<&str> = omitted.iter().take(5).map(String::as_str).collect();
    triage.data_gaps.push(schema::DataGap {
        source: "prompt".into(),
        reason: format!(
            "{} evidence or knowledge item(s) were left out of the model's prompt to fit its budget: {}{}",
            omitted.len(),
            shown.join(", "),
            if omitted.len() > shown.len() { ", …" } else { "" }
        ),
        next_step: "read them on the incident page, or raise llm.prompt_budget_tokens or llm.context_tokens".into(),
    });
    triage
}
