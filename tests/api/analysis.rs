//! The analyst against a fake OpenAI-compatible server that answers as the API documents,
//! including its failure shapes, and the rules analyst on the classic incident shapes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use triaged::analysis::{Analyst, Brief};
use triaged::catalog::ServiceCatalog;
use triaged::config::{MaxTokensField, Secrets, Settings};
use triaged::domain::{
    Alert, AlertSource, EvidenceBundle, EvidenceItem, SourceReport, SourceStatus, Tag, Targets,
    Transition, Window,
};
use triaged::domain::{Category, Confidence};
use triaged::pipeline::stages;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::respond_once_then;

const PLANTED: [&str; 4] = [
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJlLXZhbHVl",
    "hunter2",
    "dana.oncall@example.com",
];

fn onset() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 2, 11, 0).unwrap()
}

fn item(
    id: &str,
    source: &str,
    kind: &str,
    minutes: Option<i64>,
    anomaly: f64,
    summary: &str,
    data: Value,
) -> EvidenceItem {
    EvidenceItem {
        id: id.into(),
        source: source.into(),
        kind: kind.into(),
        at: minutes.map(|m| onset() + Duration::minutes(m)),
        summary: summary.into(),
        anomaly,
        data,
    }
}

fn bundle(targets: Targets, items: Vec<EvidenceItem>) -> EvidenceBundle {
    EvidenceBundle {
        targets,
        window: Window {
            start: onset() - Duration::minutes(30),
            onset: onset(),
            end: onset() + Duration::minutes(6),
        },
        items,
        reports: vec![
            SourceReport {
                source: "aws".into(),
                status: SourceStatus::Ok,
                message: None,
                elapsed_ms: 840,
                items: 2,
            },
            SourceReport {
                source: "cloudflare".into(),
                status: SourceStatus::NotConfigured,
                message: Some("CLOUDFLARE_API_TOKEN is not set".into()),
                elapsed_ms: 0,
                items: 0,
            },
            SourceReport {
                source: "datadog".into(),
                status: SourceStatus::Timeout,
                message: Some("timed out after 8 s".into()),
                elapsed_ms: 8000,
                items: 0,
            },
            SourceReport {
                source: "kubernetes".into(),
                status: SourceStatus::Ok,
                message: None,
                elapsed_ms: 310,
                items: 3,
            },
        ],
        dropped: Vec::new(),
        collected_at: (onset() + Duration::minutes(6)).timestamp_millis(),
    }
}

fn alert(title: &str, service: &str) -> Alert {
    Alert {
        source: AlertSource::Datadog,
        delivery_id: "7311054470861829421".into(),
        dedup_key: "datadog:88123401:*".into(),
        transition: Transition::Triggered,
        event_type: "Triggered".into(),
        title: title.into(),
        message: Some("p99 above 2 s. Ping dana.oncall@example.com; dsn postgres://checkout:hunter2@db:5432/checkout".into()),
        priority: Some("P2".into()),
        service: Some(service.into()),
        tags: vec![Tag::new("env", "prod"), Tag::new("service", service)],
        monitor_id: Some("88123401".into()),
        monitor_query: Some("avg(last_5m):p99:trace.http.request.duration{service:checkout-api} > 2".into()),
        metric: None,
        link: None,
        fired_at: onset(),
        raw: "{}".into(),
    }
}

