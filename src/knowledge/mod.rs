//! The knowledge index: runbooks and post-mortems chunked by section and searched with BM25
//! sparse vectors computed by Qdrant's own BM25, in an embedded Qdrant Edge shard under
//! `<data_dir>/index`. Unchanged chunks are skipped by content hash.

mod bridge;
pub mod chunk;
pub mod code;
pub mod embed;
pub mod labelled;
pub mod retrieve;
pub mod schema;
pub mod server;
pub mod terraform;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{
    Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder,
    Fusion, Modifier, NamedQuery, PointInsertOperations, PointOperations, PointStruct, Prefetch,
    QueryEnum, QueryRequest, ScoringQuery, SearchRequest, UpdateOperation, Vector, Vectors,
    WithPayloadInterface, WithVector,
};

pub use self::embed::Embedder;
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
    /// Files that could not be read or parsed, with the reason; their old chunks are kept.
    pub failed: Vec<String>,
}

impl IndexReport {
    pub fn add(&mut self, other: IndexReport) {
        self.files += other.files;
        self.chunks += other.chunks;
        self.indexed += other.indexed;
        self.unchanged += other.unchanged;
        self.removed += other.removed;
        self.failed.extend(other.failed);
    }
}

/// Where an indexing run is, for a progress bar or periodic log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Files read and chunked so far, of all files found.
    Chunking { done: usize, total: usize },
    /// Chunks written to the index so far, of all new or changed chunks.
    Writing { done: usize, total: usize },
}

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
        "postmortems" => matches!(extension.as_str(), "md" | "markdown"),
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
        ("terraform", _) => terraform::chunks(file, &relative, &text),
        ("code", _) => code::chunks(file, &relative, &text),
        ("schema", _) => schema::chunks(file, &text),
        (_, "html" | "htm") => Ok(chunk::html(corpus, file, &text)),
        _ => Ok(chunk::markdown(corpus, file, &text, Value::Null)),
    })
}

pub struct KnowledgeIndex {
    dir: PathBuf,
    backend: Backend,
    bm25: EdgeBm25,
    /// chunk id → what was indexed, for incremental re-indexing.
    manifest: Mutex<BTreeMap<String, Entry>>,
    /// Dense embeddings fused with BM25, when configured.
    embedder: Option<Embedder>,
}

/// The collection layout an index was built with (`layout.json`): an index built without
/// dense vectors, or with other dimensions, is rebuilt when opened with an embedder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Layout {
    dense_dimensions: Option<usize>,
    dense_model: Option<String>,
}

/// Where the vectors live: an embedded Qdrant Edge shard, or a Qdrant server or cluster.
enum Backend {
    Edge(Box<EdgeShard>),
    Server(Box<server::QdrantServer>),
}

/// A Qdrant server to use instead of the embedded shard.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub url: String,
    pub api_key: Option<String>,
    pub collection: String,
}

