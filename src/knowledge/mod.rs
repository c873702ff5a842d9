//! The knowledge index: runbooks and post-mortems chunked by section and searched with BM25
//! sparse vectors computed by Qdrant's own BM25, in an embedded Qdrant Edge shard under
//! `<data_dir>/index`. Unchanged chunks are skipped by content hash.

pub mod chunk;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{
    EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, Modifier, NamedQuery,
    PointInsertOperations, PointOperations, PointStruct, QueryEnum, SearchRequest, UpdateOperation,
    Vector, Vectors, WithPayloadInterface,
};
use serde_json::{Value, json};

use self::chunk::Chunk;
use crate::domain::KnowledgeMatch;

const SPARSE: &str = "bm25";

/// The corpora a chunk can belong to.
pub const CORPORA: [&str; 5] = ["runbooks", "postmortems", "terraform", "code", "schema"];
const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
#[error("knowledge index: {0}")]
pub struct KnowledgeError(pub String);

fn err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError(e.to_string())
}

/// What an indexing run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexReport {
    pub files: usize,
    pub chunks: usize,
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
}

pub struct KnowledgeIndex {
    dir: PathBuf,
    shard: EdgeShard,
    bm25: EdgeBm25,
    /// chunk id → what was indexed, for incremental re-indexing.
    manifest: Mutex<BTreeMap<String, Entry>>,
}

/// One indexed chunk in the manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    hash: String,
    source: String,
    /// Point ids grow with every new chunk: Qdrant's in-memory sparse posting lists are kept
    /// sorted by id, so appending in id order keeps each insert cheap (random ids made a
    /// 100k-chunk build quadratic).
    point: u64,
}

impl KnowledgeIndex {
    /// Opens the index in `dir`, creating it on first use.
    pub fn open(dir: &Path) -> Result<Self, KnowledgeError> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let config = EdgeConfigBuilder::new()
            .sparse_vector(
                SPARSE,
                EdgeSparseVectorParamsBuilder::new()
                    .modifier(Modifier::Idf)
                    .build(),
            )
            .build();
        let shard = if dir.join("segments").exists() {
            EdgeShard::load(dir, Some(config)).map_err(err)?
        } else {
            EdgeShard::new(dir, config).map_err(err)?
        };
        let bm25 = EdgeBm25::new(serde_json::from_value::<EdgeBm25Config>(json!({})).map_err(err)?)
            .map_err(err)?;
        let manifest = std::fs::read_to_string(dir.join(MANIFEST))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(Self {
            dir: dir.to_path_buf(),
            shard,
            bm25,
            manifest: Mutex::new(manifest),
        })
    }

    /// Indexes every Markdown file under `path` into `corpus` (`runbooks` or
    /// `postmortems`), skipping unchanged chunks and dropping chunks of re-read files that
    /// no longer exist.
    pub fn index_path(&self, corpus: &str, path: &Path) -> Result<IndexReport, KnowledgeError> {
        let mut report = IndexReport::default();
        let mut files = Vec::new();
        collect_files(path, &mut files);
        let mut chunks = Vec::new();
        let mut sources = Vec::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "md" || e == "markdown"))
        {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            report.files += 1;
            sources.push(file.display().to_string());
            chunks.extend(match corpus {
                "postmortems" => chunk::postmortem(file, &text),
                _ => chunk::markdown(corpus, file, &text, Value::Null),
            });
        }
        report.chunks = chunks.len();
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
        let stale: Vec<(String, u64)> = manifest
            .iter()
            .filter(|(id, e)| {
                read_sources.contains(e.source.as_str()) && !current.contains(id.as_str())
            })
            .map(|(id, e)| (id.clone(), e.point))
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
        let now = Utc::now().to_rfc3339();
        let points: Vec<_> = fresh
            .iter()
            .zip(&assigned)
            .map(|(c, point)| {
                let sparse = self
                    .bm25
                    .embed_document(&format!("{}\n{}", c.title, c.text));
                let vectors = Vectors::new_named([(SPARSE, Vector::from(sparse))]);
                PointStruct::new(
                    *point,
                    vectors,
                    json!({
                        "chunk_id": c.id, "corpus": c.corpus, "title": c.title, "source": c.source,
                        "section": c.section, "line": c.line, "text": c.text, "meta": c.meta,
                        "hash": c.hash, "updated_at": now,
                    }),
                )
                .into()
            })
            .collect();
        // Moderate batches keep each write-ahead-log record small. Qdrant's appendable
        // segment keeps sorted in-memory posting lists whose inserts get slower as it grows,
        // so large loads are optimized into indexed segments every few thousand points.
        let mut points = points;
        let mut since_optimize = 0;
        while !points.is_empty() {
            let batch: Vec<_> = points.drain(..points.len().min(512)).collect();
            since_optimize += batch.len();
            self.shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(batch)),
                ))
                .map_err(err)?;
            if since_optimize >= 8192 {
                self.shard.optimize().map_err(err)?;
                since_optimize = 0;
            }
        }
        if !stale.is_empty() {
            let ids = stale.iter().map(|(_, point)| (*point).into()).collect();
            self.shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints { ids },
                ))
                .map_err(err)?;
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
        for (id, _) in &stale {
            manifest.remove(id);
        }
        self.shard.flush();
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
                let report = self.index_path(corpus, &dir)?;
                total.files += report.files;
                total.chunks += report.chunks;
                total.indexed += report.indexed;
                total.unchanged += report.unchanged;
                total.removed += report.removed;
            }
        }
        Ok(total)
    }

    /// Number of chunks indexed.
    pub fn len(&self) -> usize {
        self.manifest.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// BM25 search; `per_corpus` best matches from each corpus, merged by score.
    pub fn search(
        &self,
        query: &str,
        per_corpus: usize,
    ) -> Result<Vec<KnowledgeMatch>, KnowledgeError> {
        let sparse = self.bm25.embed_query(query);
        if sparse.indices.is_empty() {
            return Ok(Vec::new());
        }
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: Vector::from(sparse).0,
                using: Some(SPARSE.into()),
            }),
            filter: None,
            params: None,
            limit: per_corpus.max(1) * 8,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        };
        let points = self.shard.search(request).map_err(err)?;
        let mut taken: BTreeMap<String, usize> = BTreeMap::new();
        let mut matches = Vec::new();
        for point in points {
            let payload = serde_json::to_value(point.payload.as_ref()).unwrap_or(Value::Null);
            let corpus = payload["corpus"].as_str().unwrap_or("").to_string();
            let count = taken.entry(corpus.clone()).or_default();
            if *count >= per_corpus {
                continue;
            }
            *count += 1;
            matches.push(KnowledgeMatch {
                id: payload["chunk_id"].as_str().unwrap_or("").to_string(),
                corpus,
                title: payload["title"].as_str().unwrap_or("").to_string(),
                source: payload["source"].as_str().map(str::to_string),
                // BM25 scores are unbounded; s / (s + 4) maps them into 0–1 monotonically so
                // thresholds (a past incident "above 0.6") keep one meaning.
                score: f64::from(point.score) / (f64::from(point.score) + 4.0),
                updated_at: payload["updated_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                text: payload["text"].as_str().unwrap_or("").to_string(),
                meta: payload["meta"].clone(),
            });
        }
        Ok(matches)
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
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