/// A deploy adds a full-table scan; the database saturates. Distractors: an HPA and the edge.
fn deploy_regression() -> (Alert, EvidenceBundle) {
    let targets = Targets {
        service: Some("checkout-api".into()),
        kube_namespace: Some("production".into()),
        kube_workloads: vec!["checkout-api".into()],
        rds_instances: vec!["prod-postgres-primary".into()],
        dependencies: vec!["redis-sessions".into()],
        ..Targets::default()
    };
    let items = vec![
        item(
            "k8s.rollout.production/checkout-api.rev118",
            "kubernetes",
            "rollout",
            Some(-4),
            0.9,
            "checkout-api rolled out registry.example.com/checkout-api:v3.41.0 (revision 118) at 02:07, 4 min before onset, replacing registry.example.com/checkout-api:v3.40.2",
            json!({"deployment": "checkout-api", "revision": 118}),
        ),
        item(
            "aws.rds.prod-postgres-primary.cpu",
            "aws",
            "metric",
            None,
            0.9,
            "prod-postgres-primary CPU: last 97.2%, max 98.1%, before onset 31.4",
            json!({"metric": "CPUUtilization", "series": {"max": 98.1, "min": 28.0, "last": 97.2, "points": [], "onset_index": 30}}),
        ),
        item(
            "aws.rds.prod-postgres-primary.connections",
            "aws",
            "metric",
            None,
            0.4,
            "prod-postgres-primary connections: max 61 of max_connections 400 (15%)",
            json!({"metric": "DatabaseConnections", "series": {"max": 61.0, "min": 40.0, "last": 58.0, "points": [], "onset_index": 30}, "max_connections": 400.0}),
        ),
        item(
            "k8s.logs.production/checkout-api-6f7d9c-2kq9z",
            "kubernetes",
            "logs",
            Some(3),
            0.7,
            "previous container log, last line: canceling statement due to statement timeout (query: SELECT * FROM orders WHERE note ILIKE $1) key AKIAIOSFODNN7EXAMPLE",
            json!({"tail": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJlLXZhbHVl"}),
        ),
        item(
            "k8s.hpa.production/checkout-api",
            "kubernetes",
            "hpa",
            None,
            0.3,
            "HPA checkout-api: 6 replicas (desired 6, max 20)",
            json!({"current": 6, "max": 20}),
        ),
    ];
    (
        alert(
            "[Triggered] checkout-api p99 latency above 2s",
            "checkout-api",
        ),
        bundle(targets, items),
    )
}

/// A cache outage exhausts the database pool and opens a circuit breaker upstream.
fn cache_pool_exhaustion() -> (Alert, EvidenceBundle) {
    let targets = Targets {
        service: Some("payments-api".into()),
        kube_namespace: Some("production".into()),
        kube_workloads: vec!["payments-api".into()],
        rds_instances: vec!["payments-db".into()],
        dependencies: vec!["redis-sessions".into(), "payments-db".into()],
        ..Targets::default()
    };
    let items = vec![
        item(
            "datadog.logs.payments-api.errors",
            "datadog",
            "logs",
            Some(1),
            0.9,
            "412 error logs for payments-api (398 after onset), 3 distinct; top ×251: \"Could not get a resource from the pool: redis-sessions:6379 Connection refused\"",
            json!({"total": 412, "after_onset": 398, "groups": [
                 {"count": 251, "example": "Could not get a resource from the pool: redis-sessions:6379 Connection refused"},
                 {"count": 120, "example": "HikariPool-1 - Connection is not available, request timed out after 30000ms."},
                 {"count": 41, "example": "CircuitBreaker 'ledger' is OPEN and does not permit further calls"}]}),
        ),
        item(
            "aws.rds.payments-db.connections",
            "aws",
            "metric",
            None,
            0.9,
            "payments-db connections: max 198 of max_connections 200 (99%)",
            json!({"metric": "DatabaseConnections", "series": {"max": 198.0, "min": 60.0, "last": 197.0, "points": [], "onset_index": 30}, "max_connections": 200.0}),
        ),
        item(
            "k8s.rollout.production/payments-api.rev77",
            "kubernetes",
            "rollout",
            Some(-2880),
            0.15,
            "payments-api rolled out v2.8.1 (revision 77) at 02:11, 2880 min before onset",
            json!({}),
        ),
    ];
    (
        alert(
            "[Triggered] payments-api error rate above 5%",
            "payments-api",
        ),
        bundle(targets, items),
    )
}

/// Pods OOMKilled by abnormally large payloads; no deploy.
fn oom_killed() -> (Alert, EvidenceBundle) {
    let targets = Targets {
        service: Some("image-resizer".into()),
        kube_namespace: Some("media".into()),
        kube_workloads: vec!["image-resizer".into()],
        ..Targets::default()
    };
    let items = vec![
        item(
            "k8s.pod.media/image-resizer-5d8f7-x2x7q",
            "kubernetes",
            "pod",
            Some(2),
            0.9,
            "pod image-resizer-5d8f7-x2x7q: Running, 6 restarts, waiting: CrashLoopBackOff, last terminated OOMKilled (exit 137) at 02:13",
            json!({"restarts": 6, "waiting": ["CrashLoopBackOff"], "last_terminations": [{"reason": "OOMKilled", "exit_code": 137}]}),
        ),
        item(
            "k8s.event.media.BackOff.pod/image-resizer-5d8f7-x2x7q",
            "kubernetes",
            "event",
            Some(3),
            0.8,
            "14× BackOff on pod/image-resizer-5d8f7-x2x7q: Back-off restarting failed container",
            json!({"reason": "BackOff"}),
        ),
        item(
            "datadog.metric.trace.http.request.content_length",
            "datadog",
            "metric",
            None,
            0.6,
            "trace.http.request.content_length {service:image-resizer}: last 48210331, max 61834112, before onset 812034",
            json!({"series": {"max": 61834112.0}}),
        ),
    ];
    (
        alert("[Triggered] image-resizer restarts", "image-resizer"),
        bundle(targets, items),
    )
}

/// A layer-7 DDoS at the edge; a deploy two days ago is a red herring.
fn ddos() -> (Alert, EvidenceBundle) {
    let zone = "023e105f4ecef8ad9ca31a8372d0c353";
    let targets = Targets {
        service: Some("storefront".into()),
        cloudflare_zone: Some(zone.into()),
        kube_namespace: Some("web".into()),
        kube_workloads: vec!["storefront".into()],
        ..Targets::default()
    };
    let items = vec![
        item(
            &format!("cloudflare.{zone}.firewall"),
            "cloudflare",
            "edge_firewall",
            None,
            0.9,
            "Firewall events: 1840000 (1840000 blocked or challenged, 1790000 by l7ddos); top: block by l7ddos rule dd0c4e7a from BR",
            json!({"total": 1840000.0, "l7ddos": 1790000.0, "blocked": 1840000.0}),
        ),
        item(
            &format!("cloudflare.{zone}.edge_ttfb"),
            "cloudflare",
            "edge_latency",
            None,
            0.7,
            "Edge TTFB p99: last 3900 ms, max 4800 ms, before onset 310 ms",
            json!({}),
        ),
        item(
            "k8s.rollout.production/storefront.rev203",
            "kubernetes",
            "rollout",
            Some(-2900),
            0.15,
            "storefront rolled out v9.2.0 (revision 203)",
            json!({}),
        ),
    ];
    (
        alert("[Triggered] storefront p99 latency high", "storefront"),
        bundle(targets, items),
    )
}

fn rules_analyst() -> Analyst {
    Analyst::from_settings(
        &Settings::default(),
        &Secrets::default(),
        ServiceCatalog::default(),
    )
}

#[tokio::test]
async fn the_rules_analyst_gets_the_classic_shapes_right() {
    let cases = [
        (
            "deploy regression",
            deploy_regression(),
            Category::DeployRegression,
            "deployment/production/checkout-api",
        ),
        (
            "cache → pool exhaustion",
            cache_pool_exhaustion(),
            Category::DependencyFailure,
            "redis-sessions",
        ),
        (
            "OOM from large payloads",
            oom_killed(),
            Category::ResourceSaturation,
            "deployment/media/image-resizer",
        ),
        (
            "DDoS",
            ddos(),
            Category::DdosOrAbuse,
            "zone/023e105f4ecef8ad9ca31a8372d0c353",
        ),
    ];
    let analyst = rules_analyst();
    for (name, (alert, bundle), category, entity) in cases {
        let brief = stages::analyse(&analyst, &alert, &bundle, &[]).await;
        assert_eq!(brief.analyst, "rules", "{name}");
        assert_eq!(
            brief.fallback_reason.as_deref(),
            Some("no model is configured")
        );
        let rc = &brief.triage.root_cause;
        assert_eq!(
            (rc.category, rc.entity.as_str()),
            (category, entity),
            "{name}: {rc:?}"
        );
        assert!(!rc.evidence_ids.is_empty(), "{name}: cites evidence");
        assert!(
            brief.validation.dropped_ids.is_empty(),
            "{name}: cites only real ids"
        );
        assert!(
            brief.triage.data_gaps.iter().any(|g| g.source == "datadog"),
            "{name}: names the missing source"
        );
        assert!(!brief.triage.actions.is_empty());
    }
    // The deploy case leads with a rollback and shows the command without running it.
    let (alert, bundle) = deploy_regression();
    let brief = stages::analyse(&analyst, &alert, &bundle, &[]).await;
    let first = &brief.triage.actions[0];
    assert_eq!(
        first.command.as_deref(),
        Some("kubectl -n production rollout undo deployment/checkout-api")
    );
    assert!(
        brief
            .triage
            .alternatives
            .iter()
            .any(|a| a.category == Category::ResourceSaturation)
    );
}

// ------------------------------------------------------------ the model behind a fake server

fn triage_args(category: &str, entity: &str, confidence: &str, evidence: &[&str]) -> Value {
    json!({
        "severity": "SEV2",
        "summary": "checkout-api v3.41.0 added an unindexed ILIKE query on orders; prod-postgres-primary CPU saturated within minutes of the rollout.",
        "affected_services": ["checkout-api"],
        "root_cause": {
            "statement": "Revision 118 of checkout-api runs a full-table scan on orders, saturating the primary's CPU.",
            "category": category,
            "entity": entity,
            "confidence": confidence,
            "score": 0.86,
            "evidence_ids": evidence,
            "knowledge_ids": []
        },
        "alternatives": [{
            "statement": "Organic traffic growth saturating the database",
            "category": "traffic_spike",
            "entity": "rds/prod-postgres-primary",
            "why_less_likely": "the HPA is far from its maximum and the onset matches the rollout",
            "evidence_ids": ["k8s.hpa.production/checkout-api"],
            "knowledge_ids": []
        }],
        "actions": [
            {"action": "Restart checkout-api", "kind": "restart", "command": "kubectl -n production rollout restart deployment/checkout-api", "risk": "low", "expected_outcome": "nothing durable", "evidence_ids": [], "knowledge_ids": []},
            {"action": "Roll back checkout-api to revision 117", "kind": "rollback", "command": "kubectl -n production rollout undo deployment/checkout-api", "risk": "low", "expected_outcome": "CPU returns to ~30% within 5 minutes", "evidence_ids": ["k8s.rollout.production/checkout-api.rev118"], "knowledge_ids": []}
        ],
        "confidence_breakdown": [{"check": "Rollout 4 minutes before onset", "holds": true, "evidence_ids": ["k8s.rollout.production/checkout-api.rev118"]}],
        "data_gaps": [{"source": "datadog", "reason": "timed out after 8 s", "next_step": "check APM for the slow query"}],
        "past_incident": null,
        "status_page_draft": {"title": "Checkout is slow", "body": "Some customers see slow checkouts. We have identified the cause and are fixing it.", "status": "identified"},
        "escalate": false
    })
}

fn completion(arguments: &str, finish_reason: &str, model: &str) -> Value {
    json!({
        "id": "chatcmpl-AXq1PzT8bL2c9hYyV0x3",
        "object": "chat.completion",
        "created": 1795227412,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{"id": "call_Zq7mW2", "type": "function", "function": {"name": "submit_triage", "arguments": arguments}}],
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": finish_reason
        }],
        "usage": {
            "prompt_tokens": 4210, "completion_tokens": 612, "total_tokens": 4822,
            "prompt_tokens_details": {"cached_tokens": 3072, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_6b68a8204b"
    })
}

fn api_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn model_analyst(server: &MockServer, tweak: impl FnOnce(&mut Settings)) -> Analyst {
    let mut settings = Settings::default();
    settings.llm.base_url = format!("{}/v1", server.uri());
    settings.llm.fast_model = "gpt-4.1-mini".into();
    settings.llm.strong_model = String::new();
    settings.llm.timeout_secs = 10;
    // These fakes answer with one JSON body; streaming has its own tests.
    settings.llm.stream = false;
    tweak(&mut settings);
    let secrets = Secrets::from_lookup(|name| {
        (name == "OPENAI_API_KEY").then(|| "sk-test-not-a-real-key".to_string())
    });
    Analyst::from_settings(&settings, &secrets, ServiceCatalog::default())
}

const DEPLOY_EVIDENCE: [&str; 2] = [
    "k8s.rollout.production/checkout-api.rev118",
    "aws.rds.prod-postgres-primary.cpu",
];

async fn analyse_deploy(analyst: &Analyst) -> Brief {
    let (alert, bundle) = deploy_regression();
    stages::analyse(analyst, &alert, &bundle, &[]).await
}

#[tokio::test]
async fn a_good_tool_call_becomes_the_brief_with_actions_in_safe_order_and_usage() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "HIGH",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({
            "tool_choice": {"type": "function", "function": {"name": "submit_triage"}},
            "parallel_tool_calls": false,
            "tools": [{"type": "function", "function": {"name": "submit_triage", "strict": true}}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "tool_calls",
            "gpt-4.1-mini-2025-04-14",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini");
    assert_eq!(brief.fallback_reason, None);
    let rc = &brief.triage.root_cause;
    assert_eq!(rc.category, Category::DeployRegression);
    assert_eq!(
        rc.confidence,
        Confidence::High,
        "two independent sources: {:?}",
        brief.validation
    );
    assert_eq!(
        brief.triage.actions[0].kind,
        triaged::analysis::schema::ActionKind::Rollback,
        "rollback first"
    );
    let usage = &brief.usage[0];
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens
        ),
        (4210, 612, 3072)
    );
    assert!(usage.cost_usd > 0.0);
}

#[tokio::test]
async fn a_tool_call_that_finishes_with_stop_is_accepted() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "stop",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini");
    assert_eq!(brief.triage.root_cause.confidence, Confidence::Medium);
}

