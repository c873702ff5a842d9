//! Retrieval quality on a labelled query set: for each query the chunk ids a good retrieval
//! ranks high. Reports recall@k (the share of expected ids in the top k, averaged over
//! queries) and MRR (the mean reciprocal rank of the first expected id).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{KnowledgeError, KnowledgeIndex};

#[derive(Debug, Clone, Deserialize)]
struct QueryFile {
    query: Vec<LabelledQuery>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelledQuery {
    pub text: String,
    pub expected: Vec<String>,
}

/// Reads a `queries.toml` (`[[query]]` tables with `text` and `expected`).
pub fn load(path: &Path) -> Result<Vec<LabelledQuery>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: QueryFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file.query)
}

#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub query: String,
    pub expected: Vec<String>,
    pub top: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalScore {
    pub queries: usize,
    /// k → mean recall@k.
    pub recall: BTreeMap<usize, f64>,
    pub mrr: f64,
    /// Queries with an expected id outside the top 5.
    pub misses: Vec<Miss>,
}

/// Depth searched: MRR counts ranks up to here.
const DEPTH: usize = 10;

pub fn evaluate(
    index: &KnowledgeIndex,
    queries: &[LabelledQuery],
) -> Result<RetrievalScore, KnowledgeError> {
    let ks = [1, 3, 5, 10];
    let mut recall: BTreeMap<usize, f64> = ks.iter().map(|k| (*k, 0.0)).collect();
    let mut mrr = 0.0;
    let mut misses = Vec::new();
    for query in queries {
        // Per-corpus cap at the depth: the merged list is the global ranking.
        let ranked: Vec<String> = index
            .search(&query.text, DEPTH)?
            .into_iter()
            .take(DEPTH)
            .map(|m| m.id)
            .collect();
        for k in ks {
            let found = query
                .expected
                .iter()
                .filter(|id| ranked.iter().take(k).any(|r| r == *id))
                .count();
            *recall.entry(k).or_default() += found as f64 / query.expected.len().max(1) as f64;
        }
        if let Some(rank) = ranked.iter().position(|r| query.expected.contains(r)) {
            mrr += 1.0 / (rank + 1) as f64;
        }
        if query
            .expected
            .iter()
            .any(|id| !ranked.iter().take(5).any(|r| r == id))
        {
            misses.push(Miss {
                query: query.text.clone(),
                expected: query.expected.clone(),
                top: ranked.iter().take(5).cloned().collect(),
            });
        }
    }
    let n = queries.len().max(1) as f64;
    for value in recall.values_mut() {
        *value /= n;
    }
    Ok(RetrievalScore {
        queries: queries.len(),
        recall,
        mrr: mrr / n,
        misses,
    })
}

impl RetrievalScore {
    pub fn to_text(&self) -> String {
        let mut out = format!("{} labelled queries\n", self.queries);
        for (k, value) in &self.recall {
            out.push_str(&format!("recall@{k:<3} {:.3}\n", value));
        }
        out.push_str(&format!("MRR@{DEPTH}    {:.3}\n", self.mrr));
        for miss in &self.misses {
            out.push_str(&format!(
                "\nmiss: {}\n  expected {}\n  top 5    {}\n",
                miss.query,
                miss.expected.join(", "),
                miss.top.join(", ")
            ));
        }
        out
    }
}
