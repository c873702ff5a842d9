//! Knowledge retrieved for an incident: runbook sections, post-mortems, Terraform resources,
//! code. Each match has an id the brief can cite.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeMatch {
    /// Stable id, e.g. `runbook.postgres-cpu#high-cpu` or `postmortem.INC-2024-047`.
    pub id: String,
    /// `runbooks`, `postmortems`, `terraform`, `code` or `schema`.
    pub corpus: String,
    pub title: String,
    /// File path or URL.
    pub source: Option<String>,
    /// Retrieval score, higher is closer (0–1 after normalisation).
    pub score: f64,
    pub updated_at: Option<DateTime<Utc>>,
    pub text: String,
    /// The lines of `text` that match the query best (a few hundred characters), for briefs
    /// and pages that cannot show the whole chunk.
    #[serde(default)]
    pub snippet: String,
    /// Corpus-specific fields: a post-mortem's `root_cause`, `resolution`, `services`.
    pub meta: serde_json::Value,
}

impl KnowledgeMatch {
    /// Where a reader opens it: a remembered incident's page (its record's `link`), else the
    /// source when it is a URL.
    pub fn url(&self) -> Option<&str> {
        let web = |s: &&str| s.starts_with("https://") || s.starts_with("http://");
        self.meta["link"]
            .as_str()
            .filter(web)
            .or_else(|| self.source.as_deref().filter(web))
    }

    /// The incident a remembered-incident match is about.
    pub fn remembered_incident(&self) -> Option<&str> {
        (self.corpus == super::memory::CORPUS)
            .then(|| self.meta["id"].as_str())
            .flatten()
    }
}
