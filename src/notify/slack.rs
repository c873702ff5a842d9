//! The brief as Slack Block Kit: one message an engineer can act on at 2 AM. Every string
//! that came from an alert or a model is escaped (`& < >`), so `<!channel>`, `<@U…>` and forged
//! links stay inert; every block stays within Slack's limits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::card::{Card, Collection, SourceLine};
use crate::analysis::Brief;
use crate::domain::Severity;
use crate::domain::{EvidenceBundle, Incident, KnowledgeMatch, SourceStatus};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_CHARS: usize = 3000;
pub const MAX_HEADER_CHARS: usize = 150;
const MORE: &str = "… full brief on the incident page";

/// A message ready for `chat.postMessage` / `chat.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackMessage {
    /// The notification and accessibility fallback.
    pub text: String,
    pub blocks: Vec<Value>,
}

/// Feedback given on a brief.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub correct: u32,
    pub partly: u32,
    pub wrong: u32,
}

/// Everything a brief message shows.
pub struct BriefView<'a> {
    pub incident: &'a Incident,
    pub brief: &'a Brief,
    pub bundle: Option<&'a EvidenceBundle>,
    pub knowledge: &'a [KnowledgeMatch],
    /// Set once the incident resolved: how long it lasted.
    pub resolved_after: Option<chrono::Duration>,
    pub tally: Tally,
    pub incident_url: Option<String>,
    /// Stage name and milliseconds, in order.
    pub stage_ms: Vec<(String, i64)>,
    pub now: DateTime<Utc>,
}

/// Escapes the three characters Slack treats as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(MORE.chars().count());
    format!("{}{MORE}", text.chars().take(keep).collect::<String>())
}

/// `text` cut to `max` characters, the last one an ellipsis when anything was cut.
pub(super) fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    format!(
        "{}…",
        text.chars().take(max.saturating_sub(1)).collect::<String>()
    )
}

fn header(text: &str) -> Value {
    let text = ellipsis(text, MAX_HEADER_CHARS);
    json!({"type": "header", "text": {"type": "plain_text", "text": text, "emoji": true}})
}

fn section(markdown: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(markdown, MAX_SECTION_CHARS)}})
}

fn context(markdown: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(markdown, MAX_SECTION_CHARS)}]})
}

fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::SEV1 => "🔴",
        Severity::SEV2 => "🟠",
        Severity::SEV3 => "🟡",
        Severity::SEV4 => "🔵",
    }
}

fn minutes(duration: chrono::Duration) -> String {
    let total = duration.num_minutes().max(0);
    if total >= 60 {
        format!("{} h {} min", total / 60, total % 60)
    } else {
        format!("{total} min")
    }
}

