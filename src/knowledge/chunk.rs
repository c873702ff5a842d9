//! Chunking: Markdown runbooks split by heading section (about 512 tokens, 64 overlap, the
//! heading path kept), post-mortems with their front matter (id, date, services, root_cause,
//! resolution) as metadata.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// About 4 characters a token.
const CHUNK_CHARS: usize = 512 * 4;
const OVERLAP_CHARS: usize = 64 * 4;

/// One indexed piece of knowledge.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub id: String,
    pub corpus: String,
    pub title: String,
    pub source: String,
    pub section: Vec<String>,
    pub line: usize,
    pub text: String,
    pub meta: Value,
    pub hash: String,
}

pub(crate) fn hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Splits Markdown into heading sections; a long section becomes overlapping windows.
/// Fenced code blocks are kept whole (a `#` inside them is not a heading).
pub fn markdown(corpus: &str, path: &Path, text: &str, meta: Value) -> Vec<Chunk> {
    let stem = path
        .file_stem()
        .map_or("doc".into(), |s| s.to_string_lossy().to_string());
    let mut sections: Vec<(Vec<String>, usize, String)> = Vec::new();
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    let mut in_fence = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if !in_fence && (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            if !current.trim().is_empty() {
                sections.push((
                    headings.iter().map(|h| h.1.clone()).collect(),
                    start,
                    std::mem::take(&mut current),
                ));
            }
            current.clear();
            headings.retain(|(l, _)| *l < level);
            headings.push((level, trimmed[level..].trim().to_string()));
            start = index + 1;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        sections.push((
            headings.iter().map(|h| h.1.clone()).collect(),
            start,
            current,
        ));
    }
    let document_title = sections
        .iter()
        .find_map(|(path, _, _)| path.first().cloned())
        .unwrap_or_else(|| stem.clone());
    let mut chunks = Vec::new();
    for (section, line, body) in sections {
        let anchor = section.last().map(|s| slug(s)).unwrap_or_default();
        let chars: Vec<char> = body.chars().collect();
        let mut offset = 0;
        let mut part = 0;
        while offset < chars.len() {
            let end = (offset + CHUNK_CHARS).min(chars.len());
            let piece: String = chars[offset..end].iter().collect();
            let id = match (anchor.is_empty(), part) {
                (true, 0) => format!("{}.{stem}", corpus.trim_end_matches('s')),
                (true, n) => format!("{}.{stem}.{n}", corpus.trim_end_matches('s')),
                (false, 0) => format!("{}.{stem}#{anchor}", corpus.trim_end_matches('s')),
                (false, n) => format!("{}.{stem}#{anchor}.{n}", corpus.trim_end_matches('s')),
            };
            let title = if section.is_empty() {
                document_title.clone()
            } else {
                section.join(" › ")
            };
            chunks.push(Chunk {
                hash: hash(&format!("{title}\n{piece}")),
                id,
                corpus: corpus.to_string(),
                title,
                source: path.display().to_string(),
                section: section.clone(),
                line,
                text: piece,
                meta: meta.clone(),
            });
            if end == chars.len() {
                break;
            }
            offset = end - OVERLAP_CHARS;
            part += 1;
        }
    }
    chunks
}

/// An HTML export (a Confluence page, a wiki page) converted to Markdown-like text with its
/// headings kept, then chunked as Markdown. The `<title>` names the document when the body
/// has no top-level heading.
pub fn html(corpus: &str, path: &Path, html: &str) -> Vec<Chunk> {
    let mut text = html2text::from_read(html.as_bytes(), 10_000).unwrap_or_default();
    let title = html
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title.trim().to_string())
        .filter(|t| !t.is_empty());
    if let Some(title) = title
        && !text.trim_start().starts_with("# ")
    {
        text = format!("# {title}\n\n{text}");
    }
    markdown(corpus, path, &text, Value::Null)
}

/// A post-mortem: YAML front matter between `---` lines, then Markdown. Its chunks are
/// named after the incident id (`postmortem.INC-2024-047#timeline`).
pub fn postmortem(path: &Path, text: &str) -> Vec<Chunk> {
    front_matter_document("postmortems", path, text)
}

