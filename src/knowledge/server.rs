//! The Qdrant server (or cluster) backend through qdrant-client: the same collection layout
//! as the embedded shard — sparse vector `bm25` (Qdrant's BM25 computed here, IDF applied by
//! the server), optional dense vector `dense`, the same payload — so both backends rank alike.
//! Each request is built by a plain function (tested field by field) and sent through the
//! backend's own `Bridge`, so the synchronous index can call it from any thread.

use std::time::Duration;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPoints, CountPointsBuilder, CreateCollection, CreateCollectionBuilder,
    CreateFieldIndexCollection, CreateFieldIndexCollectionBuilder, DeletePoints,
    DeletePointsBuilder, Distance, FieldType, Filter, Modifier, PayloadIncludeSelector, PointId,
    PointStruct, Query, QueryBatchPoints, QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder,
    ScrollPoints, ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPoints, UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
    VectorsConfigBuilder,
};
use serde_json::Value;

use super::bridge::Bridge;
use super::{DENSE, KnowledgeError, SPARSE};

/// One point as both backends see it: the embedded shard keys it by `id` (a counter kept in
/// the manifest), the server by [`point_uuid`] of its chunk id, so every replica and the CLI
/// address the same point for the same chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPoint {
    pub id: u64,
    pub chunk_id: String,
    pub sparse_indices: Vec<u32>,
    pub sparse_values: Vec<f32>,
    pub dense: Option<Vec<f32>>,
    pub payload: Value,
}

/// The server's point id for a chunk: a UUIDv5 of its chunk id, the same on every replica.
pub fn point_uuid(chunk_id: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_4c3e_9a57_4b8e_a0f2_3c5d_7e91_b2a4);
    uuid::Uuid::new_v5(&NAMESPACE, chunk_id.as_bytes()).to_string()
}

/// The collection: `bm25` sparse with the IDF modifier; `dense` (cosine) when embeddings are
/// configured.
pub fn create_collection_request(collection: &str, dense: Option<usize>) -> CreateCollection {
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(
        SPARSE,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    let mut builder = CreateCollectionBuilder::new(collection).sparse_vectors_config(sparse);
    if let Some(size) = dense {
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(size as u64, Distance::Cosine),
        );
        builder = builder.vectors_config(vectors);
    }
    builder.build()
}

/// The payload fields searches and deletes filter on: each gets a keyword index, so a server
/// in strict mode (which refuses unindexed filters) serves them, and filtering stays fast.
pub const INDEXED_FIELDS: [&str; 2] = ["corpus", "source"];

/// Keyword payload indexes for [`INDEXED_FIELDS`], created with the collection (and on every
/// connect, for a collection made before they were).
pub fn field_index_requests(collection: &str) -> Vec<CreateFieldIndexCollection> {
    INDEXED_FIELDS
        .iter()
        .map(|field| {
            CreateFieldIndexCollectionBuilder::new(collection, *field, FieldType::Keyword)
                .wait(true)
                .build()
        })
        .collect()
}

pub fn upsert_request(
    collection: &str,
    points: &[IndexPoint],
) -> Result<UpsertPoints, KnowledgeError> {
    let points = points
        .iter()
        .map(|p| {
            let mut vectors: std::collections::HashMap<String, Vector> =
                std::collections::HashMap::new();
            vectors.insert(
                SPARSE.into(),
                Vector::new_sparse(p.sparse_indices.clone(), p.sparse_values.clone()),
            );
            if let Some(dense) = &p.dense {
                vectors.insert(DENSE.into(), Vector::new_dense(dense.clone()));
            }
            let payload = qdrant_client::Payload::try_from(p.payload.clone())
                .map_err(|e| KnowledgeError(format!("qdrant payload: {e}")))?;
            Ok(PointStruct::new(point_uuid(&p.chunk_id), vectors, payload))
        })
        .collect::<Result<Vec<_>, KnowledgeError>>()?;
    Ok(UpsertPointsBuilder::new(collection, points)
        .wait(true)
        .build())
}