const LAYOUT: &str = "layout.json";
const DENSE: &str = "dense";
/// RRF's k: Qdrant's scoring is 1 / (rank + k) with ranks from 1.
const RRF_K: usize = 60;

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
    /// Opens the index in `dir` with BM25 alone, creating it on first use.
    pub fn open(dir: &Path) -> Result<Self, KnowledgeError> {
        Self::open_with(dir, None)
    }

    /// Opens the index in `dir`; with an embedder every chunk also gets a `dense` vector and
    /// searches fuse both with RRF. An index built with another layout is rebuilt from
    /// scratch (it is derived data: the next indexing run fills it again).
    pub fn open_with(dir: &Path, embedder: Option<Embedder>) -> Result<Self, KnowledgeError> {
        Self::open_on(dir, embedder, None)
    }

    /// Opens the index with its vectors on `server` when given (the manifest of what was
    /// indexed stays in `dir`), else in the embedded shard in `dir`.
    pub fn open_on(
        dir: &Path,
        embedder: Option<Embedder>,
        server: Option<ServerTarget>,
    ) -> Result<Self, KnowledgeError> {
        let layout = Layout {
            dense_dimensions: embedder.as_ref().map(Embedder::dimensions),
            dense_model: embedder.as_ref().map(|e| e.model().to_string()),
        };
        let existing: Option<Layout> = std::fs::read_to_string(dir.join(LAYOUT))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .or_else(|| {
                dir.join("segments").exists().then_some(Layout {
                    dense_dimensions: None,
                    dense_model: None,
                })
            });
        let rebuild = existing.as_ref().is_some_and(|e| *e != layout);
        if rebuild {
            tracing::warn!(dir = %dir.display(), "the knowledge index was built with another vector layout; rebuilding it");
            std::fs::remove_dir_all(dir).map_err(err)?;
        }
        std::fs::create_dir_all(dir).map_err(err)?;
        std::fs::write(dir.join(LAYOUT), serde_json::to_vec(&layout).map_err(err)?).map_err(err)?;
        let mut builder = EdgeConfigBuilder::new().sparse_vector(
            SPARSE,
            EdgeSparseVectorParamsBuilder::new()
                .modifier(Modifier::Idf)
                .build(),
        );
        if let Some(dimensions) = layout.dense_dimensions {
            builder = builder.vector(
                DENSE,
                EdgeVectorParamsBuilder::new(dimensions, Distance::Cosine).build(),
            );
        }
        let config = builder.build();
        let bm25 = EdgeBm25::new(serde_json::from_value::<EdgeBm25Config>(json!({})).map_err(err)?)
            .map_err(err)?;
        let manifest = std::fs::read_to_string(dir.join(MANIFEST))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if let Some(target) = server {
            let backend = server::QdrantServer::connect(
                &target.url,
                target.api_key,
                &target.collection,
                layout.dense_dimensions,
                rebuild,
            )?;
            return Ok(Self {
                dir: dir.to_path_buf(),
                backend: Backend::Server(Box::new(backend)),
                bm25,
                manifest: Mutex::new(manifest),
                embedder,
            });
        }
        let shard = if dir.join("segments").exists() {
            EdgeShard::load(dir, Some(config)).map_err(err)?
        } else {
            EdgeShard::new(dir, config).map_err(err)?
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            backend: Backend::Edge(Box::new(shard)),
            bm25,
            manifest: Mutex::new(manifest),
            embedder,
        })
    }

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
                embedder.embed(&texts)?.into_iter().map(Some).collect()
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
            let sections: Vec<u64> = stale
                .iter()
                .filter(|(_, _, file_gone)| !file_gone)
                .map(|(_, point, _)| *point)
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
        let limit = per_corpus.max(1) * 8;
        let dense = match &self.embedder {
            Some(embedder) => match embedder.embed(&[query.to_string()]) {
                Ok(mut vectors) => vectors.pop(),
                Err(error) => {
                    // Retrieval must not fail because the embeddings endpoint is down.
                    tracing::warn!(%error, "query embedding failed; searching with BM25 alone");
                    None
                }
            },
            None => None,
        };
        if sparse.indices.is_empty() && dense.is_none() {
            return Ok(Vec::new());
        }
        // Hybrid scores are normalised by the best possible RRF score (first in both lists),
        // BM25 scores by s / (s + 4): both land in 0–1 with "close" meaning close.
        let hits = match &self.backend {
            Backend::Edge(shard) => edge_search(shard, sparse, dense, limit)?,
            Backend::Server(server) => {
                let sparse_parts = (sparse.indices.as_slice(), sparse.values.as_slice());
                let queries = CORPORA
                    .iter()
                    .map(|corpus| {
                        server::query_request(
                            &server.collection,
                            corpus,
                            sparse_parts,
                            dense.as_deref(),
                            per_corpus.max(1) as u64,
                        )
                    })
                    .collect();
                let normalise = score_normaliser(dense.is_some(), !sparse.indices.is_empty());
                let mut hits: Vec<(f64, Value)> = server
                    .query(queries)?
                    .into_iter()
                    .map(|(score, payload)| (normalise(score), payload))
                    .collect();
                hits.sort_by(|a, b| b.0.total_cmp(&a.0));
                hits
            }
        };
        let mut taken: BTreeMap<String, usize> = BTreeMap::new();
        let mut matches = Vec::new();
        // At most two chunks of one post-mortem per query, so one long post-mortem cannot
        // fill the corpus's places (its summary chunk repeats its sections).
        let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
        for (score, payload) in hits {
            let corpus = payload["corpus"].as_str().unwrap_or("").to_string();
            let source = payload["source"].as_str().unwrap_or("").to_string();
            let count = taken.entry(corpus.clone()).or_default();
            let from_source = per_source.entry(source).or_default();
            if *count >= per_corpus || (corpus == "postmortems" && *from_source >= 2) {
                continue;
            }
            *count += 1;
            *from_source += 1;
            matches.push(KnowledgeMatch {
                id: payload["chunk_id"].as_str().unwrap_or("").to_string(),
                corpus,
                title: payload["title"].as_str().unwrap_or("").to_string(),
                source: payload["source"].as_str().map(str::to_string),
                score,
                updated_at: payload["updated_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                snippet: retrieve::snippet(payload["text"].as_str().unwrap_or(""), query),
                text: payload["text"].as_str().unwrap_or("").to_string(),
                meta: payload["meta"].clone(),
            });
        }
        Ok(matches)
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

/// Maps raw scores into 0–1 so thresholds keep one meaning: RRF scores by the best possible
/// fused score (first in every list), BM25 scores by s / (s + 4).
fn score_normaliser(dense: bool, sparse: bool) -> Box<dyn Fn(f64) -> f64> {
    if dense {
        let best = (1 + usize::from(sparse)) as f64 / RRF_K as f64;
        Box::new(move |s| (s / best).min(1.0))
    } else {
        Box::new(|s| s / (s + 4.0))
    }
}

/// One embedded query: BM25 alone, or dense and BM25 prefetched and fused with RRF.
fn edge_search(
    shard: &EdgeShard,
    sparse: qdrant_edge::SparseVector,
    dense: Option<Vec<f32>>,
    limit: usize,
) -> Result<Vec<(f64, Value)>, KnowledgeError> {
    let nearest = |vector: Vector, using: &str| {
        QueryEnum::Nearest(NamedQuery {
            query: vector.0,
            using: Some(using.into()),
        })
    };
    let has_sparse = !sparse.indices.is_empty();
    let normalise = score_normaliser(dense.is_some(), has_sparse);
    let points = match dense {
        Some(dense) => {
            let prefetch = |query| Prefetch {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(query)),
                limit,
                params: None,
                filter: None,
                score_threshold: None,
            };
            let mut prefetches = vec![prefetch(nearest(Vector::from(dense), DENSE))];
            if has_sparse {
                prefetches.push(prefetch(nearest(Vector::from(sparse), SPARSE)));
            }
            shard
                .query(QueryRequest {
                    prefetches,
                    query: Some(ScoringQuery::Fusion(Fusion::Rrf {
                        k: RRF_K,
                        weights: None,
                    })),
                    filter: None,
                    score_threshold: None,
                    limit,
                    offset: 0,
                    params: None,
                    with_vector: WithVector::Bool(false),
                    with_payload: WithPayloadInterface::Bool(true),
                })
                .map_err(err)?
        }
        None => shard
            .search(SearchRequest {
                query: nearest(Vector::from(sparse), SPARSE),
                filter: None,
                params: None,
                limit,
                offset: 0,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: None,
                score_threshold: None,
            })
            .map_err(err)?,
    };
    Ok(points
        .into_iter()
        .map(|point| {
            let payload = serde_json::to_value(point.payload.as_ref()).unwrap_or(Value::Null);
            (normalise(f64::from(point.score)), payload)
        })
        .collect())
}