fn ids(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{}`", escape(id)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn live_state(bundle: Option<&EvidenceBundle>) -> String {
    let mut out = String::from("*LIVE STATE*\n");
    match bundle {
        None => out.push_str("• evidence not collected yet\n"),
        Some(bundle) => {
            for report in &bundle.reports {
                out.push_str(&format!("• {}\n", escape(&report.describe())));
            }
        }
    }
    out
}

fn feedback_buttons(incident_id: &str, url: Option<&str>) -> Value {
    let button = |text: &str, action: &str, style: Option<&str>| {
        let mut b = json!({"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action, "value": incident_id});
        if let Some(style) = style {
            b["style"] = json!(style);
        }
        b
    };
    let mut elements = vec![
        button("✓ Correct", "feedback_correct", Some("primary")),
        button("~ Partly", "feedback_partly", None),
        button("✗ Wrong", "feedback_wrong", Some("danger")),
    ];
    if let Some(url) = url {
        elements.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Incident page"}, "url": url, "action_id": "open_incident"}));
    }
    json!({"type": "actions", "block_id": "feedback", "elements": elements})
}

/// The analysed brief.
pub fn render_brief(view: &BriefView<'_>) -> SlackMessage {
    let brief = view.brief;
    let triage = &brief.triage;
    let rc = &triage.root_cause;
    let incident = view.incident;
    let opened = DateTime::from_timestamp_millis(incident.opened_at).unwrap_or(view.now);
    let (emoji, state) = match view.resolved_after {
        Some(duration) => ("✅", format!("RESOLVED after {}", minutes(duration))),
        None => (
            severity_emoji(triage.severity),
            format!("for {}", minutes(view.now - opened)),
        ),
    };
    let mut blocks = vec![
        header(&format!(
            "{emoji} {}: {}",
            escape(&rc.entity),
            escape(&incident.title)
        )),
        context(&format!(
            "*{:?}* · triggered {} · {state} · {} alert(s){}",
            triage.severity,
            opened.format("%H:%M UTC"),
            incident.alert_count,
            incident
                .service
                .as_deref()
                .map_or(String::new(), |s| format!(" · service {}", escape(s)))
        )),
        section(&format!("*SUMMARY*\n{}", escape(&triage.summary))),
        section(&live_state(view.bundle)),
    ];
    let mut root = format!(
        "*ROOT CAUSE* — {} ({:.2}) · `{}`\n{}",
        rc.confidence.as_str(),
        rc.score,
        rc.category.as_str(),
        escape(&rc.statement)
    );
    let cited: Vec<String> = rc
        .evidence_ids
        .iter()
        .chain(&rc.knowledge_ids)
        .cloned()
        .collect();
    root.push_str(&format!(
        "\n_cites:_ {}",
        if cited.is_empty() {
            "nothing".into()
        } else {
            ids(&cited)
        }
    ));
    if let Some(reason) = &brief.validation.capped {
        root.push_str(&format!("\n_confidence lowered: {}_", escape(reason)));
    }
    blocks.push(section(&root));

    let mut kb = String::from("*KNOWLEDGE BASE MATCH*\n");
    let cited_knowledge: Vec<&KnowledgeMatch> = view
        .knowledge
        .iter()
        .filter(|k| cited.contains(&k.id))
        .collect();
    let shown: Vec<&KnowledgeMatch> = if cited_knowledge.is_empty() {
        view.knowledge.iter().take(3).collect()
    } else {
        cited_knowledge
    };
    if shown.is_empty() {
        kb.push_str("No runbook, post-mortem, Terraform resource or code matched.");
    }
    for k in shown {
        let stale = k
            .updated_at
            .filter(|u| (view.now - *u).num_days() > 180)
            .map_or(String::new(), |u| {
                format!(" ⚠️ stale ({} days)", (view.now - u).num_days())
            });
        let title = match k.url() {
            Some(url) => format!("<{}|{}>", escape(url), escape(&k.title)),
            None => escape(&k.title),
        };
        kb.push_str(&format!(
            "• {} {title} — score {:.2}{stale}\n",
            escape(&k.corpus),
            k.score
        ));
    }
    blocks.push(section(&kb));

    let mut actions = String::from("*RECOMMENDED ACTIONS*\n");
    for (n, action) in triage.actions.iter().enumerate() {
        actions.push_str(&format!(
            "{}. {} _(risk {:?})_\n",
            n + 1,
            escape(&action.action),
            action.risk
        ));
        if let Some(command) = &action.command {
            actions.push_str(&format!("```{}```\n", escape(command)));
        }
    }
    blocks.push(section(&actions));

    if !triage.confidence_breakdown.is_empty() {
        let mut checks = String::from("*CONFIDENCE BREAKDOWN*\n");
        for check in &triage.confidence_breakdown {
            checks.push_str(&format!(
                "{} {}\n",
                if check.holds { "✓" } else { "✗" },
                escape(&check.check)
            ));
        }
        blocks.push(section(&checks));
    }
    if !triage.alternatives.is_empty() {
        let mut alternatives = String::from("*ALTERNATIVES*\n");
        for a in &triage.alternatives {
            alternatives.push_str(&format!(
                "• {} (`{}`) — {}\n",
                escape(&a.statement),
                a.category.as_str(),
                escape(&a.why_less_likely)
            ));
        }
        blocks.push(section(&alternatives));
    }
    if !brief.hypotheses.is_empty() {
        let mut table = String::from("*HYPOTHESES TESTED*\n");
        for h in brief.hypotheses.iter().take(4) {
            let against: Vec<&str> = h.against().map(|c| c.reason.as_str()).collect();
            let kinds: Vec<&str> = h
                .checks
                .iter()
                .filter(|c| c.supports)
                .map(|c| c.kind.as_str())
                .collect();
            table.push_str(&format!(
                "`{:.2}` {} `{}`{}{}\n",
                h.score,
                escape(&h.entity),
                h.category.as_str(),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(" — ✓ {}", kinds.join(", "))
                },
                if against.is_empty() {
                    String::new()
                } else {
                    format!(" — ✗ {}", escape(&against.join("; ")))
                }
            ));
        }
        blocks.push(section(&table));
    }
    if !triage.data_gaps.is_empty() {
        let mut gaps = String::from("*DATA GAPS*\n");
        for g in &triage.data_gaps {
            gaps.push_str(&format!(
                "• {}: {} — {}\n",
                escape(&g.source),
                escape(&g.reason),
                escape(&g.next_step)
            ));
        }
        blocks.push(section(&gaps));
    }
    blocks.push(feedback_buttons(&incident.id, view.incident_url.as_deref()));
    let timings: Vec<String> = view
        .stage_ms
        .iter()
        .map(|(stage, ms)| format!("{stage} {ms} ms"))
        .collect();
    let mut footer = format!("analyst: {}", escape(&brief.analyst));
    if brief.analyst == "rules" {
        match &brief.fallback_reason {
            // Why the model did not answer is part of reading the brief.
            Some(reason) => footer.push_str(&format!(
                " (deterministic rules: {})",
                escape(&reason.chars().take(300).collect::<String>())
            )),
            None => footer.push_str(" (deterministic rules)"),
        }
    }
    if !timings.is_empty() {
        footer.push_str(&format!(" · {}", timings.join(" · ")));
    }
    footer.push_str(&format!(
        " · feedback ✓ {} · ~ {} · ✗ {}",
        view.tally.correct, view.tally.partly, view.tally.wrong
    ));
    if let Some(url) = &view.incident_url {
        footer.push_str(&format!(" · <{}|incident page>", escape(url)));
    }
    blocks.push(context(&footer));
    blocks.truncate(MAX_BLOCKS);

    let prefix = if view.resolved_after.is_some() {
        "RESOLVED".to_string()
    } else {
        format!("{:?}", triage.severity)
    };
    SlackMessage {
        text: cut(
            &format!("{prefix} {}: {}", escape(&rc.entity), escape(&rc.statement)),
            MAX_SECTION_CHARS,
        ),
        blocks,
    }
}

/// The progressive card: what fired and who owns it, the matching runbook and past incident,
/// one line per source (collecting, or what it found), then the first deterministic findings
/// while the analysis runs.
pub fn render_card(card: &Card) -> SlackMessage {
    let head = &card.head;
    let mut about = Vec::new();
    if let Some(priority) = &head.priority {
        about.push(format!("*{}*", escape(priority)));
    }
    for (label, value) in [
        ("service", &head.service),
        ("team", &head.team),
        ("escalation", &head.escalation),
    ] {
        if let Some(value) = value {
            about.push(format!("{label} `{}`", escape(value)));
        }
    }
    if about.is_empty() {
        about.push("no catalog entry for this alert".into());
    }
    let mut knowledge = String::new();
    let reference = |k: &KnowledgeMatch| match (k.url(), k.source.as_deref()) {
        (Some(url), _) => format!("<{}|{}>", escape(url), escape(&k.title)),
        (None, Some(path)) => format!("{} (`{}`)", escape(&k.title), escape(path)),
        (None, None) => escape(&k.title),
    };
    if let Some(runbook) = &head.runbook {
        knowledge.push_str(&format!("*Runbook:* {}\n", reference(runbook)));
    }
    if let Some(past) = &head.past_incident {
        let cause = past.meta["root_cause"].as_str().map_or(String::new(), |c| {
            format!(" — root cause then: {}", escape(c))
        });
        knowledge.push_str(&format!("*Past incident:* {}{cause}\n", reference(past)));
    }
    let mut sources = String::from("*LIVE STATE*\n");
    for (name, line) in &card.sources {
        let name = escape(name);
        sources.push_str(&match line {
            SourceLine::Collecting => format!("⏳ *{name}* — collecting…\n"),
            SourceLine::Reported { report, top } => {
                let mark = match report.status {
                    SourceStatus::Ok => "✅",
                    SourceStatus::Timeout => "⌛",
                    SourceStatus::Error => "❌",
                    SourceStatus::NotConfigured => "➖",
                };
                let top = top.as_deref().map_or(String::new(), |t| {
                    format!(" · most anomalous: {}", escape(t))
                });
                format!("{mark} *{name}* — {}{top}\n", escape(&report.reason()))
            }
        });
    }
    let findings = match &card.collection {
        Collection::Running => "*FIRST LOOK* — collecting evidence; analysis follows.".to_string(),
        Collection::Interrupted => {
            "*FIRST LOOK* — collection was interrupted and is being retried.".to_string()
        }
        Collection::Done(signals) => {
            let mut out = String::from("*FIRST LOOK* (analysis running)\n");
            if signals.is_empty() {
                out.push_str("No deterministic finding yet.\n");
            }
            for signal in signals.iter().take(5) {
                out.push_str(&format!(
                    "• {} — {}\n",
                    escape(&signal.statement),
                    ids(&signal.evidence_ids)
                ));
            }
            out
        }
    };
    let mut blocks = vec![
        header(&format!("⏳ {}", escape(&head.title))),
        section(&about.join(" · ")),
    ];
    if !knowledge.is_empty() {
        blocks.push(section(&knowledge));
    }
    blocks.push(section(&sources));
    blocks.push(section(&findings));
    blocks.push(feedback_buttons(
        &head.incident_id,
        head.incident_url.as_deref(),
    ));
    SlackMessage {
        text: cut(
            &format!("Investigating: {}", escape(&head.title)),
            MAX_SECTION_CHARS,
        ),
        blocks,
    }
}

/// A thread reply.
pub fn render_reply(text: &str) -> SlackMessage {
    SlackMessage {
        text: cut(&escape(text), MAX_SECTION_CHARS),
        blocks: vec![section(&escape(text))],
    }
}

/// What changed between two briefs, for the re-trigger thread reply.
pub fn changes(previous: Option<&Brief>, current: &Brief, alert_count: i64) -> String {
    let mut out = vec![format!("Re-triggered ({alert_count} alerts so far).")];
    match previous {
        Some(previous) => {
            let (a, b) = (&previous.triage.root_cause, &current.triage.root_cause);
            if a.category != b.category || a.entity != b.entity {
                out.push(format!(
                    "Root cause changed: {} {} → {} {}.",
                    a.category.as_str(),
                    a.entity,
                    b.category.as_str(),
                    b.entity
                ));
            } else if a.confidence != b.confidence {
                out.push(format!(
                    "Same root cause; confidence {} → {}.",
                    a.confidence.as_str(),
                    b.confidence.as_str()
                ));
            } else {
                out.push("Same root cause and confidence.".into());
            }
            let new_ids: Vec<&String> = b
                .evidence_ids
                .iter()
                .filter(|id| !a.evidence_ids.contains(id))
                .collect();
            if !new_ids.is_empty() {
                out.push(format!(
                    "New evidence: {}.",
                    new_ids
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        None => out.push(format!(
            "Root cause: {} {}.",
            current.triage.root_cause.category.as_str(),
            current.triage.root_cause.entity
        )),
    }
    out.join(" ")
}