/// A document with front matter (a post-mortem, an incident memory record): chunks named
/// after its `id` (`incident.<id>#symptoms`), led by one summary chunk of the front matter.
pub fn front_matter_document(corpus: &str, path: &Path, text: &str) -> Vec<Chunk> {
    let prefix = corpus.trim_end_matches('s');
    let (meta, body) = match text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---"))
    {
        Some((front, body)) => (
            serde_yaml_ng::from_str::<Value>(front).unwrap_or(Value::Null),
            body.trim_start_matches('\n'),
        ),
        None => (Value::Null, text),
    };
    let id = meta["id"].as_str().map(str::to_string);
    let mut chunks = markdown(corpus, path, body, meta.clone());
    if let Some(id) = id {
        let stem = path
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().to_string());
        for chunk in &mut chunks {
            chunk.id = chunk
                .id
                .replacen(&format!("{prefix}.{stem}"), &format!("{prefix}.{id}"), 1);
            if chunk.section.len() <= 1 {
                chunk.title = format!("{id}: {}", chunk.title);
            }
        }
        // The front matter itself is the best single summary of the incident.
        let summary = format!(
            "{id} {}\nservices: {}\nroot cause: {}\nresolution: {}",
            meta["title"].as_str().unwrap_or(""),
            meta["services"]
                .as_array()
                .map(|s| s
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            meta["root_cause"].as_str().unwrap_or(""),
            meta["resolution"].as_str().unwrap_or("")
        );
        chunks.insert(
            0,
            Chunk {
                hash: hash(&summary),
                id: format!("{prefix}.{id}"),
                corpus: corpus.into(),
                title: format!("{id}: {}", meta["title"].as_str().unwrap_or(prefix)),
                source: path.display().to_string(),
                section: Vec::new(),
                line: 1,
                text: summary,
                meta: json!(meta),
            },
        );
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_splits_by_heading_and_keeps_the_path() {
        let text = "# Postgres CPU\nintro\n## High CPU on the primary\n1. check\n```sh\n# not a heading\n```\n## Failover\nsteps\n";
        let chunks = markdown(
            "runbooks",
            Path::new("runbooks/postgres-cpu.md"),
            text,
            Value::Null,
        );
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "runbook.postgres-cpu#postgres-cpu",
                "runbook.postgres-cpu#high-cpu-on-the-primary",
                "runbook.postgres-cpu#failover"
            ]
        );
        assert_eq!(chunks[1].title, "Postgres CPU › High CPU on the primary");
        assert!(chunks[1].text.contains("# not a heading"));
        assert_eq!(chunks[1].line, 3);
    }

    #[test]
    fn html_exports_keep_their_headings_and_lose_their_markup() {
        let page = "<html><head><title>Redis failover</title></head><body><h1>Redis failover</h1><p>Intro &amp; scope.</p><h2>Promote the replica</h2><ol><li>Open <b>ElastiCache</b></li><li>Promote</li></ol><script>evil()</script></body></html>";
        let chunks = html("runbooks", Path::new("export/redis-failover.html"), page);
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "runbook.redis-failover#redis-failover",
                "runbook.redis-failover#promote-the-replica"
            ]
        );
        assert!(
            chunks[0].text.contains("Intro & scope."),
            "{}",
            chunks[0].text
        );
        assert!(chunks[1].text.contains("ElastiCache"));
        assert!(!chunks.iter().any(|c| c.text.contains('<')));
    }

    #[test]
    fn long_sections_overlap() {
        let text = format!("# Big\n{}", "word ".repeat(1000));
        let chunks = markdown("runbooks", Path::new("big.md"), &text, Value::Null);
        assert!(chunks.len() >= 2);
        let tail: String = chunks[0]
            .text
            .chars()
            .rev()
            .take(50)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(chunks[1].text.contains(&tail), "windows overlap");
    }

    #[test]
    fn postmortems_carry_their_front_matter() {
        let text = "---\nid: INC-2024-047\ntitle: Checkout outage from a full-table scan\nservices: [checkout-api, checkout-db]\nroot_cause: unindexed query in v2.3\nresolution: rolled back and added an index\ncategory: deploy_regression\n---\n# Timeline\n02:11 page\n";
        let chunks = postmortem(Path::new("postmortems/2024-03-checkout.md"), text);
        assert_eq!(chunks[0].id, "postmortem.INC-2024-047");
        assert!(chunks[0].text.contains("rolled back and added an index"));
        assert_eq!(chunks[0].meta["category"], "deploy_regression");
        assert_eq!(chunks[1].id, "postmortem.INC-2024-047#timeline");
    }
}
