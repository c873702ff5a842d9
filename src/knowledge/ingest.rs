//! Indexing: files chunked by corpus, unchanged chunks skipped by content hash, chunks of
//! vanished sections and files removed, progress reported as it goes.

use super::*;

/// Chunks one file of `corpus`; `None` when the file is not of a kind the corpus holds.
fn chunk_file(corpus: &str, root: &Path, file: &Path) -> Option<Result<Vec<Chunk>, String>> {
    let extension = file.extension()?.to_str()?.to_ascii_lowercase();
    let relative = file
        .strip_prefix(root)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .unwrap_or(file)
        .display()
        .to_string();
    let kind_ok = match corpus {
        "postmortems" | "incidents" => matches!(extension.as_str(), "md" | "markdown"),
        "terraform" => extension == "tf",
        "code" => code::Lang::from_path(file).is_some(),
        "schema" => matches!(extension.as_str(), "yaml" | "yml" | "json" | "toml"),
        _ => matches!(extension.as_str(), "md" | "markdown" | "html" | "htm"),
    };
    if !kind_ok {
        return None;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return Some(Err(e.to_string())),
    };
    Some(match (corpus, extension.as_str()) {
        ("postmortems", _) => Ok(chunk::postmortem(file, &text)),
        ("incidents", _) => Ok(chunk::front_matter_document(corpus, file, &text)),
        ("terraform", _) => terraform::chunks(file, &relative, &text),
        ("code", _) => code::chunks(file, &relative, &text),
        ("schema", _) => schema::chunks(file, &text),
        (_, "html" | "htm") => Ok(chunk::html(corpus, file, &text)),
        _ => Ok(chunk::markdown(corpus, file, &text, Value::Null)),
    })
}

impl KnowledgeIndex {
    /// Indexes every file of `corpus`'s kind under `path` (Markdown and HTML runbooks,
    /// Markdown post-mortems, `.tf` files, source code, metric catalogues), skipping unchanged
    /// chunks and dropping chunks of re-read files that no longer exist.
    pub fn index_path(&self, corpus: &str, path: &Path) -> Result<IndexReport, KnowledgeError> {
        self.index_path_with(corpus, path, &mut |_| {})
    }