#[tokio::test]
async fn invalid_arguments_get_one_repair_quoting_the_error() {
    let server = MockServer::start().await;
    let good = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    respond_once_then(
        &server,
        None,
        ResponseTemplate::new(200).set_body_json(completion(
            r#"{"severity": "SEV2", "summary": "checkout is slow", "root_cause": {}}"#,
            "tool_calls",
            "gpt-4.1-mini",
        )),
        ResponseTemplate::new(200).set_body_json(completion(&good, "tool_calls", "gpt-4.1-mini")),
    )
    .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini", "{:?}", brief.fallback_reason);
    assert_eq!(brief.usage[0].requests, 2);
    let requests = server.received_requests().await.unwrap();
    // The repair is the standard tool-call form, so roles alternate: the assistant's call as
    // made, then a tool message quoting the error.
    let repair: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let messages = repair["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    let call = &messages[2]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "submit_triage");
    assert_eq!(messages[3]["tool_call_id"], call["id"]);
    let error = messages[3]["content"].as_str().unwrap();
    assert!(error.contains("Rejected: missing field"), "{error}");
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    respond_once_then(&server, None, ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-remaining-requests", "0")
                .set_body_json(api_error("Rate limit reached for gpt-4.1-mini in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.", "requests", Some("rate_limit_exceeded"))), ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "tool_calls",
            "gpt-4.1-mini",
        ))).await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini", "{:?}", brief.fallback_reason);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn repeated_server_errors_fall_back_to_the_rules_analyst() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(api_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "rules");
    let reason = brief.fallback_reason.clone().unwrap();
    assert!(
        reason.contains("gpt-4.1-mini") && reason.contains("500"),
        "{reason}"
    );
    // Why the model did not answer is a data gap of the brief, not only an API field.
    let gap = brief
        .triage
        .data_gaps
        .iter()
        .find(|g| g.source == "model")
        .expect("a model data gap");
    assert!(
        gap.reason.contains("model unavailable") && gap.reason.contains("500"),
        "{}",
        gap.reason
    );
    assert_eq!(
        brief.triage.root_cause.category,
        Category::DeployRegression,
        "a useful brief still arrives"
    );
    assert!(
        server.received_requests().await.unwrap().len() >= 2,
        "retried before giving up"
    );
}

