//! Retrieval for an incident: the query built from the alert, its targets, the signals and
//! the strongest evidence summaries; and the snippet of each hit (the lines that match the
//! query best), so a brief or a page can show why a chunk was retrieved.

use crate::domain::{Alert, EvidenceBundle};
use crate::signals;

/// Evidence summaries added to the query, most anomalous first.
const EVIDENCE_SUMMARIES: usize = 2;
/// Characters a snippet keeps.
const SNIPPET_CHARS: usize = 280;

/// The retrieval query for an incident: what the alert says, the names of what is involved
/// (identifiers are where BM25 is strongest), what the signals found and the strongest
/// evidence.
pub fn retrieval_query(alert: &Alert, bundle: &EvidenceBundle) -> String {
    let mut parts = vec![alert.title.clone()];
    if let Some(message) = &alert.message {
        parts.push(message.chars().take(300).collect());
    }
    let t = &bundle.targets;
    parts.extend(t.service.iter().cloned());
    parts.extend(t.kube_workloads.iter().cloned());
    parts.extend(t.rds_instances.iter().cloned());
    parts.extend(t.dependencies.iter().cloned());
    for signal in signals::derive(bundle, &[]) {
        parts.push(signal.statement);
        parts.push(signal.category.as_str().replace('_', " "));
    }
    let mut strongest: Vec<_> = bundle.items.iter().collect();
    strongest.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));
    parts.extend(
        strongest
            .into_iter()
            .take(EVIDENCE_SUMMARIES)
            .map(|item| item.summary.chars().take(200).collect::<String>()),
    );
    parts.join(" ")
}

/// The lines of `text` sharing the most words with `query`, in document order, cut to a few
/// hundred characters.
pub fn snippet(text: &str, query: &str) -> String {
    let words: std::collections::HashSet<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut scored: Vec<(usize, usize)> = lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let hits = line
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| words.contains(&w.to_lowercase()))
                .count();
            (index, hits)
        })
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = Vec::new();
    let mut length = 0;
    for (index, hits) in scored {
        if hits == 0 && !chosen.is_empty() {
            break;
        }
        chosen.push(index);
        length += lines[index].len() + 1;
        if length >= SNIPPET_CHARS {
            break;
        }
    }
    chosen.sort_unstable();
    let joined = chosen
        .iter()
        .map(|i| lines[*i].trim())
        .collect::<Vec<_>>()
        .join(" … ");
    if joined.chars().count() > SNIPPET_CHARS {
        let cut: String = joined.chars().take(SNIPPET_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_keep_the_matching_lines_in_order() {
        let text = "# Cache\nIntro line.\nmatchmaker logs connection refused from redis-sessions\nunrelated\nPromote the replica when failover hangs\n";
        let s = snippet(text, "redis-sessions connection refused failover");
        assert_eq!(
            s,
            "matchmaker logs connection refused from redis-sessions … Promote the replica when failover hangs"
        );
        let long = "word ".repeat(500);
        assert!(snippet(&long, "word").chars().count() <= SNIPPET_CHARS + 1);
    }
}
