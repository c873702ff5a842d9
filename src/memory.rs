//! Incident memory: when an incident resolves, and again when someone gives feedback on its
//! brief, a record of it — what fired, the strongest evidence, the cause as people confirmed
//! or corrected it, how long it lasted — is written to `<data_dir>/memory/<id>.md` and indexed
//! as the `incidents` corpus. The next similar incident retrieves it like a post-mortem.
//!
//! A brief marked "Wrong" is remembered with the cause people wrote, never the wrong one; an
//! unconfirmed brief is remembered as unconfirmed and weighs less. Every string is redacted.
//! Records older than `memory.retain_days` are removed from the folder and so from the index
//! (checked at start and then at most daily).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::analysis::Brief;
use crate::config::Settings;
pub use crate::domain::memory::{CORPUS, Confirmation};
use crate::domain::{Category, IncidentDetail};
use crate::knowledge::KnowledgeIndex;
use crate::redact::redact;
use crate::store::Store;

/// One remembered incident, as written to its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub incident_id: String,
    pub title: String,
    pub dedup_key: String,
    pub services: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub minutes: Option<i64>,
    pub category: Category,
    pub entity: String,
    pub cause: String,
    pub confirmation: Confirmation,
    /// For a corrected brief, the cause it had stated (category, entity): the next incident
    /// with the same symptoms weighs against blaming it again.
    pub blamed: Option<(Category, String)>,
    pub resolution: String,
    /// Strongest evidence first: (kind, summary).
    pub symptoms: Vec<(String, String)>,
    pub link: Option<String>,
}

impl Record {
    /// The record for an incident: its brief's cause unless people corrected it. `None` when
    /// there is nothing to remember yet (no brief and no correction).
    pub fn from_incident(
        detail: &IncidentDetail,
        brief: Option<&Brief>,
        feedback: &[(String, String, Option<String>)],
        link: Option<String>,
    ) -> Option<Self> {
        let incident = &detail.incident;
        let correction = feedback
            .iter()
            .rev()
            .filter(|(_, verdict, _)| verdict == "wrong")
            .find_map(|(_, _, note)| note.as_deref().map(str::trim).filter(|n| !n.is_empty()));
        let all_correct = !feedback.is_empty() && feedback.iter().all(|f| f.1 == "correct");
        let (category, entity, cause, confirmation) = match (correction, brief) {
            (Some(note), brief) => {
                // The correction names what it really was; when it names one of the brief's
                // own hypotheses, that hypothesis's category and entity are known.
                let named = brief.and_then(|b| {
                    b.triage
                        .alternatives
                        .iter()
                        .map(|a| (a.category, a.entity.clone()))
                        .chain(b.hypotheses.iter().map(|h| (h.category, h.entity.clone())))
                        .find(|(_, entity)| {
                            let name = entity.rsplit('/').next().unwrap_or(entity);
                            name.len() >= 3 && note.to_lowercase().contains(&name.to_lowercase())
                        })
                });
                let (category, entity) = named.unwrap_or((Category::Unknown, String::new()));
                (category, entity, note.to_string(), Confirmation::Corrected)
            }
            (None, Some(brief)) => {
                let rc = &brief.triage.root_cause;
                (
                    rc.category,
                    rc.entity.clone(),
                    rc.statement.clone(),
                    if all_correct {
                        Confirmation::Confirmed
                    } else {
                        Confirmation::Unconfirmed
                    },
                )
            }
            (None, None) => return None,
        };
        // What the corrected brief had blamed, when it named a cause other than the real one.
        let blamed = brief
            .map(|b| &b.triage.root_cause)
            .filter(|_| confirmation == Confirmation::Corrected)
            .filter(|rc| rc.category != Category::Unknown && !rc.entity.is_empty())
            .filter(|rc| (rc.category, rc.entity.as_str()) != (category, entity.as_str()))
            .map(|rc| (rc.category, rc.entity.clone()));
        let resolution = match (confirmation, brief.and_then(|b| b.triage.actions.first())) {
            (Confirmation::Confirmed, Some(action)) => action.action.clone(),
            _ => String::new(),
        };
        let mut symptoms = vec![("alert".to_string(), incident.title.clone())];
        if let Some(bundle) = &detail.evidence {
            let mut items: Vec<_> = bundle.items.iter().filter(|i| i.anomaly > 0.0).collect();
            items.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));
            symptoms.extend(
                items
                    .iter()
                    .take(5)
                    .map(|i| (i.kind.clone(), i.summary.clone())),
            );
        }
        let mut services: Vec<String> = incident.service.iter().cloned().collect();
        if let Some(bundle) = &detail.evidence {
            services.extend(bundle.targets.service.iter().cloned());
            services.extend(bundle.targets.kube_workloads.iter().cloned());
            services.extend(bundle.targets.rds_instances.iter().cloned());
        }
        services.sort();
        services.dedup();
        Some(Self {
            incident_id: incident.id.clone(),
            title: incident.title.clone(),
            dedup_key: incident.dedup_key.clone(),
            services,
            opened_at: DateTime::from_timestamp_millis(incident.opened_at).unwrap_or_default(),
            minutes: incident
                .resolved_at
                .map(|r| ((r - incident.opened_at) / 60_000).max(0)),
            category,
            entity,
            cause,
            confirmation,
            blamed,
            resolution,
            symptoms,
            link,
        })
    }

    /// The record as Markdown with front matter (the post-mortem shape), redacted.
    pub fn to_markdown(&self) -> String {
        let front = json!({
            "id": self.incident_id,
            "title": self.title,
            "date": self.opened_at.format("%Y-%m-%d").to_string(),
            "opened_at": self.opened_at.to_rfc3339(),
            "services": self.services,
            "category": self.category.as_str(),
            "entity": self.entity,
            "root_cause": self.cause,
            "resolution": self.resolution,
            "confirmation": self.confirmation.as_str(),
            "blamed_category": self.blamed.as_ref().map(|(c, _)| c.as_str()),
            "blamed_entity": self.blamed.as_ref().map(|(_, e)| e),
            "dedup_key": self.dedup_key,
            "duration_minutes": self.minutes,
            "link": self.link,
        });
        let yaml = serde_yaml_ng::to_string(&front).unwrap_or_default();
        let mut body = format!("---\n{yaml}---\n# {}\n\n## Symptoms\n", self.title);
        for (kind, summary) in &self.symptoms {
            body.push_str(&format!("- {kind}: {summary}\n"));
        }
        body.push_str(&format!(
            "\n## Cause ({})\n{}\n",
            self.confirmation.as_str(),
            self.cause
        ));
        if let Some((category, entity)) = &self.blamed {
            body.push_str(&format!(
                "\nThe brief had blamed {} {entity}.\n",
                category.as_str()
            ));
        }
        if !self.resolution.is_empty() {
            body.push_str(&format!("\n## Resolution\n{}\n", self.resolution));
        }
        redact(&body).into_owned()
    }
}