/// What one query compares: the BM25 sparse vector or the dense embedding.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    Sparse(&'a [u32], &'a [f32]),
    Dense(&'a [f32]),
}

/// The whole collection's `limit` nearest points to one probe, with their raw scores (BM25 or
/// cosine): fusion happens in the client, once, across every corpus, so both backends rank
/// and score alike.
pub fn query_request(collection: &str, probe: Probe<'_>, limit: u64) -> QueryPoints {
    let builder = QueryPointsBuilder::new(collection)
        .limit(limit)
        .with_payload(true);
    match probe {
        Probe::Sparse(indices, values) => {
            builder
                .using(SPARSE)
                .query(Query::new_nearest(VectorInput::new_sparse(
                    indices.to_vec(),
                    values.to_vec(),
                )))
        }
        Probe::Dense(vector) => builder
            .using(DENSE)
            .query(Query::new_nearest(vector.to_vec())),
    }
    .build()
}

pub fn query_batch_request(collection: &str, queries: Vec<QueryPoints>) -> QueryBatchPoints {
    QueryBatchPointsBuilder::new(collection, queries).build()
}

/// Every chunk that came from `source` (a file that was deleted).
pub fn delete_by_source_request(collection: &str, source: &str) -> DeletePoints {
    DeletePointsBuilder::new(collection)
        .points(Filter::must([Condition::matches(
            "source",
            source.to_string(),
        )]))
        .wait(true)
        .build()
}

pub fn delete_ids_request(collection: &str, chunk_ids: &[String]) -> DeletePoints {
    let ids: Vec<PointId> = chunk_ids
        .iter()
        .map(|id| PointId::from(point_uuid(id)))
        .collect();
    DeletePointsBuilder::new(collection)
        .points(ids)
        .wait(true)
        .build()
}

/// The exact number of points in the collection.
pub fn count_request(collection: &str) -> CountPoints {
    CountPointsBuilder::new(collection).exact(true).build()
}

/// The payload fields the manifest is rebuilt from.
pub const MANIFEST_FIELDS: [&str; 3] = ["chunk_id", "hash", "source"];

/// One page of the collection's points with only [`MANIFEST_FIELDS`] (no vectors, no text).
pub fn scroll_request(collection: &str, offset: Option<PointId>) -> ScrollPoints {
    let mut builder = ScrollPointsBuilder::new(collection)
        .limit(1024)
        .with_payload(PayloadIncludeSelector::new(
            MANIFEST_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>(),
        ))
        .with_vectors(false);
    if let Some(offset) = offset {
        builder = builder.offset(offset);
    }
    builder.build()
}

/// A client error as one sentence: where, what happened, what to check. Connection failures
/// otherwise surface as multi-line transport dumps.
pub fn describe(url: &str, error: &qdrant_client::QdrantError) -> String {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("connect") || lower.contains("transport") || lower.contains("unavailable") {
        format!(
            "Qdrant at {url} is unreachable: check that the server runs and that the URL is its \
             gRPC endpoint (http://HOST:6334, not the REST port 6333)"
        )
    } else if lower.contains("deadline") || lower.contains("timed out") || lower.contains("timeout")
    {
        format!("Qdrant at {url} did not answer in time")
    } else if lower.contains("unauthenticated") || lower.contains("permission") {
        format!("Qdrant at {url} refused the API key (QDRANT_API_KEY)")
    } else {
        let first = text.lines().next().unwrap_or("").trim();
        format!(
            "Qdrant at {url}: {}",
            first.chars().take(300).collect::<String>()
        )
    }
}

pub struct QdrantServer {
    client: Qdrant,
    pub collection: String,
    url: String,
    bridge: Bridge,
}

