//! Search: the whole index probed once by BM25 and once by the dense embedding, both lists
//! fused into one closeness score per chunk (across corpora), then capped per corpus.

use super::*;

impl KnowledgeIndex {
    /// BM25 search; `per_corpus` best matches from each corpus, merged by score.
    pub fn search(
        &self,
        query: &str,
        per_corpus: usize,
    ) -> Result<Vec<KnowledgeMatch>, KnowledgeError> {
        self.connect()?;
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
        let limit = limit as u64;
        let mut probes = Vec::new();
        if !sparse.indices.is_empty() {
            probes.push(server::Probe::Sparse(&sparse.indices, &sparse.values));
        }
        if let Some(vector) = &dense {
            probes.push(server::Probe::Dense(vector));
        }
        let mut answers = self.probe(&probes, limit)?.into_iter();
        let lexical = if sparse.indices.is_empty() {
            Vec::new()
        } else {
            answers.next().unwrap_or_default()
        };
        let semantic = answers.next().unwrap_or_default();
        let noise = if dense.is_some() {
            self.noise_ceiling()?
        } else {
            1.0
        };
        let hits = fuse(lexical, semantic, noise);
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

/// BM25's raw score as closeness in 0–1: s / (s + 4) (a score of 4, a few shared rare
/// terms, is 0.5).
fn lexical_closeness(score: f64) -> f64 {
    score.max(0.0) / (score.max(0.0) + 4.0)
}

/// The cosine above what a meaningless query reaches in this index (`noise`), as 0–1.
fn semantic_closeness(cosine: f64, noise: f64) -> f64 {
    ((cosine - noise) / (1.0 - noise).max(1e-6)).clamp(0.0, 1.0)
}

/// One fused score per chunk from its lexical and semantic closeness: either alone counts,
/// both together count more (a noisy-or), and nothing is not a match.
fn hybrid(lexical: f64, semantic: f64) -> f64 {
    1.0 - (1.0 - lexical) * (1.0 - SEMANTIC_WEIGHT * semantic)
}

/// How much a semantic match counts against a lexical one of the same closeness. Fitted on
/// `tests/retrieval/queries.toml` with multilingual-e5-small (384-d, noise ceiling 0.889):
/// 0.1–0.25 rank exactly as BM25 alone (recall@1 0.776, MRR 0.961) while a query with no
/// shared word still finds its closest chunks; 0.5 gave 0.763 / 0.947 and 1.0 0.724 / 0.921.
/// At 0.25 a hybrid score stays within 0.25 of its BM25 closeness, so the 0.6 past-incident
/// threshold fitted for BM25 keeps its meaning in both modes.
const SEMANTIC_WEIGHT: f64 = 0.25;

/// The one fusion, across every corpus, for both backends: each chunk's BM25 and cosine
/// evidence combined into a closeness score; chunks with neither are dropped; ties broken by
/// chunk id, so the same query on the same index always ranks alike.
fn fuse(lexical: Vec<(f64, Value)>, semantic: Vec<(f64, Value)>, noise: f64) -> Vec<(f64, Value)> {
    let mut chunks: BTreeMap<String, (f64, f64, Value)> = BTreeMap::new();
    for (score, payload) in lexical {
        let id = payload["chunk_id"].as_str().unwrap_or("").to_string();
        chunks.entry(id).or_insert((0.0, 0.0, payload)).0 = lexical_closeness(score);
    }
    for (cosine, payload) in semantic {
        let id = payload["chunk_id"].as_str().unwrap_or("").to_string();

        chunks.entry(id).or_insert((0.0, 0.0, payload)).1 = semantic_closeness(cosine, noise);
    }
    let mut hits: Vec<(String, f64, Value)> = chunks
        .into_iter()
        .map(|(id, (l, d, payload))| (id, hybrid(l, d), payload))
        .filter(|(_, score, _)| *score > 0.0)
        .collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    hits.into_iter()
        .map(|(_, score, payload)| (score, payload))
        .collect()
}

/// Queries that mean nothing; the best cosine any of them reaches in the index is its noise
/// ceiling, below which a dense match is no evidence. Measured per index and model, because
/// models differ widely in how similar unrelated texts look (e5 puts most pairs above 0.7).
const NULL_QUERIES: [&str; 6] = [
    "???",
    "...",
    "the",
    "a an of",
    "xyzzy qwerty",
    "lorem ipsum dolor sit amet",
];

impl KnowledgeIndex {
    /// The index's noise ceiling, measured on first use after each indexing run.
    fn noise_ceiling(&self) -> Result<f64, KnowledgeError> {
        if let Some(value) = *self
            .noise
            .lock()
            .map_err(|_| KnowledgeError("noise lock poisoned".into()))?
        {
            return Ok(value);
        }
        let Some(embedder) = &self.embedder else {
            return Ok(1.0);
        };
        let texts: Vec<String> = NULL_QUERIES.iter().map(|q| q.to_string()).collect();
        let vectors = embedder.embed_queries(&texts)?;
        let probes: Vec<server::Probe<'_>> = vectors
            .iter()
            .map(|vector| server::Probe::Dense(vector))
            .collect();
        let ceiling = self
            .probe(&probes, 1)?
            .iter()
            .flatten()
            .map(|(score, _)| *score)
            .fold(0.0, f64::max);
        tracing::debug!(ceiling, "dense noise ceiling measured");
        *self
            .noise
            .lock()
            .map_err(|_| KnowledgeError("noise lock poisoned".into()))? = Some(ceiling);
        Ok(ceiling)
    }
}

impl KnowledgeIndex {
    /// Each probe's `limit` nearest points over the whole index, with raw scores (BM25 or
    /// cosine): searched one by one in the embedded shard, in one batch on a server.
    fn probe(
        &self,
        probes: &[server::Probe<'_>],
        limit: u64,
    ) -> Result<Vec<Vec<(f64, Value)>>, KnowledgeError> {
        match &self.backend {
            Backend::Edge(shard) => probes
                .iter()
                .map(|probe| edge_probe(shard, probe, limit))
                .collect(),
            Backend::Server(remote) => {
                if probes.is_empty() {
                    return Ok(Vec::new());
                }
                let server = remote.current()?;
                let queries = probes
                    .iter()
                    .map(|probe| server::query_request(&server.collection, *probe, limit))
                    .collect();
                server.query(queries)
            }
        }
    }
}

/// One embedded probe over the whole shard: the `limit` nearest points with raw scores.
fn edge_probe(
    shard: &EdgeShard,
    probe: &server::Probe<'_>,
    limit: u64,
) -> Result<Vec<(f64, Value)>, KnowledgeError> {
    let (vector, using) = match probe {
        server::Probe::Sparse(indices, values) => (
            Vector::from(qdrant_edge::SparseVector {
                indices: indices.to_vec(),
                values: values.to_vec(),
            }),
            SPARSE,
        ),
        server::Probe::Dense(vector) => (Vector::from(vector.to_vec()), DENSE),
    };
    let points = shard
        .search(SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: vector.0,
                using: Some(using.into()),
            }),
            filter: None,
            params: None,
            limit: limit as usize,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        })
        .map_err(err)?;
    Ok(points
        .into_iter()
        .map(|point| {
            let payload = serde_json::to_value(point.payload.as_ref()).unwrap_or(Value::Null);
            (f64::from(point.score), payload)
        })
        .collect())
}