#[tokio::test]
async fn a_truncated_answer_falls_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            r#"{"severity": "SEV2", "summ"#,
            "length",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "rules");
    assert!(brief.fallback_reason.unwrap().contains("truncated"));
}

#[tokio::test]
async fn ids_that_do_not_exist_are_dropped_and_confidence_capped() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "HIGH",
        &[
            "k8s.rollout.production/checkout-api.rev118",
            "datadog.apm.checkout-api.slow_query",
        ],
    )
    .to_string();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(
        brief.validation.dropped_ids,
        ["datadog.apm.checkout-api.slow_query"]
    );
    assert_eq!(
        brief.triage.root_cause.evidence_ids,
        ["k8s.rollout.production/checkout-api.rev118"]
    );
    assert_eq!(
        brief.triage.root_cause.confidence,
        Confidence::Medium,
        "one source cannot carry HIGH"
    );
    assert!(
        brief
            .validation
            .capped
            .as_deref()
            .unwrap()
            .contains("two independent sources")
    );
    assert!(brief.triage.root_cause.score <= triaged::diagnosis::probability(Confidence::Medium));
}

#[tokio::test]
async fn blaming_a_deploy_that_did_not_happen_is_set_aside_for_the_rules_brief() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/media/image-resizer",
        "HIGH",
        &["k8s.pod.media/image-resizer-5d8f7-x2x7q"],
    )
    .to_string();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    let (alert, bundle) = oom_killed();
    let analyst = model_analyst(&server, |_| {});
    let brief = stages::analyse(&analyst, &alert, &bundle, &[]).await;
    // The contradicted answer does not become the brief: the rules analyst's does, and it
    // says why the model's was set aside.
    assert_eq!(brief.analyst, "rules");
    assert_eq!(
        brief.triage.root_cause.category,
        Category::ResourceSaturation,
        "{}",
        brief.headline()
    );
    let reason = brief.fallback_reason.clone().unwrap();
    assert!(
        reason.contains("set aside") && reason.contains("contradicted"),
        "{reason}"
    );
    assert!(
        brief
            .triage
            .data_gaps
            .iter()
            .any(|g| g.source == "model" && g.reason.contains("set aside"))
    );
}

#[tokio::test]
async fn a_model_cause_that_a_check_contradicts_is_lowered_unless_it_answers_the_check() {
    // The database's CPU left its level 20 minutes before the onset; the rollout came 16
    // minutes later, so time order speaks against blaming it.
    let (alert, mut bundle) = deploy_regression();
    let start = (onset() - Duration::minutes(30)).timestamp_millis();
    let points: Vec<Value> = (0..36)
        .map(|m| json!([start + m * 60_000, if m < 10 { 30.0 } else { 97.0 }]))
        .collect();
    let cpu = bundle
        .items
        .iter_mut()
        .find(|i| i.id == "aws.rds.prod-postgres-primary.cpu")
        .unwrap();
    cpu.data["series"]["points"] = Value::Array(points);
    let logs = "k8s.logs.production/checkout-api-6f7d9c-2kq9z";
    let answering = [DEPLOY_EVIDENCE[0], DEPLOY_EVIDENCE[1], logs];
    for (evidence, lowered) in [(&DEPLOY_EVIDENCE[..], true), (&answering[..], false)] {
        let server = MockServer::start().await;
        let args = triage_args(
            "deploy_regression",
            "deployment/production/checkout-api",
            "HIGH",
            evidence,
        )
        .to_string();
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(
                &args,
                "tool_calls",
                "gpt-4.1-mini",
            )))
            .mount(&server)
            .await;
        let brief = stages::analyse(&model_analyst(&server, |_| {}), &alert, &bundle, &[]).await;
        assert_eq!(brief.analyst, "gpt-4.1-mini");
        let deploy = brief
            .hypotheses
            .iter()
            .find(|h| h.category == Category::DeployRegression)
            .expect("the deploy is a hypothesis");
        let against = deploy
            .against()
            .find(|c| c.kind == triaged::diagnosis::CheckKind::TimeOrder)
            .expect("time order speaks against it");
        assert!(against.reason.contains("came after"), "{against:?}");
        let reason = brief.validation.capped.clone().unwrap_or_default();
        if lowered {
            assert_eq!(brief.triage.root_cause.confidence, Confidence::Low);
            assert!(reason.contains("a check contradicts"), "{reason}");
        } else {
            // It cites evidence the check did not weigh: its answer stands on its own.
            assert!(!reason.contains("a check contradicts"), "{reason}");
            assert_eq!(brief.triage.root_cause.confidence, Confidence::High);
        }
    }
}

