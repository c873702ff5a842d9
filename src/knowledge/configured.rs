//! The index as the settings describe it: where it lives (embedded in `<data_dir>/index`, or a
//! Qdrant server), whether it is hybrid, and which paths feed each corpus.

use secrecy::ExposeSecret;

use super::{Embedder, IndexReport, KnowledgeError, KnowledgeIndex, Progress, ServerTarget};
use crate::config::{KnowledgeSettings, Secrets, Settings};

impl KnowledgeIndex {
    /// Opens the configured index and, when `index_on_start` is set, brings it up to date
    /// with the configured paths (unchanged chunks are skipped; a failure is logged, never
    /// fatal).
    pub fn open_configured(settings: &Settings, secrets: &Secrets) -> Result<Self, KnowledgeError> {
        let embedder = Embedder::from_settings(
            &settings.knowledge.embeddings,
            secrets.embeddings_api_key.clone(),
        );
        let server = (!settings.knowledge.qdrant_url.is_empty()).then(|| ServerTarget {
            url: settings.knowledge.qdrant_url.clone(),
            api_key: secrets
                .qdrant_api_key
                .as_ref()
                .map(|k| k.expose_secret().to_string()),
            collection: settings.knowledge.qdrant_collection.clone(),
        });
        let index = Self::open_on(&settings.server.data_dir.join("index"), embedder, server)
            .map_err(|e| KnowledgeError(format!("opening the knowledge index: {}", e.0)))?;
        // A failed start-up indexing (the server down, the embeddings endpoint down) leaves
        // the index serving what it holds; `POST /knowledge/sync` or the next start retries.
        if settings.knowledge.index_on_start
            && let Err(error) = index.index_configured(&settings.knowledge, &mut |_, _| {})
        {
            tracing::error!(%error, "indexing the knowledge on start failed; serving what the index holds");
        }
        Ok(index)
    }

    /// Brings the index up to date with every configured path (unchanged chunks are skipped,
    /// chunks of vanished sections and files removed). `progress` hears the corpus and where
    /// the run is.
    pub fn index_configured(
        &self,
        knowledge: &KnowledgeSettings,
        progress: &mut dyn FnMut(&str, Progress),
    ) -> Result<IndexReport, KnowledgeError> {
        let mut total = IndexReport::default();
        for (corpus, paths) in knowledge.corpora() {
            for path in paths {
                let report = self
                    .index_path_with(corpus, path, &mut |p| progress(corpus, p))
                    .map_err(|e| KnowledgeError(format!("indexing {}: {}", path.display(), e.0)))?;
                tracing::info!(corpus, path = %path.display(), files = report.files, indexed = report.indexed, unchanged = report.unchanged, removed = report.removed, failed = report.failed.len(), "knowledge indexed");
                total.add(report);
            }
        }
        Ok(total)
    }
}