impl QdrantServer {
    /// Connects and makes sure the collection exists with this layout; an existing collection
    /// with another layout is recreated when `recreate` (the index is derived data).
    pub fn connect(
        url: &str,
        api_key: Option<String>,
        collection: &str,
        dense: Option<usize>,
        recreate: bool,
    ) -> Result<Self, KnowledgeError> {
        let bridge = Bridge::new("triaged-qdrant")?;
        let client = {
            let _guard = bridge.enter()?;
            // The client's version check prints to stdout (breaking `search` output) and
            // warns about servers older than itself that answer every call used here.
            Qdrant::from_url(url)
                .api_key(api_key)
                .timeout(Duration::from_secs(30))
                .skip_compatibility_check()
                .build()
                .map_err(|e| KnowledgeError(describe(url, &e)))?
        };
        let server = Self {
            client,
            collection: collection.to_string(),
            url: url.to_string(),
            bridge,
        };
        let name = collection.to_string();
        let create = create_collection_request(collection, dense);
        let indexes = field_index_requests(collection);
        server.run(move |client| async move {
            let exists = client.collection_exists(&name).await?;
            if exists && recreate {
                client.delete_collection(&name).await?;
            }
            if !exists || recreate {
                client.create_collection(create).await?;
            }
            for request in indexes {
                client.create_field_index(request).await?;
            }
            Ok(())
        })?;
        Ok(server)
    }

    /// Runs one client call on the backend's runtime and waits for it.
    fn run<T, F, Fut>(&self, call: F) -> Result<T, KnowledgeError>
    where
        T: Send + 'static,
        F: FnOnce(Qdrant) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, qdrant_client::QdrantError>> + Send + 'static,
    {
        let client = self.client.clone();
        self.bridge
            .run(call(client))?
            .map_err(|e| KnowledgeError(describe(&self.url, &e)))
    }

    pub fn upsert(&self, points: &[IndexPoint]) -> Result<(), KnowledgeError> {
        let request = upsert_request(&self.collection, points)?;
        self.run(move |client| async move { client.upsert_points(request).await.map(|_| ()) })
    }

    pub fn delete_ids(&self, chunk_ids: &[String]) -> Result<(), KnowledgeError> {
        let request = delete_ids_request(&self.collection, chunk_ids);
        self.run(move |client| async move { client.delete_points(request).await.map(|_| ()) })
    }

    pub fn delete_source(&self, source: &str) -> Result<(), KnowledgeError> {
        let request = delete_by_source_request(&self.collection, source);
        self.run(move |client| async move { client.delete_points(request).await.map(|_| ()) })
    }

    /// Several probes in one batch: for each, (raw score, payload) per hit, best first.
    pub fn query(
        &self,
        queries: Vec<QueryPoints>,
    ) -> Result<Vec<Vec<(f64, Value)>>, KnowledgeError> {
        let request = query_batch_request(&self.collection, queries);
        let response = self.run(move |client| async move { client.query_batch(request).await })?;
        Ok(response
            .result
            .into_iter()
            .map(|batch| {
                batch
                    .result
                    .into_iter()
                    .map(|point| (f64::from(point.score), payload_json(point.payload)))
                    .collect()
            })
            .collect())
    }

    /// The exact number of points the collection holds.
    pub fn count(&self) -> Result<u64, KnowledgeError> {
        let request = count_request(&self.collection);
        self.run(move |client| async move {
            client
                .count(request)
                .await
                .map(|r| r.result.map_or(0, |c| c.count))
        })
    }

    /// Every point's [`MANIFEST_FIELDS`], page by page: what the collection holds, for a data
    /// dir whose manifest does not match it (new, or another replica indexed since).
    pub fn manifest(&self) -> Result<Vec<Value>, KnowledgeError> {
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let request = scroll_request(&self.collection, offset);
            let page = self.run(move |client| async move { client.scroll(request).await })?;
            out.extend(page.result.into_iter().map(|p| payload_json(p.payload)));
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }
}

fn payload_json(payload: std::collections::HashMap<String, qdrant_client::qdrant::Value>) -> Value {
    let map: serde_json::Map<String, Value> = qdrant_client::Payload::from(payload).into();
    Value::Object(map)
}