/// Writes records and keeps the `incidents` corpus in step with the folder.
pub struct Memory {
    dir: PathBuf,
    index: Arc<KnowledgeIndex>,
    store: Arc<dyn Store>,
    retain_days: i64,
    public_url: String,
    last_prune: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Memory {
    /// The memory of `<data_dir>/memory`, pruned to `memory.retain_days` and indexed; `None`
    /// when `memory.enabled` is off.
    pub async fn open(
        settings: &Settings,
        index: Arc<KnowledgeIndex>,
        store: Arc<dyn Store>,
    ) -> Result<Option<Arc<Self>>, String> {
        if !settings.memory.enabled {
            return Ok(None);
        }
        let dir = settings.server.data_dir.join("memory");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("creating the memory folder {}: {e}", dir.display()))?;
        let memory = Arc::new(Self {
            dir,
            index,
            store,
            retain_days: settings.memory.retain_days,
            public_url: settings.slack.public_url.trim_end_matches('/').to_string(),
            last_prune: std::sync::Mutex::new(None),
        });
        // Knowledge is never a precondition: a server that is down now is indexed into on
        // the next write or sync.
        if let Err(error) = memory.reindex().await {
            tracing::error!(%error, "indexing the remembered incidents failed; retried on the next write");
        }
        Ok(Some(memory))
    }

    /// Remembers `incident_id` as it stands now (its latest brief and all feedback); a later
    /// call rewrites the record. Returns what was done, for the timeline.
    pub async fn remember(&self, incident_id: &str) -> Result<String, String> {
        let detail = self
            .store
            .incident(incident_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("incident {incident_id} not found"))?;
        let brief = detail
            .brief
            .clone()
            .and_then(|json| Brief::from_stored(incident_id, json).ok());
        let feedback = self
            .store
            .feedback(incident_id)
            .await
            .map_err(|e| e.to_string())?;
        let link = (!self.public_url.is_empty())
            .then(|| format!("{}/incidents/{incident_id}", self.public_url));
        let Some(record) = Record::from_incident(&detail, brief.as_ref(), &feedback, link) else {
            return Ok("nothing to remember yet (no brief)".into());
        };
        let file = self.dir.join(format!("{}.md", file_stem(incident_id)));
        std::fs::write(&file, record.to_markdown())
            .map_err(|e| format!("writing {}: {e}", file.display()))?;
        // Only this record is re-read, unless a due retention pass removed others.
        if self.prune_if_due() > 0 {
            self.index(self.dir.clone()).await?;
        } else {
            self.index(file).await?;
        }
        Ok(format!(
            "remembered with a {} cause",
            record.confirmation.as_str()
        ))
    }