#[tokio::test]
async fn a_medium_answer_is_escalated_to_the_strong_model() {
    let server = MockServer::start().await;
    let medium = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    let high = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "HIGH",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "gpt-4.1-mini"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &medium,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "gpt-4.1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &high,
            "tool_calls",
            "gpt-4.1",
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |s| {
        s.llm.strong_model = "gpt-4.1".into()
    }))
    .await;
    assert_eq!(brief.analyst, "gpt-4.1");
    assert_eq!(brief.usage.len(), 2, "both calls are accounted");
    assert_eq!(brief.triage.root_cause.confidence, Confidence::High);
}

#[tokio::test]
async fn the_request_never_carries_planted_secrets() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            &args,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    analyse_deploy(&model_analyst(&server, |_| {})).await;
    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        let body = String::from_utf8_lossy(&request.body);
        for secret in PLANTED {
            assert!(!body.contains(secret), "{secret} reached the model");
        }
        assert!(body.contains("[REDACTED"), "redaction markers are present");
        assert!(
            body.contains("k8s.rollout.production/checkout-api.rev118"),
            "evidence ids are in the prompt"
        );
    }
}

#[test]
fn the_prompt_puts_the_stable_prefix_first_and_the_incident_after() {
    let (alert, bundle) = deploy_regression();
    let catalog = ServiceCatalog::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/services.toml"),
    )
    .unwrap();
    let knowledge = vec![triaged::domain::KnowledgeMatch {
        id: "runbook.postgres-cpu#high-cpu-on-the-primary".into(),
        corpus: "runbooks".into(),
        title: "Postgres CPU › High CPU on the primary".into(),
        source: Some("runbooks/postgres-cpu.md".into()),
        score: 0.82,
        updated_at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()),
        text: "1. Check pg_stat_activity for long-running queries.\n2. If a recent deploy added the query, roll it back.".into(),
        snippet: String::new(),
        meta: json!({}),
    }];
    let signals = triaged::signals::derive(&bundle, &knowledge);
    let now = onset() + Duration::minutes(7);
    let prompt = triaged::analysis::prompt::build(
        &catalog, &alert, &bundle, &knowledge, &signals, 12_000, now,
    );
    // The prefix does not depend on the incident, so providers can cache it.
    let (_, other) = oom_killed();
    let other_prompt =
        triaged::analysis::prompt::build(&catalog, &alert, &other, &[], &[], 12_000, now);
    assert_eq!(prompt.system, other_prompt.system);
    insta::assert_snapshot!("prompt_system", prompt.system);
    insta::assert_snapshot!("prompt_incident", prompt.user);

    // A tight budget keeps the most anomalous evidence and says what it left out.
    // The estimate counts the tool schema; the budget `build` takes is for the messages.
    let budget = prompt.estimated_tokens() - triaged::analysis::prompt::schema_tokens() - 150;
    let tight = triaged::analysis::prompt::build(
        &catalog, &alert, &bundle, &knowledge, &signals, budget, now,
    );
    assert!(
        tight
            .user
            .contains("k8s.rollout.production/checkout-api.rev118")
    );
    assert!(!tight.omitted.is_empty());
    assert!(
        tight
            .omitted
            .contains(&"k8s.hpa.production/checkout-api".to_string()),
        "{:?}",
        tight.omitted
    );
}

#[tokio::test]
async fn the_output_limit_goes_in_the_field_the_server_reads_with_a_low_temperature() {
    let good = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    for (field, expected, absent) in [
        (MaxTokensField::Auto, "max_tokens", "max_completion_tokens"),
        (
            MaxTokensField::MaxCompletionTokens,
            "max_completion_tokens",
            "max_tokens",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(
                &good,
                "tool_calls",
                "gpt-4.1-mini",
            )))
            .mount(&server)
            .await;
        // A base URL means a self-hosted or proxy server: `auto` sends `max_tokens`, the only
        // limit llama.cpp, Ollama and LM Studio read.
        analyse_deploy(&model_analyst(&server, |s| s.llm.max_tokens_field = field)).await;
        let requests = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body[expected], 4000, "{field:?}: {body}");
        assert!(body.get(absent).is_none(), "{field:?}: {body}");
        let temperature = body["temperature"].as_f64().unwrap();
        assert!((temperature - 0.1).abs() < 1e-6, "{temperature}");
    }
}

#[tokio::test]
async fn a_named_tool_choice_answered_without_a_call_is_retried_with_required() {
    let server = MockServer::start().await;
    let good = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "MEDIUM",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    let mut prose = completion("{}", "stop", "gpt-4.1-mini");
    prose["choices"][0]["message"]["tool_calls"] = Value::Null;
    prose["choices"][0]["message"]["content"] = json!("The deploy probably caused it.");
    respond_once_then(
        &server,
        None,
        ResponseTemplate::new(200).set_body_json(prose),
        ResponseTemplate::new(200).set_body_json(completion(&good, "tool_calls", "gpt-4.1-mini")),
    )
    .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini", "{:?}", brief.fallback_reason);
    let requests = server.received_requests().await.unwrap();
    let first: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let second: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(first["tool_choice"]["function"]["name"], "submit_triage");
    assert_eq!(second["tool_choice"], "required");
}

