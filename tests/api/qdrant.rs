//! The Qdrant server backend: the exact requests it builds (collection layout, upsert keyed by
//! the chunk's UUIDv5, one whole-collection probe per vector, delete by filter, count and
//! manifest scroll), and — when `TRIAGED_TEST_QDRANT_URL` points at a real Qdrant — the whole
//! index against it, including several indexers sharing one collection.

use qdrant_client::qdrant::condition::ConditionOneOf;
use qdrant_client::qdrant::r#match::MatchValue;
use qdrant_client::qdrant::points_selector::PointsSelectorOneOf;
use qdrant_client::qdrant::vectors_config::Config;
use qdrant_client::qdrant::{Distance, Filter, Modifier, query};
use serde_json::json;
use triaged::knowledge::server::{self, IndexPoint};

/// `must` conditions of a filter as (key, keyword) pairs.
fn keyword_matches(filter: &Filter) -> Vec<(String, String)> {
    filter
        .must
        .iter()
        .filter_map(|c| match &c.condition_one_of {
            Some(ConditionOneOf::Field(field)) => {
                match field.r#match.as_ref()?.match_value.as_ref()? {
                    MatchValue::Keyword(k) => Some((field.key.clone(), k.clone())),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_collection_has_bm25_with_idf_and_an_optional_cosine_dense_vector() {
    let request = server::create_collection_request("kb", Some(256));
    assert_eq!(request.collection_name, "kb");
    let sparse = &request.sparse_vectors_config.as_ref().unwrap().map["bm25"];
    assert_eq!(sparse.modifier, Some(Modifier::Idf as i32));
    match request.vectors_config.and_then(|v| v.config) {
        Some(Config::ParamsMap(map)) => {
            let dense = &map.map["dense"];
            assert_eq!(dense.size, 256);
            assert_eq!(dense.distance, Distance::Cosine as i32);
            assert_eq!(map.map.len(), 1);
        }
        other => panic!("expected named vector params, got {other:?}"),
    }
    let bm25_only = server::create_collection_request("kb", None);
    assert!(bm25_only.vectors_config.is_none());
    assert!(
        bm25_only
            .sparse_vectors_config
            .unwrap()
            .map
            .contains_key("bm25")
    );
}

#[test]
fn the_fields_searches_and_deletes_filter_on_get_keyword_indexes() {
    let requests = server::field_index_requests("kb");
    let fields: Vec<(&str, &str, i32, Option<bool>)> = requests
        .iter()
        .map(|r| {
            (
                r.collection_name.as_str(),
                r.field_name.as_str(),
                r.field_type.unwrap_or_default(),
                r.wait,
            )
        })
        .collect();
    let keyword = qdrant_client::qdrant::FieldType::Keyword as i32;
    assert_eq!(
        fields,
        [
            ("kb", "corpus", keyword, Some(true)),
            ("kb", "source", keyword, Some(true))
        ]
    );
}

#[test]
fn upserts_carry_named_sparse_and_dense_vectors_and_the_payload_and_wait() {
    let point = IndexPoint {
        id: 7,
        chunk_id: "runbook.x#y".into(),
        sparse_indices: vec![3, 17],
        sparse_values: vec![1.0, 0.5],
        dense: Some(vec![0.6, 0.8]),
        payload: json!({"chunk_id": "runbook.x#y", "corpus": "runbooks", "source": "docs/x.md", "line": 3}),
    };
    let request = server::upsert_request("kb", &[point]).unwrap();
    assert_eq!(request.collection_name, "kb");
    assert_eq!(request.wait, Some(true));
    let stored = &request.points[0];
    // The server keys a point by its chunk id, never by a replica's local counter.
    let uuid = server::point_uuid("runbook.x#y");
    assert_eq!(uuid, server::point_uuid("runbook.x#y"));
    assert_ne!(uuid, server::point_uuid("runbook.x#z"));
    assert_eq!(uuid::Uuid::parse_str(&uuid).unwrap().get_version_num(), 5);
    assert_eq!(
        format!("{:?}", stored.id),
        format!("{:?}", Some(qdrant_client::qdrant::PointId::from(uuid)))
    );
    let vectors = format!("{:?}", stored.vectors);
    assert!(
        vectors.contains("\"bm25\"") && vectors.contains("\"dense\""),
        "{vectors}"
    );
    assert!(
        vectors.contains("indices: [3, 17]") || vectors.contains("[3, 17]"),
        "{vectors}"
    );
    assert!(
        vectors.contains("0.6") && vectors.contains("0.8"),
        "{vectors}"
    );
    let payload: serde_json::Value =
        serde_json::Value::from(qdrant_client::Payload::from(stored.payload.clone()));
    assert_eq!(payload["corpus"], "runbooks");
    assert_eq!(payload["line"], 3);
}

#[test]
fn each_probe_searches_the_whole_collection_by_one_named_vector_for_raw_scores() {
    let dense = server::query_request("kb", server::Probe::Dense(&[0.1, 0.2]), 24);
    assert_eq!(dense.collection_name, "kb");
    assert_eq!(dense.limit, Some(24));
    assert_eq!(dense.using.as_deref(), Some("dense"));
    // One ranking across corpora: no per-corpus filter, no server-side fusion.
    assert!(dense.filter.is_none());
    assert!(dense.prefetch.is_empty());
    assert!(matches!(
        dense.query.as_ref().and_then(|q| q.variant.as_ref()),
        Some(query::Variant::Nearest(_))
    ));
    assert!(format!("{:?}", dense.with_payload).contains("Enable(true)"));

    let sparse = server::query_request("kb", server::Probe::Sparse(&[1], &[1.0]), 5);
    assert!(sparse.prefetch.is_empty() && sparse.filter.is_none());
    assert_eq!(sparse.using.as_deref(), Some("bm25"));
    let batch = server::query_batch_request("kb", vec![sparse, dense]);
    assert_eq!(batch.query_points.len(), 2);
}

#[test]
fn the_manifest_is_checked_by_an_exact_count_and_read_back_without_vectors() {
    let count = server::count_request("kb");
    assert_eq!(count.collection_name, "kb");
    assert_eq!(count.exact, Some(true));
    let first = server::scroll_request("kb", None);
    assert!(first.offset.is_none());
    let selector = format!("{:?}", first.with_payload);
    for field in server::MANIFEST_FIELDS {
        assert!(selector.contains(field), "{selector}");
    }
    assert!(!selector.contains("\"text\""), "{selector}");
    assert!(format!("{:?}", first.with_vectors).contains("Enable(false)"));
    let next = server::scroll_request(
        "kb",
        Some(qdrant_client::qdrant::PointId::from(server::point_uuid(
            "a",
        ))),
    );
    assert!(next.offset.is_some());
}

#[test]
fn deleted_files_go_by_a_filter_on_their_source_and_sections_by_id() {
    let request = server::delete_by_source_request("kb", "docs/runbooks/old.md");
    assert_eq!(request.collection_name, "kb");
    assert_eq!(request.wait, Some(true));
    match request.points.and_then(|p| p.points_selector_one_of) {
        Some(PointsSelectorOneOf::Filter(filter)) => assert_eq!(
            keyword_matches(&filter),
            [("source".to_string(), "docs/runbooks/old.md".to_string())]
        ),
        other => panic!("expected a filter, got {other:?}"),
    }
    let by_id = server::delete_ids_request("kb", &["runbook.a#b".into(), "runbook.a#c".into()]);
    match by_id.points.and_then(|p| p.points_selector_one_of) {
        Some(PointsSelectorOneOf::Points(list)) => assert_eq!(
            list.ids,
            [
                qdrant_client::qdrant::PointId::from(server::point_uuid("runbook.a#b")),
                qdrant_client::qdrant::PointId::from(server::point_uuid("runbook.a#c"))
            ]
        ),
        other => panic!("expected ids, got {other:?}"),
    }
}

#[test]
fn an_unreachable_qdrant_is_a_clear_error_on_each_use_not_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let target = triaged::knowledge::ServerTarget {
        url: "http://127.0.0.1:1".into(),
        api_key: None,
        collection: "kb".into(),
    };
    // The index opens (a daemon starts while its Qdrant is down) and is not taken for empty;
    // each use says why it cannot answer.
    let index =
        triaged::knowledge::KnowledgeIndex::open_on(dir.path(), None, Some(target)).unwrap();
    assert!(!index.is_empty());
    let error = index.search("connection pool exhausted", 3).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("http://127.0.0.1:1"), "{text}");
    assert!(
        text.contains("unreachable") && text.contains("6334"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "one sentence: {text}");
}

/// A collection on the real server, dropped when the test ends (pass or fail).
struct RealCollection {
    url: String,
    name: String,
}

impl RealCollection {
    /// `None` without `TRIAGED_TEST_QDRANT_URL`.
    fn new() -> Self {
        let url = std::env::var("TRIAGED_TEST_QDRANT_URL").expect("TRIAGED_TEST_QDRANT_URL");
        Self {
            url,
            name: format!("triaged_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn target(&self) -> triaged::knowledge::ServerTarget {
        triaged::knowledge::ServerTarget {
            url: self.url.clone(),
            api_key: std::env::var("QDRANT_API_KEY").ok(),
            collection: self.name.clone(),
        }
    }

    fn client(&self) -> (tokio::runtime::Runtime, qdrant_client::Qdrant) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = {
            let _guard = runtime.enter();
            qdrant_client::Qdrant::from_url(&self.url)
                .api_key(std::env::var("QDRANT_API_KEY").ok())
                .skip_compatibility_check()
                .build()
                .unwrap()
        };
        (runtime, client)
    }

    fn count(&self) -> u64 {
        let (runtime, client) = self.client();
        runtime
            .block_on(client.count(server::count_request(&self.name)))
            .unwrap()
            .result
            .unwrap()
            .count
    }

    /// Strict mode on, refusing filters on fields without a payload index.
    fn strict(&self) {
        let (runtime, client) = self.client();
        runtime
            .block_on(
                client.update_collection(
                    qdrant_client::qdrant::UpdateCollectionBuilder::new(&self.name)
                        .strict_mode_config(
                            qdrant_client::qdrant::StrictModeConfigBuilder::default()
                                .enabled(true)
                                .unindexed_filtering_retrieve(false)
                                .unindexed_filtering_update(false),
                        ),
                ),
            )
            .unwrap();
    }

    fn drop_collection(&self) {
        let (runtime, client) = self.client();
        let _ = runtime.block_on(client.delete_collection(&self.name));
    }
}

impl Drop for RealCollection {
    fn drop(&mut self) {
        self.drop_collection();
    }
}

fn knowledge_base() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/base/knowledge")
}

/// Runs only against a real Qdrant: `TRIAGED_TEST_QDRANT_URL=http://localhost:6334 cargo
/// nextest run --run-ignored only real_qdrant`; `.ci/run` does so when the variable is set.
/// Without a server it is marked ignored (reported as skipped), never passed without running.
#[test]
#[ignore = "needs a Qdrant server: set TRIAGED_TEST_QDRANT_URL and pass --run-ignored"]
fn real_qdrant_indexes_searches_and_deletes_like_the_embedded_shard() {
    let collection = RealCollection::new();
    let dir = tempfile::tempdir().unwrap();
    let base = knowledge_base();
    let index =
        triaged::knowledge::KnowledgeIndex::open_on(dir.path(), None, Some(collection.target()))
            .unwrap();
    let report = index.index_corpora(&base).unwrap();
    assert_eq!(collection.count(), report.chunks as u64);
    // A strict-mode server refuses filters on unindexed fields; `corpus` and `source` are
    // indexed, so searching and deleting by source keep working.
    collection.strict();
    let queries = triaged::knowledge::labelled::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/retrieval/queries.toml"),
    )
    .unwrap();
    let on_server = triaged::knowledge::labelled::evaluate(&index, &queries).unwrap();
    let embedded_dir = tempfile::tempdir().unwrap();
    let embedded = triaged::knowledge::KnowledgeIndex::open(embedded_dir.path()).unwrap();
    embedded.index_corpora(&base).unwrap();
    let local = triaged::knowledge::labelled::evaluate(&embedded, &queries).unwrap();
    // Same vectors, same fusion in the client: the same ranking on both backends.
    assert!(
        (on_server.mrr - local.mrr).abs() < 0.02
            && (on_server.recall[&1] - local.recall[&1]).abs() < 0.02,
        "server\n{}\nembedded\n{}",
        on_server.to_text(),
        local.to_text()
    );
    assert!(on_server.recall[&5] >= 0.9, "{}", on_server.to_text());
    assert!(
        index.search("???", 5).unwrap().is_empty(),
        "no lexical match is no match"
    );

    // A deleted file's chunks go by filter on the server too.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        base.join("runbooks/tls-certificates.md"),
        copy.path().join("tls.md"),
    )
    .unwrap();
    index.index_path("runbooks", copy.path()).unwrap();
    let found = |index: &triaged::knowledge::KnowledgeIndex| {
        index
            .search("x509 certificate expired tls", 20)
            .unwrap()
            .iter()
            .any(|m| m.source.as_deref().is_some_and(|s| s.ends_with("tls.md")))
    };
    assert!(found(&index));
    std::fs::remove_file(copy.path().join("tls.md")).unwrap();
    index.index_path("runbooks", copy.path()).unwrap();
    assert!(!found(&index));
    assert_eq!(collection.count(), report.chunks as u64);
}

/// The collection, not a replica's data dir, is the truth: a new data dir finds what is
/// there; a collection deleted under a data dir is filled again; replicas indexing the same
/// knowledge at once leave exactly one point per chunk.
#[test]
#[ignore = "needs a Qdrant server: set TRIAGED_TEST_QDRANT_URL and pass --run-ignored"]
fn real_qdrant_is_shared_state_for_replicas() {
    let collection = RealCollection::new();
    let base = knowledge_base();
    let replicas: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let reports: Vec<triaged::knowledge::IndexReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = replicas
            .iter()
            .map(|dir| {
                let target = collection.target();
                let base = base.clone();
                scope.spawn(move || {
                    triaged::knowledge::KnowledgeIndex::open_on(dir.path(), None, Some(target))
                        .unwrap()
                        .index_corpora(&base)
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let chunks = reports[0].chunks as u64;
    assert!(chunks > 50);
    assert_eq!(
        collection.count(),
        chunks,
        "one point per chunk: {reports:?}"
    );

    // A fresh data dir reads the manifest from the collection: nothing to write.
    let fresh = tempfile::tempdir().unwrap();
    let index =
        triaged::knowledge::KnowledgeIndex::open_on(fresh.path(), None, Some(collection.target()))
            .unwrap();
    assert_eq!(index.len() as u64, chunks);
    let again = index.index_corpora(&base).unwrap();
    assert_eq!((again.indexed, again.unchanged), (0, reports[0].chunks));
    assert!(
        !index
            .search("x509 certificate expired", 3)
            .unwrap()
            .is_empty()
    );
    drop(index);

    // The collection deleted under an existing data dir: the next run writes everything.
    collection.drop_collection();
    let index =
        triaged::knowledge::KnowledgeIndex::open_on(fresh.path(), None, Some(collection.target()))
            .unwrap();
    let refilled = index.index_corpora(&base).unwrap();
    assert_eq!(refilled.indexed, refilled.chunks);
    assert_eq!(collection.count(), chunks);
}

/// A daemon whose Qdrant server is down starts anyway (indexing on start and the memory's
/// first indexing fail and are logged), and an incident still gets its brief, which names
/// the knowledge gap and why.
#[tokio::test]
async fn a_daemon_whose_qdrant_is_down_starts_and_its_briefs_name_the_gap() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scenario = root.join("tests/scenarios/deploy-full-table-scan");
    let runbooks = root.join("tests/scenarios/base/knowledge/runbooks");
    let recorded = scenario.join("evidence.json");
    let app = crate::helpers::spawn_app_with_pipeline(
        move |s| {
            s.knowledge.qdrant_url = "http://127.0.0.1:1".into();
            s.knowledge.runbooks = vec![runbooks];
            s.knowledge.index_on_start = true;
            s.collectors.recorded = vec![recorded];
        },
        crate::helpers::test_secrets(),
    )
    .await;
    let payload = std::fs::read_to_string(scenario.join("alert.json")).unwrap();
    let receipt: serde_json::Value = app.post_datadog(&payload).await.json().await.unwrap();
    let id = receipt["incident_id"].as_str().unwrap().to_string();
    let detail = app
        .wait_for_incident(&id, "a brief", |d| d.brief.is_some())
        .await;
    let brief = detail.brief.unwrap();
    let gaps = brief["triage"]["data_gaps"].to_string();
    assert!(
        gaps.contains("knowledge") && gaps.contains("Qdrant at http://127.0.0.1:1 is unreachable"),
        "{gaps}"
    );
    // The rest of the brief still stands on the evidence.
    assert_ne!(
        brief["triage"]["root_cause"]["category"], "unknown",
        "{brief}"
    );
}