    /// [`index_path`](Self::index_path), reporting progress as it goes.
    pub fn index_path_with(
        &self,
        corpus: &str,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexReport, KnowledgeError> {
        if !CORPORA.contains(&corpus) {
            return Err(KnowledgeError(format!(
                "unknown corpus `{corpus}` (expected one of {})",
                CORPORA.join(", ")
            )));
        }
        let mut report = IndexReport::default();
        let mut files = Vec::new();
        collect_files(path, &mut files);
        let root = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let mut chunks = Vec::new();
        let mut sources = Vec::new();
        let total = files.len();
        for (done, file) in files.iter().enumerate() {
            progress(Progress::Chunking { done, total });
            match chunk_file(corpus, root, file) {
                None => {}
                Some(Ok(file_chunks)) => {
                    report.files += 1;
                    sources.push(file.display().to_string());
                    chunks.extend(file_chunks);
                }
                Some(Err(error)) => {
                    tracing::warn!(file = %file.display(), %error, "could not index a file");
                    report.failed.push(format!("{}: {error}", file.display()));
                }
            }
        }
        progress(Progress::Chunking { done: total, total });
        report.chunks = chunks.len();
        self.connect()?;
        let mut manifest = self
            .manifest
            .lock()
            .map_err(|_| KnowledgeError("manifest lock poisoned".into()))?;
        let fresh: Vec<&Chunk> = chunks
            .iter()
            .filter(|c| manifest.get(&c.id).is_none_or(|e| e.hash != c.hash))
            .collect();
        report.unchanged = chunks.len() - fresh.len();
        let read_sources: HashSet<&str> = sources.iter().map(String::as_str).collect();
        let current: HashSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        // A file under the indexed path that is gone takes its chunks with it (one stat per
        // file, not per chunk).
        let gone: std::collections::BTreeSet<String> = manifest
            .values()
            .map(|e| e.source.as_str())
            .collect::<std::collections::BTreeSet<&str>>()
            .into_iter()
            .filter(|source| Path::new(source).starts_with(path) && !Path::new(source).exists())
            .map(str::to_string)
            .collect();
        // (chunk id, point, whether its whole file is gone)
        let stale: Vec<(String, u64, bool)> = manifest
            .iter()
            .filter_map(|(id, e)| {
                let file_gone = gone.contains(&e.source);
                let section_gone =
                    read_sources.contains(e.source.as_str()) && !current.contains(id.as_str());
                (file_gone || section_gone).then(|| (id.clone(), e.point, file_gone))
            })
            .collect();
        let mut next_point = manifest.values().map(|e| e.point + 1).max().unwrap_or(1);
        let assigned: Vec<u64> = fresh
            .iter()
            .map(|c| match manifest.get(&c.id) {
                Some(entry) => entry.point,
                None => {
                    next_point += 1;
                    next_point - 1
                }
            })
            .collect();
        // Freshness is the document's own: its file's modification time (indexing time when
        // the file system cannot say), so the brief can flag a runbook nobody touched in years.
        let now = Utc::now();
        let mut modified: BTreeMap<&str, String> = BTreeMap::new();
        for c in &fresh {
            modified.entry(c.source.as_str()).or_insert_with(|| {
                std::fs::metadata(&c.source)
                    .and_then(|m| m.modified())
                    .map(DateTime::<Utc>::from)
                    .unwrap_or(now)
                    .to_rfc3339()
            });
        }
        // Dense vectors first: if the endpoint fails, nothing is written and the next run
        // tries again.
        let mut dense = match &self.embedder {
            Some(embedder) => {
                let texts: Vec<String> = fresh
                    .iter()
                    .map(|c| format!("{}\n{}", c.title, c.text))
                    .collect();
                embedder
                    .embed_documents(&texts)?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            None => vec![None; fresh.len()],
        };
        let points: Vec<server::IndexPoint> = fresh
            .iter()
            .zip(&assigned)
            .zip(dense.iter_mut())
            .map(|((c, point), dense)| {
                let sparse = self
                    .bm25
                    .embed_document(&format!("{}\n{}", c.title, c.text));
                server::IndexPoint {
                    id: *point,
                    chunk_id: c.id.clone(),
                    sparse_indices: sparse.indices,
                    sparse_values: sparse.values,
                    dense: dense.take(),
                    payload: json!({
                        "chunk_id": c.id, "corpus": c.corpus, "title": c.title, "source": c.source,
                        "section": c.section, "line": c.line, "text": c.text, "meta": c.meta,
                        "hash": c.hash, "updated_at": modified.get(c.source.as_str()),
                    }),
                }
            })
            .collect();
        // Moderate batches keep each write-ahead-log record (and gRPC message) small.
        // Qdrant's appendable segment keeps sorted in-memory posting lists whose inserts get
        // slower as it grows, so large embedded loads are optimized every few thousand points.
        let mut points = points;
        let mut since_optimize = 0;
        let writing = points.len();
        while !points.is_empty() {
            progress(Progress::Writing {
                done: writing - points.len(),
                total: writing,
            });
            let batch: Vec<_> = points.drain(..points.len().min(512)).collect();
            since_optimize += batch.len();
            self.backend.upsert(batch)?;
            if since_optimize >= 8192 {
                self.backend.optimize()?;
                since_optimize = 0;
            }
        }
        if !stale.is_empty() {
            // Files that are gone go by filter on their source; sections gone from files
            // that remain go by id.
            let all: Vec<u64> = stale.iter().map(|(_, point, _)| *point).collect();
            let sections: Vec<String> = stale
                .iter()
                .filter(|(_, _, file_gone)| !file_gone)
                .map(|(id, _, _)| id.clone())
                .collect();
            self.backend.delete(&all, &sections, &gone)?;
        }
        report.indexed = fresh.len();
        report.removed = stale.len();
        for (c, point) in fresh.iter().zip(&assigned) {
            manifest.insert(
                c.id.clone(),
                Entry {
                    hash: c.hash.clone(),
                    source: c.source.clone(),
                    point: *point,
                },
            );
        }
        for (id, _, _) in &stale {
            manifest.remove(id);
        }
        self.backend.flush();
        if let Ok(mut noise) = self.noise.lock() {
            // What a meaningless query matches depends on what is indexed.
            *noise = None;
        }
        std::fs::write(
            self.dir.join(MANIFEST),
            serde_json::to_vec(&*manifest).map_err(err)?,
        )
        .map_err(err)?;
        Ok(report)
    }

    /// Indexes a directory laid out by corpus (`<root>/runbooks`, `<root>/postmortems`, …):
    /// each subdirectory named after a corpus goes to that corpus.
    pub fn index_corpora(&self, root: &Path) -> Result<IndexReport, KnowledgeError> {
        let mut total = IndexReport::default();
        for corpus in CORPORA {
            let dir = root.join(corpus);
            if dir.is_dir() {
                total.add(self.index_path(corpus, &dir)?);
            }
        }
        Ok(total)
    }
}

/// Every file under `path` (or `path` itself), in a stable order.
pub(crate) fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
    } else if let Ok(entries) = std::fs::read_dir(path) {
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for entry in entries {
            collect_files(&entry, out);
        }
    }
}