#[tokio::test]
async fn truncation_is_detected_from_the_token_count_whatever_the_finish_reason() {
    let server = MockServer::start().await;
    let cut =
        r#"{"severity": "SEV2", "summary": "checkout is slow", "root_cause": {"statement": "Revis"#;
    // The server says `tool_calls` although it stopped at the limit (612 tokens here).
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            cut,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |s| s.llm.max_output_tokens = 612)).await;
    assert_eq!(brief.analyst, "rules");
    let reason = brief.fallback_reason.unwrap();
    assert!(
        reason.contains("truncated at the 612-token limit"),
        "{reason}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no repair is spent on cut-off JSON"
    );
}

#[test]
fn the_prompt_budget_leaves_room_for_the_schema_and_the_answer_in_a_known_context() {
    use triaged::analysis::prompt::{fitting_budget, schema_tokens};
    let schema = schema_tokens();
    assert!(schema > 300, "the tool schema is counted: {schema}");
    // Unknown context: the configured budget, less the schema.
    assert_eq!(fitting_budget(12_000, 0, 4_000), 12_000 - schema);
    // An 8k context with a 4k answer: the prompt gets what is left, never the 12k asked for.
    let fitted = fitting_budget(12_000, 8_192, 4_000);
    assert!(fitted > 0 && fitted + schema + 4_000 <= 8_192, "{fitted}");
    assert!(fitted < 12_000 - schema);
}

#[tokio::test]
async fn a_streamed_answer_is_assembled_from_its_deltas_with_usage() {
    let server = MockServer::start().await;
    let args = triage_args(
        "deploy_regression",
        "deployment/production/checkout-api",
        "HIGH",
        &DEPLOY_EVIDENCE,
    )
    .to_string();
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({
            "stream": true,
            "stream_options": {"include_usage": true}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            triaged::bench::fakes::stream_events(&completion(&args, "tool_calls", "gpt-4.1-mini")),
            "text/event-stream",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |s| s.llm.stream = true)).await;
    assert_eq!(brief.analyst, "gpt-4.1-mini", "{:?}", brief.fallback_reason);
    assert_eq!(brief.triage.root_cause.category, Category::DeployRegression);
    let usage = &brief.usage[0];
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (4210, 612),
        "the usage chunk is counted"
    );
}

#[tokio::test]
async fn arguments_that_end_mid_value_are_truncated_without_a_repair() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            r#"{"severity": "SEV2", "summary": "checkout is slow", "root_cause": {"#,
            "tool_calls",
            "gpt-4.1-mini",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |_| {})).await;
    assert_eq!(brief.analyst, "rules");
    assert!(
        brief
            .fallback_reason
            .as_deref()
            .unwrap_or_default()
            .contains("truncated"),
        "{:?}",
        brief.fallback_reason
    );
}

#[tokio::test]
async fn a_stream_cut_at_the_length_limit_is_truncated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            triaged::bench::fakes::stream_events(&completion(
                "{\"severity\": \"SEV2\", \"summ",
                "length",
                "gpt-4.1-mini",
            )),
            "text/event-stream",
        ))
        .mount(&server)
        .await;
    let brief = analyse_deploy(&model_analyst(&server, |s| s.llm.stream = true)).await;
    assert_eq!(brief.analyst, "rules");
    assert!(
        brief
            .fallback_reason
            .as_deref()
            .unwrap_or_default()
            .contains("truncated"),
        "{:?}",
        brief.fallback_reason
    );
}

/// A server that streams one token every 100 ms for up to 30 s and reports when the client
/// went away (a write failed), as a self-hosted server generating a long answer does.
async fn endless_stream() -> (String, tokio::sync::oneshot::Receiver<(usize, f64)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (done, report) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 65536];
        // The headers, then as much body as Content-Length says.
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let started = std::time::Instant::now();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let mut sent = 0;
        while started.elapsed() < std::time::Duration::from_secs(30) {
            let event = format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-long", "object": "chat.completion.chunk", "created": 0,
                    "model": "gpt-4.1-mini", "choices": [{"index": 0, "finish_reason": null,
                    "delta": {"content": "still thinking "}}]})
            );
            let chunk = format!("{:x}\r\n{event}\r\n", event.len());
            if socket.write_all(chunk.as_bytes()).await.is_err() || socket.flush().await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = done.send((sent, started.elapsed().as_secs_f64()));
    });
    (base, report)
}

#[tokio::test]
async fn a_deadline_closes_the_stream_so_the_server_stops_generating() {
    let (base, report) = endless_stream().await;
    let mut settings = Settings::default();
    settings.llm.base_url = base;
    settings.llm.timeout_secs = 1;
    settings.llm.stream = true;
    let client =
        triaged::analysis::llm::LlmClient::from_settings(&settings.llm, &Secrets::default())
            .unwrap();
    let prompt = triaged::analysis::prompt::Prompt {
        system: "Answer by calling submit_triage.".into(),
        user: "alert: checkout-api p99 latency above 800ms".into(),
        omitted: Vec::new(),
    };
    let result = client.submit_triage("gpt-4.1-mini", &prompt).await;
    assert!(
        matches!(result, Err(triaged::analysis::llm::LlmError::Timeout(1))),
        "{result:?}"
    );
    let (tokens, seconds) = report.await.unwrap();
    println!("the server saw the client leave after {tokens} tokens, {seconds:.1} s");
    assert!(
        seconds < 29.0,
        "the server was still streaming when its own 30 s cap ended it"
    );
}

/// The abuse hypothesis the rules derive from `bundle`'s WAF reading.
fn abuse_hypothesis(bundle: &EvidenceBundle) -> triaged::diagnosis::Hypothesis {
    let signals = triaged::signals::derive(bundle, &[]);
    triaged::diagnosis::diagnose(None, bundle, &[], &signals)
        .into_iter()
        .find(|h| h.category == triaged::domain::Category::DdosOrAbuse)
        .expect("the WAF reading proposes abuse")
}