    /// Drops records past retention, then brings the corpus in step with the folder.
    async fn reindex(&self) -> Result<(), String> {
        self.prune_if_due();
        self.index(self.dir.clone()).await
    }

    /// A retention pass reads every record; it runs at most once a day (and at open), not on
    /// every write. Returns how many records it removed.
    fn prune_if_due(&self) -> usize {
        let now = Utc::now();
        let mut last = self
            .last_prune
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| now.signed_duration_since(at) < chrono::Duration::days(1)) {
            return 0;
        }
        *last = Some(now);
        prune(&self.dir, self.retain_days, now)
    }

    /// Indexes a record or the whole folder (which also drops the chunks of removed records).
    async fn index(&self, path: PathBuf) -> Result<(), String> {
        let index = Arc::clone(&self.index);
        tokio::task::spawn_blocking(move || index.index_path(CORPUS, &path))
            .await
            .map_err(|e| format!("the memory indexing task failed: {e}"))?
            .map(|_| ())
            .map_err(|e| format!("indexing the memory: {e}"))
    }
}

/// An incident id as a file name: nothing that could leave the folder.
fn file_stem(incident_id: &str) -> String {
    incident_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Removes records whose incident opened more than `retain_days` before `now`.
fn prune(dir: &Path, retain_days: i64, now: DateTime<Utc>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let opened = std::fs::read_to_string(&path).ok().and_then(|text| {
            let front = text
                .strip_prefix("---\n")?
                .split_once("\n---")?
                .0
                .to_string();
            let meta: Value = serde_yaml_ng::from_str(&front).ok()?;
            DateTime::parse_from_rfc3339(meta["opened_at"].as_str()?).ok()
        });
        if opened.is_some_and(|t| now.signed_duration_since(t).num_days() > retain_days)
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the writer records a corrected brief had blamed is what the next incident reads
    /// back from the indexed record's front matter; other records blame nothing.
    #[test]
    fn a_corrected_record_carries_what_its_brief_blamed_through_the_index() {
        let record = |confirmation, blamed: Option<(Category, String)>| Record {
            incident_id: "0199a3c2-aaaa".into(),
            title: "[Triggered] matchmaker p99 latency above 2s".into(),
            dedup_key: "datadog:1:1-1".into(),
            services: vec!["matchmaker".into()],
            opened_at: Utc::now(),
            minutes: Some(41),
            category: Category::DependencyFailure,
            entity: "elasticache/redis-sessions".into(),
            cause: "redis-sessions stopped accepting connections".into(),
            confirmation,
            blamed,
            resolution: String::new(),
            symptoms: vec![("alert".into(), "matchmaker p99 latency above 2s".into())],
            link: None,
        };
        let recalled = |record: &Record| {
            let chunk = crate::knowledge::chunk::front_matter_document(
                CORPUS,
                Path::new("0199a3c2-aaaa.md"),
                &record.to_markdown(),
            )
            .remove(0);
            crate::domain::KnowledgeMatch {
                id: chunk.id,
                corpus: chunk.corpus,
                title: chunk.title,
                source: None,
                score: 0.9,
                updated_at: None,
                text: chunk.text,
                snippet: String::new(),
                meta: chunk.meta,
            }
        };
        let corrected = record(
            Confirmation::Corrected,
            Some((Category::ResourceSaturation, "rds/prod-match-db".into())),
        );
        assert!(
            corrected
                .to_markdown()
                .contains("The brief had blamed resource_saturation rds/prod-match-db.")
        );
        assert_eq!(
            crate::domain::memory::blamed(&recalled(&corrected)),
            Some(("resource_saturation", "rds/prod-match-db"))
        );
        let confirmed = record(Confirmation::Confirmed, None);
        assert_eq!(crate::domain::memory::blamed(&recalled(&confirmed)), None);
    }

    #[test]
    fn records_past_retention_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        for (name, age) in [("old", 400), ("recent", 10)] {
            let opened = (now - chrono::Duration::days(age)).to_rfc3339();
            std::fs::write(
                dir.path().join(format!("{name}.md")),
                format!("---\nid: {name}\nopened_at: '{opened}'\n---\n# x\n"),
            )
            .unwrap();
        }
        assert_eq!(prune(dir.path(), 365, now), 1);
        assert!(dir.path().join("recent.md").exists());
        assert!(!dir.path().join("old.md").exists());
        assert_eq!(file_stem("../../etc/passwd"), "etcpasswd");
    }
}
