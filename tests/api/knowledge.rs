//! The knowledge index in embedded Qdrant Edge: BM25 retrieval, incremental re-indexing,
//! persistence, and the `index` / `search` verbs.

use std::process::Command;

use triaged::knowledge::KnowledgeIndex;

fn samples() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/samples/knowledge")
}

#[test]
fn bm25_finds_the_right_section_and_reindexing_skips_what_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    for file in ["postgres-cpu.md", "redis-sessions.md"] {
        std::fs::copy(samples().join("runbooks").join(file), runbooks.join(file)).unwrap();
    }
    let index = KnowledgeIndex::open(&dir.path().join("index")).unwrap();
    let first = index.index_path("runbooks", &runbooks).unwrap();
    assert_eq!(
        (first.files, first.indexed, first.unchanged),
        (2, first.chunks, 0)
    );

    let hits = index
        .search("redis-sessions connection refused circuit breaker", 3)
        .unwrap();
    assert_eq!(
        hits[0].id,
        "runbook.redis-sessions#connection-refused-or-timeouts"
    );
    assert!(hits[0].score > hits.last().unwrap().score);
    assert!(
        hits.iter()
            .all(|h| h.corpus == "runbooks" && h.updated_at.is_some())
    );
    let hits = index
        .search("prod-postgres-primary pg_stat_activity", 1)
        .unwrap();
    assert_eq!(hits.len(), 1, "per-corpus limit");
    assert_eq!(hits[0].id, "runbook.postgres-cpu#high-cpu-on-the-primary");

    let again = index.index_path("runbooks", &runbooks).unwrap();
    assert_eq!(
        (again.indexed, again.unchanged),
        (0, first.chunks),
        "unchanged chunks are skipped"
    );

    // A section disappears from a file: its chunk is removed, the others stay.
    let text = std::fs::read_to_string(runbooks.join("postgres-cpu.md")).unwrap();
    let cut = text
        .split("## Connection exhaustion")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(runbooks.join("postgres-cpu.md"), cut).unwrap();
    let third = index.index_path("runbooks", &runbooks).unwrap();
    assert_eq!(third.removed, 1);
    assert!(
        index
            .search("connection exhaustion max_connections pool sizes", 3)
            .unwrap()
            .iter()
            .all(|h| h.id != "runbook.postgres-cpu#connection-exhaustion")
    );

    // Everything survives a reopen.
    drop(index);
    let reopened = KnowledgeIndex::open(&dir.path().join("index")).unwrap();
    assert_eq!(reopened.len(), first.chunks - 1);
    assert_eq!(
        reopened.search("evictions failover replica", 1).unwrap()[0].id,
        "runbook.redis-sessions#connection-refused-or-timeouts"
    );
}

#[test]
fn postmortems_are_found_by_their_front_matter() {
    let dir = tempfile::tempdir().unwrap();
    let index = KnowledgeIndex::open(&dir.path().join("index")).unwrap();
    index
        .index_path("postmortems", &samples().join("postmortems"))
        .unwrap();
    let hits = index
        .search(
            "checkout-api deploy full table scan prod-postgres-primary CPU",
            3,
        )
        .unwrap();
    assert_eq!(hits[0].id, "postmortem.INC-2024-047");
    assert_eq!(
        hits[0].meta["resolution"],
        "rolled back checkout-api to v2.2.4, then added the index on orders(customer_id, created_at)"
    );
    assert!(
        hits[0].score >= triaged::analysis::signals::PAST_INCIDENT_THRESHOLD,
        "a close match counts as a past incident: {}",
        hits[0].score
    );
}

#[test]
fn the_index_and_search_verbs_work_on_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let triaged = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_triaged"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let indexed = triaged(&[
        "index",
        "config/samples/knowledge/runbooks",
        "config/samples/knowledge/postmortems",
    ]);
    assert!(
        indexed.status.success(),
        "{}",
        String::from_utf8_lossy(&indexed.stderr)
    );
    assert!(String::from_utf8_lossy(&indexed.stdout).contains("chunks indexed"));
    let found = triaged(&["search", "redis-sessions evictions", "--k", "1"]);
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(
        stdout.contains("runbook.redis-sessions#connection-refused-or-timeouts"),
        "{stdout}"
    );
}