#[test]
fn waf_challenges_at_the_zones_week_ago_level_are_background_not_a_surge() {
    let targets = Targets {
        cloudflare_zone: Some("z1".into()),
        ..Targets::default()
    };
    let bundle = bundle(
        targets,
        vec![EvidenceItem {
            id: "cloudflare.z1.firewall".into(),
            source: "cloudflare".into(),
            kind: "edge_firewall".into(),
            at: None,
            summary: "Firewall events: 5200 (5200 blocked or challenged, a week earlier 4900)"
                .into(),
            anomaly: 0.2,
            data: json!({"total": 5200.0, "l7ddos": 0.0, "blocked": 5200.0, "week_ago_blocked": 4900.0}),
        }],
    );
    let waf = abuse_hypothesis(&bundle);
    assert!(
        waf.against()
            .any(|c| c.reason.contains("4900 in the same window a week earlier")),
        "{:?}",
        waf.checks
    );
}

/// A WAF blocking far more than a week earlier reads as abuse; the automated share of the
/// zone's requests weighs on it: scripts surging support it, the zone's usual mix of people
/// weighs against it.
#[test]
fn the_automated_share_of_edge_requests_weighs_on_a_waf_surge() {
    for (share, week, surge, supports) in [(0.7, 0.1, true, true), (0.05, 0.04, false, false)] {
        let targets = Targets {
            cloudflare_zone: Some("z1".into()),
            ..Targets::default()
        };
        let bundle = bundle(
            targets,
            vec![
                EvidenceItem {
                    id: "cloudflare.z1.firewall".into(),
                    source: "cloudflare".into(),
                    kind: "edge_firewall".into(),
                    at: None,
                    summary:
                        "Firewall events: 52000 (52000 blocked or challenged, a week earlier 2100)"
                            .into(),
                    anomaly: 0.8,
                    data: json!({"total": 52000.0, "l7ddos": 0.0, "blocked": 52000.0, "week_ago_blocked": 2100.0}),
                },
                EvidenceItem {
                    id: "cloudflare.z1.bot_scores".into(),
                    source: "cloudflare".into(),
                    kind: "edge_bot_scores".into(),
                    at: None,
                    summary: "Automated requests (bot score below 30)".into(),
                    anomaly: if surge { 0.75 } else { 0.15 },
                    data: json!({"automated_share": share, "week_ago_automated_share": week, "surge": surge}),
                },
            ],
        );
        let waf = abuse_hypothesis(&bundle);
        let bot_check = waf
            .checks
            .iter()
            .find(|c| c.evidence_ids == ["cloudflare.z1.bot_scores"])
            .unwrap_or_else(|| panic!("share {share}: no bot-score check in {:?}", waf.checks));
        assert_eq!(bot_check.supports, supports, "{bot_check:?}");
        assert!(
            bot_check.reason.contains(&format!(
                "{:.0}% of scored requests automated, {:.0}% in the same window a week earlier",
                share * 100.0,
                week * 100.0
            )),
            "{bot_check:?}"
        );
    }
}

/// A remembered incident people corrected, recalled by the same symptoms: the cause its brief
/// blamed is weighed against now, and the corrected cause — which nothing collected shows —
/// is stated as a LOW lead instead of the confident repeat of the old mistake. Without the
/// record the evidence's own reading stands.
#[test]
fn a_corrected_memory_weighs_against_repeating_the_blamed_cause() {
    let targets = Targets {
        service: Some("matchmaker".into()),
        rds_instances: vec!["match-db".into()],
        dependencies: vec!["sessions-cache".into(), "match-db".into()],
        ..Targets::default()
    };
    let points: Vec<Value> = (0..36)
        .map(|i| {
            let at = onset() + Duration::minutes(i - 30);
            json!([at.timestamp_millis(), if i < 30 { 180.0 } else { 410.0 }])
        })
        .collect();
    let bundle = bundle(
        targets,
        vec![EvidenceItem {
            id: "aws.rds.match-db.connections".into(),
            source: "aws".into(),
            kind: "metric".into(),
            at: None,
            summary: "match-db connections: max 410 of max_connections 400 (102%)".into(),
            anomaly: 0.9,
            data: json!({"metric": "DatabaseConnections", "max_connections": 400.0,
                "series": {"points": points, "min": 180.0, "max": 410.0, "last": 410.0, "onset_index": 30}}),
        }],
    );
    let record = triaged::domain::KnowledgeMatch {
        id: "incident.0199aaaa-0000".into(),
        corpus: "incidents".into(),
        title: "0199aaaa-0000: [Triggered] matchmaker p99 latency above 2s".into(),
        source: None,
        score: 0.93,
        updated_at: None,
        text: "matchmaker p99 latency above 2s; match-db connections above max".into(),
        snippet: String::new(),
        meta: json!({
            "id": "0199aaaa-0000", "date": "2026-09-12", "services": ["matchmaker", "match-db"],
            "category": "dependency_failure", "entity": "elasticache/sessions-cache",
            "root_cause": "sessions-cache refused connections; the fallback exhausted the pool",
            "confirmation": "corrected",
            "blamed_category": "resource_saturation", "blamed_entity": "rds/match-db",
        }),
    };
    let alert = alert("matchmaker p99 latency above 2s", "matchmaker");
    let brief = |knowledge: &[triaged::domain::KnowledgeMatch]| {
        let signals = triaged::signals::derive(&bundle, knowledge);
        let hypotheses =
            triaged::diagnosis::diagnose(Some("matchmaker"), &bundle, knowledge, &signals);
        let triage =
            triaged::analysis::fallback::analyse(&alert, &bundle, knowledge, &signals, &hypotheses);
        (hypotheses, triage)
    };

    let (_, without) = brief(&[]);
    assert_eq!(without.root_cause.entity, "rds/match-db");

    let (hypotheses, with) = brief(std::slice::from_ref(&record));
    let saturation = hypotheses
        .iter()
        .find(|h| h.entity == "rds/match-db")
        .unwrap();
    assert!(
        saturation
            .against()
            .any(|c| c.knowledge_ids == [record.id.clone()]
                && c.reason
                    .contains("was blamed on resource_saturation rds/match-db and corrected")),
        "{:#?}",
        saturation.checks
    );
    assert_eq!(with.root_cause.category, Category::DependencyFailure);
    assert_eq!(with.root_cause.entity, "elasticache/sessions-cache");
    assert_eq!(with.root_cause.confidence, Confidence::Low);
    assert!(with.root_cause.knowledge_ids.contains(&record.id));
}

