//! Search: per-corpus best matches (BM25, or BM25 and dense fused by RRF), scores
//! normalised to 0–1, merged across corpora.

use super::*;

impl KnowledgeIndex {
    /// BM25 search; `per_corpus` best matches from each corpus, merged by score.
    pub fn search(
        &self,
        query: &str,
        per_corpus: usize,
    ) -> Result<Vec<KnowledgeMatch>, KnowledgeError> {
        let sparse = self.bm25.embed_query(query);
        let limit = per_corpus.max(1) * 8;
        let dense = match &self.embedder {
            Some(embedder) => match embedder.embed_query(query) {
                Ok(vector) => Some(vector),
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
        // At most two chunks of one post-mortem (or remembered incident) per query, so one long post-mortem cannot
        // fill the corpus's places (its summary chunk repeats its sections).
        let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
        for (score, payload) in hits {
            let corpus = payload["corpus"].as_str().unwrap_or("").to_string();
            let source = payload["source"].as_str().unwrap_or("").to_string();
            let count = taken.entry(corpus.clone()).or_default();
            let from_source = per_source.entry(source).or_default();
            if *count >= per_corpus
                || (matches!(corpus.as_str(), "postmortems" | "incidents") && *from_source >= 2)
            {
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
