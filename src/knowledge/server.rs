//! The Qdrant server (or cluster) backend through qdrant-client: the same collection layout
//! as the embedded shard — sparse vector `bm25` (Qdrant's BM25 computed here, IDF applied by
//! the server), optional dense vector `dense`, the same payload — so both backends rank alike.
//! Each request is built by a plain function (tested field by field) and sent through the
//! backend's own `Bridge`, so the synchronous index can call it from any thread.

use std::time::Duration;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CreateCollection, CreateCollectionBuilder, CreateFieldIndexCollection,
    CreateFieldIndexCollectionBuilder, DeletePoints, DeletePointsBuilder, Distance, FieldType,
    Filter, Modifier, PointId, PointStruct, PrefetchQueryBuilder, Query, QueryBatchPoints,
    QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder, RrfBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPoints, UpsertPointsBuilder,
    Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use serde_json::Value;

use super::bridge::Bridge;
use super::{DENSE, KnowledgeError, RRF_K, SPARSE};

/// One point as both backends see it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPoint {
    pub id: u64,
    pub sparse_indices: Vec<u32>,
    pub sparse_values: Vec<f32>,
    pub dense: Option<Vec<f32>>,
    pub payload: Value,
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
            Ok(PointStruct::new(p.id, vectors, payload))
        })
        .collect::<Result<Vec<_>, KnowledgeError>>()?;
    Ok(UpsertPointsBuilder::new(collection, points)
        .wait(true)
        .build())
}

/// One corpus's best matches: BM25 alone, or dense and BM25 prefetched and fused with RRF.
pub fn query_request(
    collection: &str,
    corpus: &str,
    sparse: (&[u32], &[f32]),
    dense: Option<&[f32]>,
    limit: u64,
) -> QueryPoints {
    let filter = Filter::must([Condition::matches("corpus", corpus.to_string())]);
    let sparse_query = || {
        Query::new_nearest(VectorInput::new_sparse(
            sparse.0.to_vec(),
            sparse.1.to_vec(),
        ))
    };
    let builder = QueryPointsBuilder::new(collection)
        .filter(filter.clone())
        .limit(limit)
        .with_payload(true);
    match dense {
        Some(dense) => builder
            .add_prefetch(
                PrefetchQueryBuilder::default()
                    .using(DENSE)
                    .query(Query::new_nearest(dense.to_vec()))
                    .filter(filter.clone())
                    .limit(limit * 4),
            )
            .add_prefetch(
                PrefetchQueryBuilder::default()
                    .using(SPARSE)
                    .query(sparse_query())
                    .filter(filter)
                    .limit(limit * 4),
            )
            .query(Query::new_rrf(RrfBuilder::with_k(RRF_K as u32)))
            .build(),
        None => builder.using(SPARSE).query(sparse_query()).build(),
    }
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

pub fn delete_ids_request(collection: &str, ids: &[u64]) -> DeletePoints {
    let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(*id)).collect();
    DeletePointsBuilder::new(collection)
        .points(ids)
        .wait(true)
        .build()
}

pub struct QdrantServer {
    client: Qdrant,
    pub collection: String,
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
                .map_err(|e| KnowledgeError(format!("qdrant {url}: {e}")))?
        };
        let server = Self {
            client,
            collection: collection.to_string(),
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
            .map_err(|e| KnowledgeError(format!("qdrant: {e}")))
    }

    pub fn upsert(&self, points: &[IndexPoint]) -> Result<(), KnowledgeError> {
        let request = upsert_request(&self.collection, points)?;
        self.run(move |client| async move { client.upsert_points(request).await.map(|_| ()) })
    }

    pub fn delete_ids(&self, ids: &[u64]) -> Result<(), KnowledgeError> {
        let request = delete_ids_request(&self.collection, ids);
        self.run(move |client| async move { client.delete_points(request).await.map(|_| ()) })
    }

    pub fn delete_source(&self, source: &str) -> Result<(), KnowledgeError> {
        let request = delete_by_source_request(&self.collection, source);
        self.run(move |client| async move { client.delete_points(request).await.map(|_| ()) })
    }

    /// Per-corpus queries in one batch; (score, payload) per hit, each corpus best first.
    pub fn query(&self, queries: Vec<QueryPoints>) -> Result<Vec<(f64, Value)>, KnowledgeError> {
        let request = query_batch_request(&self.collection, queries);
        let response = self.run(move |client| async move { client.query_batch(request).await })?;
        Ok(response
            .result
            .into_iter()
            .flat_map(|batch| batch.result)
            .map(|point| {
                let payload: serde_json::Map<String, Value> =
                    qdrant_client::Payload::from(point.payload).into();
                (f64::from(point.score), Value::Object(payload))
            })
            .collect())
    }
}