/// A crash-looping pod that is being deleted while every replica of its workload is ready is
/// an old pod torn down, not the fault; the same pod with replicas missing is the fault.
#[test]
fn a_terminating_pod_crash_looping_beside_a_ready_workload_is_not_the_fault() {
    let targets = Targets {
        service: Some("payments-api".into()),
        kube_namespace: Some("payments".into()),
        kube_workloads: vec!["payments-api".into()],
        ..Targets::default()
    };
    let pod = EvidenceItem {
        id: "k8s.pod.payments/payments-api-6c4ab5d9c-old1".into(),
        source: "kubernetes".into(),
        kind: "pod".into(),
        at: None,
        summary: "pod payments-api-6c4ab5d9c-old1: Running, 2 restarts, terminating (deleted at 09:38), waiting: CrashLoopBackOff".into(),
        anomaly: 0.6,
        data: json!({"phase": "Running", "terminating": true, "restarts": 2,
            "waiting": ["CrashLoopBackOff"], "last_terminations": []}),
    };
    let workload = |ready: i64| EvidenceItem {
        id: "k8s.workload.payments/payments-api".into(),
        source: "kubernetes".into(),
        kind: "workload".into(),
        at: None,
        summary: format!("payments-api: {ready}/3 replicas ready"),
        anomaly: if ready == 3 { 0.1 } else { 0.8 },
        data: json!({"ready": ready, "desired": 3}),
    };
    let alert = alert("payments-api pod crash looping", "payments-api");
    for (ready, crash_loop) in [(3, false), (1, true)] {
        let bundle = bundle(targets.clone(), vec![pod.clone(), workload(ready)]);
        let signals = triaged::signals::derive(&bundle, &[]);
        assert_eq!(
            signals
                .iter()
                .any(|s| s.kind == triaged::signals::SignalKind::CrashLoop),
            crash_loop,
            "{ready} ready: {signals:#?}"
        );
        let hypotheses = triaged::diagnosis::diagnose(Some("payments-api"), &bundle, &[], &signals);
        let triage =
            triaged::analysis::fallback::analyse(&alert, &bundle, &[], &signals, &hypotheses);
        if !crash_loop {
            assert_eq!(triage.root_cause.category, Category::NoFault, "{triage:#?}");
        }
    }
}

/// The only abnormal reading is a change every hypothesis about it ruled out (a parameter
/// group applied but waiting for a reboot), every source answered and the metrics sit at their
/// levels: nothing is abnormal now, and validation does not hold the ruled-out change against
/// that verdict.
#[test]
fn a_ruled_out_change_does_not_stand_between_healthy_readings_and_no_fault() {
    let targets = Targets {
        service: Some("billing".into()),
        rds_instances: vec!["billing-db".into()],
        ..Targets::default()
    };
    let message = "DB parameter group billing-db-pg applied. The DB instance needs to be rebooted for the changes to take effect.";
    let mut bundle = bundle(
        targets,
        vec![
            EvidenceItem {
                id: "aws.rds.billing-db.event.1".into(),
                source: "aws".into(),
                kind: "rds_event".into(),
                at: Some(onset() - Duration::minutes(20)),
                summary: format!("RDS event on billing-db: {message}"),
                anomaly: 0.8,
                data: json!({"message": message}),
            },
            EvidenceItem {
                id: "aws.rds.billing-db.cpu".into(),
                source: "aws".into(),
                kind: "metric".into(),
                at: None,
                summary: "billing-db CPU: last 14%, max 19%, before onset 15".into(),
                anomaly: 0.1,
                data: json!({"metric": "CPUUtilization", "series": {"max": 19.0, "last": 14.0}}),
            },
        ],
    );
    bundle.reports.retain(|r| r.source == "aws");
    let alert = alert("billing-db health check", "billing");
    let signals = triaged::signals::derive(&bundle, &[]);
    let hypotheses = triaged::diagnosis::diagnose(Some("billing"), &bundle, &[], &signals);
    assert!(
        !hypotheses.is_empty() && hypotheses.iter().all(|h| h.against().next().is_some()),
        "{hypotheses:#?}"
    );
    let mut triage =
        triaged::analysis::fallback::analyse(&alert, &bundle, &[], &signals, &hypotheses);
    assert_eq!(triage.root_cause.category, Category::NoFault, "{triage:#?}");
    assert!(
        triage
            .root_cause
            .statement
            .contains("(the one change in the window was ruled out)"),
        "{}",
        triage.root_cause.statement
    );
    let report = triaged::analysis::validate::validate_with(
        &mut triage,
        &bundle,
        &[],
        &signals,
        &hypotheses,
    );
    assert!(report.contradictions.is_empty(), "{report:?}");
}

/// A Qdrant server that is down when the incident comes costs the brief its knowledge only:
/// the retrieve stage reports the gap with the reason, and the gap is a source report the
/// brief lists.
#[tokio::test]
async fn a_knowledge_server_that_is_down_is_a_named_gap_not_a_failed_job() {
    let dir = tempfile::tempdir().unwrap();
    let index = triaged::knowledge::KnowledgeIndex::open_on(
        dir.path(),
        None,
        Some(triaged::knowledge::ServerTarget {
            url: "http://127.0.0.1:1".into(),
            api_key: None,
            collection: "kb".into(),
        }),
    )
    .unwrap();
    let retrieval = stages::retrieve(
        Some(&std::sync::Arc::new(index)),
        &alert("Checkout p99 latency high", "checkout-api"),
        None,
        3,
    )
    .await;
    let gap = retrieval.gap().expect("a failed retrieval is a gap");
    assert_eq!(gap.source, "knowledge");
    let reason = gap.message.unwrap_or_default();
    assert!(
        reason.contains("Qdrant at http://127.0.0.1:1 is unreachable"),
        "{reason}"
    );
    assert!(retrieval.into_matches().is_empty());
}