impl Backend {
    fn upsert(&self, points: Vec<server::IndexPoint>) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(shard) => {
                let points = points
                    .into_iter()
                    .map(|p| {
                        let mut named = vec![(
                            SPARSE,
                            Vector::from(qdrant_edge::SparseVector {
                                indices: p.sparse_indices,
                                values: p.sparse_values,
                            }),
                        )];
                        if let Some(dense) = p.dense {
                            named.push((DENSE, Vector::from(dense)));
                        }
                        PointStruct::new(p.id, Vectors::new_named(named), p.payload).into()
                    })
                    .collect();
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
                    ))
                    .map_err(err)
            }
            Self::Server(server) => server.upsert(&points),
        }
    }

    fn optimize(&self) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(shard) => shard.optimize().map(|_| ()).map_err(err),
            // The server runs its own optimizers.
            Self::Server(_) => Ok(()),
        }
    }

    /// Removes stale chunks: the embedded shard by id (`all`: the manifest knows every point
    /// of a file); the server by id for sections gone from files that remain (`ids`) and by
    /// a filter on `source` for files that are gone.
    fn delete(
        &self,
        all: &[u64],
        ids: &[u64],
        gone: &std::collections::BTreeSet<String>,
    ) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(shard) => {
                let ids = all.iter().map(|id| (*id).into()).collect();
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::DeletePoints { ids },
                    ))
                    .map_err(err)
            }
            Self::Server(server) => {
                if !ids.is_empty() {
                    server.delete_ids(ids)?;
                }
                for source in gone {
                    server.delete_source(source)?;
                }
                Ok(())
            }
        }
    }

    fn flush(&self) {
        if let Self::Edge(shard) = self {
            shard.flush();
        }
    }
}
