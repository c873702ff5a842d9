//! `triaged eval --from-store DIR`: incidents someone gave feedback on become scenarios, so a
//! team's own history becomes its regression suite. A brief marked correct by everyone who
//! answered becomes the expected answer; anything else is exported with `needs_review = true`
//! (and the notes people left) until a person writes the right answer in.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::scenario::{Categories, Expected, OneOrMany, ScenarioFile};
use crate::analysis::Brief;
use crate::domain::Alert;
use crate::domain::Category;
use crate::store::Store;

/// Writes one scenario directory per incident with feedback; returns the directories.
pub async fn export(store: &dyn Store, out: &Path, limit: i64) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for incident_id in store.incidents_with_feedback(limit).await? {
        let alerts = store.alerts_for(&incident_id).await?;
        let Some(alert) = Alert::current(&alerts) else {
            continue;
        };
        let Some(bundle) = store.latest_evidence(&incident_id).await? else {
            continue;
        };
        let brief = store
            .latest_brief(&incident_id)
            .await?
            .and_then(|json| Brief::from_stored(&incident_id, json).ok());
        let knowledge = store.latest_knowledge(&incident_id).await?;
        let feedback = store.feedback(&incident_id).await?;
        let all_correct = !feedback.is_empty() && feedback.iter().all(|f| f.1 == "correct");
        let notes: Vec<String> = feedback
            .iter()
            .map(|(user, verdict, note)| match note {
                Some(note) => format!("{user}: {verdict} — {note}"),
                None => format!("{user}: {verdict}"),
            })
            .collect();
        let (category, entity, evidence, cited_knowledge) = match &brief {
            Some(brief) => {
                let rc = &brief.triage.root_cause;
                (
                    rc.category,
                    rc.entity.clone(),
                    rc.evidence_ids.clone(),
                    rc.knowledge_ids.clone(),
                )
            }
            None => (Category::Unknown, String::new(), Vec::new(), Vec::new()),
        };
        let file = ScenarioFile {
            description: format!(
                "{} (exported from incident {incident_id}; feedback: {})",
                alert.title,
                notes.join("; ")
            ),
            source: alert.source,
            alert: "alert.json".into(),
            needs_review: !all_correct || brief.is_none(),
            expected: Expected {
                category: Categories::One(category),
                entity: OneOrMany::One(entity),
                evidence,
                knowledge: cited_knowledge
                    .into_iter()
                    .filter(|id| knowledge.iter().any(|k| &k.id == id))
                    .collect(),
            },
        };
        let dir = out.join(&incident_id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("scenario.toml"), toml::to_string_pretty(&file)?)?;
        std::fs::write(dir.join("alert.json"), &alert.raw)?;
        std::fs::write(
            dir.join("evidence.json"),
            serde_json::to_vec_pretty(&bundle)?,
        )?;
        if let Some(brief) = &brief
            && brief.analyst != "rules"
        {
            // The model's answer, replayable deterministically with `--analyst canned`.
            let answer: Value = serde_json::to_value(&brief.triage)?;
            std::fs::write(
                dir.join("llm_response.json"),
                serde_json::to_vec_pretty(&answer)?,
            )?;
        }
        written.push(dir);
    }
    Ok(written)
}
