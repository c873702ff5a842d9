//! The knowledge index: runbooks and post-mortems chunked by section and searched with BM25
//! sparse vectors computed by Qdrant's own BM25, in an embedded Qdrant Edge shard under
//! `<data_dir>/index`. Unchanged chunks are skipped by content hash.

mod bridge;
pub mod chunk;
pub mod code;
mod configured;
pub mod embed;
mod ingest;
pub mod labelled;
pub mod retrieve;
pub mod schema;
mod search;
pub mod server;
pub mod terraform;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::{
    Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder,
    Modifier, NamedQuery, PointInsertOperations, PointOperations, PointStruct, QueryEnum,
    SearchRequest, UpdateOperation, Vector, Vectors, WithPayloadInterface,
};

pub use self::embed::Embedder;
pub(crate) use self::ingest::collect_files;
use serde_json::{Value, json};

use self::chunk::Chunk;
use crate::domain::KnowledgeMatch;

const SPARSE: &str = "bm25";

/// The corpora a chunk can belong to.
pub const CORPORA: [&str; 6] = [
    "runbooks",
    "postmortems",
    "terraform",
    "code",
    "schema",
    "incidents",
];
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

pub struct KnowledgeIndex {
    dir: PathBuf,
    backend: Backend,
    bm25: EdgeBm25,
    /// chunk id → what was indexed, for incremental re-indexing.
    manifest: Mutex<BTreeMap<String, Entry>>,
    /// Dense embeddings fused with BM25, when configured.
    embedder: Option<Embedder>,
    /// The best cosine a meaningless query reaches (see `search`), measured on first use
    /// after each indexing run.
    noise: Mutex<Option<f64>>,
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
    Server(Box<Remote>),
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
    /// searches fuse both. An index built with another layout is rebuilt from
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
            dense_model: embedder.as_ref().map(Embedder::identity),
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
            let index = Self {
                dir: dir.to_path_buf(),
                backend: Backend::Server(Box::new(Remote {
                    target,
                    dense: layout.dense_dimensions,
                    recreate: rebuild,
                    connected: Mutex::new(None),
                })),
                bm25,
                manifest: Mutex::new(manifest),
                embedder,
                noise: Mutex::new(None),
            };
            // A server that is down now is connected on first use: the daemon starts, and
            // each search until then fails with the reason (a gap in the brief).
            if let Err(error) = index.connect() {
                tracing::warn!(%error, "the knowledge server is not reachable yet; retrying on each use");
            }
            return Ok(index);
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
            noise: Mutex::new(None),
        })
    }

    /// Number of chunks indexed (as far as known: a server not reached yet counts what the
    /// local manifest last saw).
    pub fn len(&self) -> usize {
        self.manifest.lock().map_or(0, |m| m.len())
    }

    /// Nothing indexed. A server not reached yet is not known to be empty: searching it is
    /// what reports why it cannot answer.
    pub fn is_empty(&self) -> bool {
        match &self.backend {
            Backend::Server(remote) if remote.current().is_err() => false,
            _ => self.len() == 0,
        }
    }

    /// Connects to the Qdrant server when the index lives there and is not connected yet,
    /// creating the collection and checking the manifest against it. Every entry point that
    /// talks to the backend calls this first (before taking the manifest lock).
    pub(crate) fn connect(&self) -> Result<(), KnowledgeError> {
        let Backend::Server(remote) = &self.backend else {
            return Ok(());
        };
        let mut slot = remote
            .connected
            .lock()
            .map_err(|_| KnowledgeError("connection lock poisoned".into()))?;
        if slot.is_some() {
            return Ok(());
        }
        let server = server::QdrantServer::connect(
            &remote.target.url,
            remote.target.api_key.clone(),
            &remote.target.collection,
            remote.dense,
            remote.recreate,
        )?;
        let mut manifest = self
            .manifest
            .lock()
            .map_err(|_| KnowledgeError("manifest lock poisoned".into()))?;
        *manifest = checked_manifest(&server, std::mem::take(&mut *manifest))?;
        *slot = Some(std::sync::Arc::new(server));
        Ok(())
    }
}

/// A Qdrant server, connected on first use.
struct Remote {
    target: ServerTarget,
    dense: Option<usize>,
    /// Recreate the collection on connecting (the local layout changed).
    recreate: bool,
    connected: Mutex<Option<std::sync::Arc<server::QdrantServer>>>,
}

impl Remote {
    /// The connected server, or why there is none.
    fn current(&self) -> Result<std::sync::Arc<server::QdrantServer>, KnowledgeError> {
        self.connected
            .lock()
            .map_err(|_| KnowledgeError("connection lock poisoned".into()))?
            .clone()
            .ok_or_else(|| {
                KnowledgeError(format!("Qdrant at {} is not connected", self.target.url))
            })
    }
}

/// The local manifest is a cache of what the server holds: it is used while its size matches
/// the collection's exact point count, and rebuilt from the collection's payloads (chunk id,
/// hash, source) when it does not — a new data dir, a deleted collection, or another replica
/// that indexed since.
fn checked_manifest(
    server: &server::QdrantServer,
    cached: BTreeMap<String, Entry>,
) -> Result<BTreeMap<String, Entry>, KnowledgeError> {
    let held = server.count()?;
    if held == cached.len() as u64 {
        return Ok(cached);
    }
    tracing::info!(
        collection = %server.collection,
        cached = cached.len(),
        held,
        "the local manifest disagrees with the collection; reading it from the server"
    );
    Ok(server
        .manifest()?
        .into_iter()
        .filter_map(|p| {
            Some((
                p["chunk_id"].as_str()?.to_string(),
                Entry {
                    hash: p["hash"].as_str()?.to_string(),
                    source: p["source"].as_str().unwrap_or("").to_string(),
                    point: 0,
                },
            ))
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
            Self::Server(remote) => remote.current()?.upsert(&points),
        }
    }

    fn optimize(&self) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(shard) => shard.optimize().map(|_| ()).map_err(err),
            // The server runs its own optimizers.
            Self::Server(_) => Ok(()),
        }
    }

    /// Removes stale chunks: the embedded shard by point (the manifest knows every point of a
    /// file); the server by chunk id for sections gone from files that remain and by a filter
    /// on `source` for files that are gone.
    fn delete(
        &self,
        points: &[u64],
        sections: &[String],
        gone: &std::collections::BTreeSet<String>,
    ) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(shard) => {
                let ids = points.iter().map(|id| (*id).into()).collect();
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::DeletePoints { ids },
                    ))
                    .map_err(err)
            }
            Self::Server(remote) => {
                let server = remote.current()?;
                if !sections.is_empty() {
                    server.delete_ids(sections)?;
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
