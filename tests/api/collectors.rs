//! Collectors against fake upstreams that answer as the vendors document (Datadog,
//! Cloudflare, the Kubernetes API), including their failure shapes; fan-out deadlines.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use triaged::collectors::{
    self, CollectError, Collected, Collector, Deadlines, Registered, collect_with_deadline,
};
use triaged::config::{Secrets, Settings};
use triaged::domain::{EvidenceBundle, EvidenceItem, SourceStatus, Targets, Window};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PLANTED: [&str; 4] = [
    "AKIAIOSFODNN7EXAMPLE",
    "hunter2",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJlLXZhbHVl",
    "dana.oncall@example.com",
];

fn window() -> Window {
    crate::helpers::window_ending_now()
}

fn at(window: &Window, minutes_from_onset: i64) -> DateTime<Utc> {
    window.onset + chrono::Duration::minutes(minutes_from_onset)
}

fn secrets() -> Secrets {
    Secrets::from_lookup(|name| match name {
        "DD_API_KEY" => Some("dd-api-key-test".into()),
        "DD_APP_KEY" => Some("dd-app-key-test".into()),
        "CLOUDFLARE_API_TOKEN" => Some("cf-token-test".into()),
        _ => None,
    })
}

fn settings(datadog: &str, cloudflare: &str) -> Settings {
    let mut s = Settings::default();
    s.datadog.api_base = datadog.into();
    s.cloudflare.api_base = cloudflare.into();
    s.kubernetes.enabled = false;
    s.aws.enabled = false;
    s
}

fn deadlines(secs: u64) -> Deadlines {
    Deadlines {
        per_source: Duration::from_secs(secs),
        overall: Duration::from_secs(secs + 2),
    }
}

async fn run(
    collectors: &[Registered],
    targets: &Targets,
    window: &Window,
    secs: u64,
) -> EvidenceBundle {
    collect_with_deadline(collectors, targets, window, deadlines(secs), 24_000).await
}

fn report<'a>(bundle: &'a EvidenceBundle, source: &str) -> &'a triaged::domain::SourceReport {
    bundle
        .reports
        .iter()
        .find(|r| r.source == source)
        .expect("report present")
}

fn assert_no_planted_secrets(bundle: &EvidenceBundle) {
    let text = serde_json::to_string(bundle).unwrap();
    for secret in PLANTED {
        assert!(!text.contains(secret), "{secret} leaked into the bundle");
    }
}

fn checkout_targets() -> Targets {
    Targets {
        service: Some("checkout-db".into()),
        datadog_service: Some("checkout-db".into()),
        datadog_monitor_id: Some("88123401".into()),
        monitor_query: Some(
            "avg(last_10m):avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary} > 90".into(),
        ),
        cloudflare_zone: Some("023e105f4ecef8ad9ca31a8372d0c353".into()),
        ..Targets::default()
    }
}

// ---------------------------------------------------------------- Datadog

fn datadog_monitor() -> Value {
    json!({
        "id": 88123401,
        "org_id": 321813,
        "name": "prod-postgres-primary CPU above 90%",
        "type": "query alert",
        "query": "avg(last_10m):avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary} > 90",
        "message": "CPU on the primary is saturated. @pagerduty-payments",
        "tags": ["team:payments", "service:checkout-db"],
        "options": {"thresholds": {"critical": 90.0, "warning": 80.0}, "notify_no_data": false, "include_tags": true},
        "overall_state": "Alert",
        "overall_state_modified": "2026-11-21T02:11:30+00:00",
        "created": "2025-01-10T10:00:00.000000+00:00",
        "modified": "2026-03-01T09:12:44.000000+00:00",
        "priority": 1
    })
}

fn datadog_query(window: &Window) -> Value {
    let start = window.start.timestamp_millis();
    let onset = window.onset.timestamp_millis();
    let points: Vec<Value> = (0..35)
        .map(|i| {
            let t = start + i * 60_000;
            json!([
                t as f64,
                if t < onset {
                    38.0 + (i % 3) as f64
                } else {
                    96.5
                }
            ])
        })
        .collect();
    json!({
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": "avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary}",
        "from_date": start,
        "to_date": window.end.timestamp_millis(),
        "series": [{
            "unit": [{"family": "percentage", "scale_factor": 1.0, "name": "percent", "short_name": "%", "plural": "percent", "id": 17}, null],
            "query_index": 0,
            "aggr": "avg",
            "metric": "aws.rds.cpuutilization",
            "tag_set": ["dbinstanceidentifier:prod-postgres-primary"],
            "expression": "avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary}",
            "scope": "dbinstanceidentifier:prod-postgres-primary",
            "interval": 60,
            "length": 35,
            "start": start,
            "end": window.end.timestamp_millis(),
            "pointlist": points,
            "display_name": "aws.rds.cpuutilization",
            "attributes": {}
        }],
        "values": [], "times": [], "message": "", "group_by": []
    })
}

/// The APM request count of `service:checkout-db`, flat at `level` per minute.
fn datadog_hits(window: &Window, level: f64) -> Value {
    let start = window.start.timestamp_millis();
    let points: Vec<Value> = (0..35)
        .map(|i| json!([(start + i * 60_000) as f64, level + (i % 2) as f64]))
        .collect();
    json!({
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": "sum:trace.http.request.hits{service:checkout-db}.as_count()",
        "from_date": start,
        "to_date": window.end.timestamp_millis(),
        "series": [{
            "unit": [{"family": "general", "scale_factor": 1.0, "name": "hit", "short_name": null, "plural": "hits", "id": 39}, null],
            "query_index": 0,
            "aggr": "sum",
            "metric": "trace.http.request.hits",
            "tag_set": ["service:checkout-db"],
            "expression": "sum:trace.http.request.hits{service:checkout-db}.as_count()",
            "scope": "service:checkout-db",
            "interval": 60,
            "length": 35,
            "start": start,
            "end": window.end.timestamp_millis(),
            "pointlist": points,
            "display_name": "trace.http.request.hits",
            "attributes": {}
        }],
        "values": [], "times": [], "message": "", "group_by": []
    })
}

/// Request-rate queries answer with the window's series; the week-ago window with a lower one.
async fn mount_hits(server: &MockServer, window: &Window) {
    let week_ago = Window {
        start: window.start - chrono::Duration::days(7),
        onset: window.onset - chrono::Duration::days(7),
        end: window.end - chrono::Duration::days(7),
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            "sum:trace.http.request.hits{service:checkout-db}.as_count()",
        ))
        .and(query_param("from", window.start.timestamp().to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(datadog_hits(window, 1200.0)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            "sum:trace.http.request.hits{service:checkout-db}.as_count()",
        ))
        .and(query_param("from", week_ago.start.timestamp().to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(datadog_hits(&week_ago, 1150.0)))
        .mount(server)
        .await;
}

fn log_event(id: &str, at: DateTime<Utc>, message: &str) -> Value {
    json!({
        "id": id,
        "type": "log",
        "attributes": {
            "attributes": {"db": {"instance": "prod-postgres-primary"}},
            "host": "i-0c4b2f7e1a9d3",
            "message": message,
            "service": "checkout-db",
            "status": "error",
            "tags": ["env:prod", "service:checkout-db", "source:postgresql"],
            "timestamp": at.to_rfc3339(),
        }
    })
}

async fn fake_datadog(window: &Window) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/monitor/88123401"))
        .and(header("DD-API-KEY", "dd-api-key-test"))
        .and(header("DD-APPLICATION-KEY", "dd-app-key-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(datadog_monitor()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            "avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary}",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(datadog_query(window)))
        .mount(&server)
        .await;
    mount_hits(&server, window).await;
    // Two pages of error logs, joined by a cursor.
    Mock::given(method("POST"))
        .and(path("/api/v2/logs/events/search"))
        .and(body_partial_json(json!({"page": {"cursor": "eyJhZnRlciI6IkFRQUFBWE"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                log_event("AQAAAY3", at(window, 2), "FATAL: remaining connection slots are reserved for non-replication superuser connections"),
                log_event("AQAAAY4", at(window, -12), "could not connect with postgres://checkout:hunter2@prod-postgres-primary:5432/checkout"),
            ],
            "links": {},
            "meta": {"elapsed": 9, "page": {}, "request_id": "pddv1ChZ", "status": "done"}
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/logs/events/search"))
        .and(body_partial_json(json!({"filter": {"query": "service:checkout-db status:error"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                log_event("AQAAAY0", at(window, 4), "FATAL: remaining connection slots are reserved for non-replication superuser connections"),
                log_event("AQAAAY1", at(window, 3), "FATAL: remaining connection slots are reserved for non-replication superuser connections"),
                log_event("AQAAAY2", at(window, 3), "auth failed for key AKIAIOSFODNN7EXAMPLE token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJlLXZhbHVl user dana.oncall@example.com"),
            ],
            "links": {"next": "https://api.datadoghq.com/api/v2/logs/events?page[cursor]=eyJhZnRlciI6IkFRQUFBWE"},
            "meta": {"elapsed": 14, "page": {"after": "eyJhZnRlciI6IkFRQUFBWE"}, "request_id": "pddv1ChY", "status": "done"}
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/events/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {
                    "id": "AAAAAZNfQbXeCtjvZQAAAABBWk5mUWJYZUFBQlBGNmp2",
                    "type": "event",
                    "attributes": {
                        "attributes": {"title": "Deployed checkout-api v3.41.0 (adds order-history query)", "service": "checkout-api", "evt": {"id": "7712983", "source_id": 147}},
                        "message": "%%% \nDeployed by ci-bot from pipeline 88121\n %%%",
                        "tags": ["service:checkout-api", "source:deploy", "version:v3.41.0"],
                        "timestamp": at(window, -3).to_rfc3339()
                    }
                },
                {
                    "id": "AAAAAZNfQbXeCtjvZQAAAABBWk5mUWJYZUFBQlBGNmp3",
                    "type": "event",
                    "attributes": {
                        "attributes": {"title": "Monitor muted by jane", "service": "checkout-api"},
                        "message": "muted for maintenance window",
                        "tags": ["service:checkout-api"],
                        "timestamp": at(window, -20).to_rfc3339()
                    }
                }
            ],
            "links": {},
            "meta": {"page": {"after": null}, "status": "done"}
        })))
        .mount(&server)
        .await;
    server
}

/// A series for `metric` of `service` at `level` over `window`, in the metric query API's shape.
fn datadog_series(window: &Window, metric: &str, service: &str, level: f64) -> Value {
    let mut reply = datadog_hits(window, level);
    let series = &mut reply["series"][0];
    series["metric"] = json!(metric);
    series["display_name"] = json!(metric);
    series["scope"] = json!(format!("service:{service}"));
    series["tag_set"] = json!([format!("service:{service}")]);
    reply
}

#[tokio::test]
async fn datadog_reads_each_catalog_dependencys_requests_and_errors_against_a_week_ago() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    let week_ago_start = window.start - chrono::Duration::days(7);
    for (metric, now, before) in [
        ("trace.http.request.hits", 900.0, 880.0),
        ("trace.http.request.errors", 240.0, 2.0),
    ] {
        let query = format!("sum:{metric}{{service:payments-gateway}}.as_count()");
        for (from, window_of, level) in [
            (window.start, window, now),
            (
                week_ago_start,
                Window {
                    start: week_ago_start,
                    onset: window.onset - chrono::Duration::days(7),
                    end: window.end - chrono::Duration::days(7),
                },
                before,
            ),
        ] {
            Mock::given(method("GET"))
                .and(path("/api/v1/query"))
                .and(query_param("query", query.as_str()))
                .and(query_param("from", from.timestamp().to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(datadog_series(
                    &window_of,
                    metric,
                    "payments-gateway",
                    level,
                )))
                .mount(&datadog)
                .await;
        }
    }
    // The API answers a metric nobody reports with no series.
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(wiremock::matchers::query_param_contains(
            "query",
            "service:ledger-api",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "ok", "res_type": "time_series", "resp_version": 1, "series": [],
            "values": [], "times": [], "message": "", "group_by": []
        })))
        .mount(&datadog)
        .await;
    // A third dependency's queries fail: a warning, the other dependencies still read.
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(wiremock::matchers::query_param_contains(
            "query",
            "service:search-api",
        ))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errors": ["Internal Server Error"]})),
        )
        .mount(&datadog)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&datadog.uri(), "http://unused"),
        &secrets(),
    );
    let targets = Targets {
        dependencies: vec![
            "payments-gateway".into(),
            "ledger-api".into(),
            "search-api".into(),
        ],
        ..checkout_targets()
    };
    let bundle = run(&[registered], &targets, &window, 5).await;
    let errors = bundle
        .items
        .iter()
        .find(|i| i.id.contains("trace.http.request.errors") && i.id.contains("payments"))
        .expect("the dependency's error rate");
    assert!(
        errors.summary.contains("same window a week earlier 2.")
            && errors.summary.contains("service:payments-gateway"),
        "{}",
        errors.summary
    );
    assert_eq!(
        errors.data["week_ago_mean"].as_f64().map(f64::round),
        Some(2.0)
    );
    let hits = bundle
        .items
        .iter()
        .find(|i| i.id.contains("trace.http.request.hits") && i.id.contains("payments"))
        .expect("the dependency's request rate");
    assert!(
        hits.summary.contains("same window a week earlier 880."),
        "{}",
        hits.summary
    );
    // The dependency without series gives no item and no warning; the failing one a warning.
    assert!(!bundle.items.iter().any(|i| i.id.contains("ledger")));
    let r = report(&bundle, "datadog");
    assert_eq!(r.status, SourceStatus::Ok, "{r:?}");
    let message = r.message.as_deref().unwrap_or("");
    assert!(
        message.contains("dependencies:") && message.contains("500") && !message.contains("ledger"),
        "{message}"
    );
}

#[tokio::test]
async fn a_synthetics_monitor_brings_its_tests_failing_runs_and_the_error() {
    let window = window();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/monitor/4411"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 4411, "name": "[Synthetics] Checkout TLS", "type": "synthetics alert",
            "query": "", "overall_state": "Alert", "tags": ["service:checkout-api"],
            "options": {"thresholds": {}}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/synthetics/tests"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tests": [
            {"public_id": "abc-111-xyz", "name": "Other", "type": "api", "monitor_id": 9999,
             "config": {"request": {"method": "GET", "url": "https://other.example.com/"}}},
            {"public_id": "pqr-222-stu", "name": "Checkout TLS", "type": "api", "subtype": "http", "monitor_id": 4411,
             "config": {"request": {"method": "GET", "url": "https://shop.example.com/checkout"}}}
        ]})))
        .mount(&server)
        .await;
    let run_at = |minutes: i64| at(&window, minutes).timestamp_millis() as f64;
    Mock::given(method("GET"))
        .and(path("/api/v1/synthetics/tests/pqr-222-stu/results"))
        .and(query_param("from_ts", window.start.timestamp_millis().to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "last_timestamp_fetched": run_at(4),
            "results": [
                {"check_time": run_at(-10), "probe_dc": "aws:eu-west-1", "result_id": "r1", "status": 0, "result": {"passed": true, "timings": {"total": 210.0}}},
                {"check_time": run_at(1), "probe_dc": "aws:eu-west-1", "result_id": "r2", "status": 2, "result": {"passed": false, "timings": {}}},
                {"check_time": run_at(3), "probe_dc": "aws:us-east-1", "result_id": "r3", "status": 2, "result": {"passed": false, "timings": {}}}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/synthetics/tests/pqr-222-stu/results/r3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "check_time": run_at(3), "probe_dc": "aws:us-east-1", "result_id": "r3", "status": 2,
            "result": {"passed": false, "failure": {"code": "SSL", "message": "Error: certificate has expired"}}
        })))
        .mount(&server)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&server.uri(), "http://unused"),
        &secrets(),
    );
    let targets = Targets {
        datadog_monitor_id: Some("4411".into()),
        ..Targets::default()
    };
    let bundle = run(&[registered], &targets, &window, 5).await;
    let item = bundle
        .item("datadog.synthetics.pqr-222-stu")
        .expect("the monitor's synthetic test");
    assert!(
        item.summary.contains("2 of 3 runs failed")
            && item.summary.contains("aws:eu-west-1, aws:us-east-1")
            && item
                .summary
                .contains("latest error SSL: Error: certificate has expired"),
        "{}",
        item.summary
    );
    assert_eq!(item.data["host"], "shop.example.com");
    let signals = triaged::signals::derive(&bundle, &[]);
    let certificate = signals
        .iter()
        .find(|s| s.category == triaged::domain::Category::CertificateOrAuth)
        .expect("a certificate signal");
    assert_eq!(certificate.entity, "certificate/shop.example.com");
}

#[tokio::test]
async fn datadog_collects_monitor_metric_grouped_logs_and_deploy_events() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&datadog.uri(), "http://unused"),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    let datadog_report = report(&bundle, "datadog");
    assert_eq!(
        datadog_report.status,
        SourceStatus::Ok,
        "{datadog_report:?}"
    );
    assert_eq!(datadog_report.message, None);

    let monitor = bundle
        .item("datadog.monitor.88123401")
        .expect("monitor item");
    assert!(monitor.summary.contains("is Alert"));
    let metric = bundle
        .items
        .iter()
        .find(|i| i.kind == "metric")
        .expect("metric item");
    assert!(
        metric
            .id
            .starts_with("datadog.metric.aws.rds.cpuutilization"),
        "{}",
        metric.id
    );
    assert!(
        metric.summary.contains("max 96.50") && metric.summary.contains("threshold 90"),
        "{}",
        metric.summary
    );
    assert!(metric.anomaly > 0.8);
    let series = &metric.data["series"];
    assert!(series["points"].as_array().unwrap().len() <= 60);
    assert!(series["onset_index"].as_u64().is_some());

    let logs = bundle
        .item("datadog.logs.checkout-db.errors")
        .expect("logs item");
    assert_eq!(logs.data["total"], 5, "both pages were read");
    assert_eq!(logs.data["groups"][0]["count"], 3, "grouped by message");
    assert!(logs.summary.contains("remaining connection slots"));

    // The request rate beside it, against the same window a week earlier.
    let hits = bundle
        .items
        .iter()
        .find(|i| i.id.starts_with("datadog.metric.trace.http.request.hits"))
        .expect("request rate item");
    assert!(
        hits.summary.contains("same window a week earlier 115"),
        "{}",
        hits.summary
    );
    assert_eq!(hits.data["scope"], "service:checkout-db");

    let deploys: Vec<&EvidenceItem> = bundle.items.iter().filter(|i| i.kind == "change").collect();
    assert_eq!(deploys.len(), 1, "only change events: {deploys:?}");
    assert!(
        deploys[0].summary.contains("v3.41.0") && deploys[0].summary.contains("3 min before onset")
    );
    assert_eq!(deploys[0].data["change"], "deploy");
    assert_eq!(
        deploys[0].data["classified_by"], "fields",
        "told by its version tag and source, not its title"
    );
    assert_no_planted_secrets(&bundle);
}

#[tokio::test]
async fn datadog_rate_limits_are_waited_out_when_near_and_reported_when_far() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/monitor/88123401"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Limit", "100")
                .insert_header("X-RateLimit-Period", "10")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1")
                .set_body_json(json!({"errors": ["Rate limit of 100 requests in 10 seconds reached. Please try again later."]})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&datadog)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/events/search"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "47")
                .set_body_json(json!({"errors": ["Too many requests"]})),
        )
        .with_priority(1)
        .mount(&datadog)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&datadog.uri(), "http://unused"),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    assert!(
        bundle.item("datadog.monitor.88123401").is_some(),
        "the near reset was waited out"
    );
    let message = report(&bundle, "datadog")
        .message
        .clone()
        .unwrap_or_default();
    assert!(
        message.contains("events: rate limited (HTTP 429), resets in 47 s"),
        "{message}"
    );
}

#[tokio::test]
async fn datadog_server_errors_and_garbage_degrade_only_their_part() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/logs/events/search"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errors": ["Internal Server Error"]})),
        )
        .with_priority(1)
        .mount(&datadog)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/events/search"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>upstream gateway</html>"))
        .with_priority(1)
        .mount(&datadog)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&datadog.uri(), "http://unused"),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    let r = report(&bundle, "datadog");
    assert_eq!(r.status, SourceStatus::Ok);
    let message = r.message.clone().unwrap();
    assert!(message.contains("logs: HTTP 500"), "{message}");
    assert!(message.contains("events: invalid JSON"), "{message}");
    assert!(bundle.item("datadog.monitor.88123401").is_some());
}

#[tokio::test]
async fn datadog_that_fails_entirely_is_an_error_and_a_slow_one_a_timeout() {
    let window = window();
    let down = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .mount(&down)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&down.uri(), "http://unused"),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    let r = report(&bundle, "datadog");
    assert_eq!(r.status, SourceStatus::Error);
    assert!(r.message.as_deref().unwrap().contains("HTTP 503"));

    let slow = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(datadog_monitor())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&slow)
        .await;
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&slow.uri(), "http://unused"),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 1).await;
    let r = report(&bundle, "datadog");
    assert_eq!(r.status, SourceStatus::Timeout);
    assert_eq!(bundle.reports[0].describe(), "datadog: timed out after 1 s");
}

// ---------------------------------------------------------------- Cloudflare

fn cloudflare_zone(window: &Window) -> Value {
    let minutes: Vec<Value> = (0..35)
        .map(|i| {
            let t = window.start + chrono::Duration::minutes(i);
            // Cloudflare reports whole minutes: a minute is slow when it starts at or after the onset.
            let minute =
                DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap();
            let slow = minute >= window.onset;
            json!({
                "count": 41200,
                "dimensions": {"datetimeMinute": t.format("%Y-%m-%dT%H:%M:00Z").to_string()},
                "quantiles": {
                    "edgeTimeToFirstByteMsP50": if slow { 420 } else { 38 },
                    "edgeTimeToFirstByteMsP95": if slow { 2100 } else { 140 },
                    "edgeTimeToFirstByteMsP99": if slow { 4800 } else { 310 }
                }
            })
        })
        .collect();
    json!({
        "data": {"viewer": {"zones": [{
            "statuses": [
                {"count": 1180000, "dimensions": {"edgeResponseStatus": 200}},
                {"count": 21000, "dimensions": {"edgeResponseStatus": 404}},
                {"count": 96000, "dimensions": {"edgeResponseStatus": 503}},
                {"count": 4200, "dimensions": {"edgeResponseStatus": 502}}
            ],
            "latency": minutes,
            "cache": [
                {"count": 610000, "dimensions": {"cacheStatus": "hit"}},
                {"count": 540000, "dimensions": {"cacheStatus": "miss"}},
                {"count": 151200, "dimensions": {"cacheStatus": "dynamic"}}
            ],
            "firewall": [
                {"count": 184000, "dimensions": {"action": "block", "source": "l7ddos", "ruleId": "dd0c4e7a", "clientCountryName": "BR"}},
                {"count": 1200, "dimensions": {"action": "managed_challenge", "source": "firewallManaged", "ruleId": "100015", "clientCountryName": "US"}}
            ],
            // Top sources now, and the same window a week earlier.
            "countries": [
                {"count": 690000, "dimensions": {"clientCountryName": "BR"}},
                {"count": 310000, "dimensions": {"clientCountryName": "US"}}
            ],
            "asns": [
                {"count": 640000, "dimensions": {"clientAsn": 14061, "clientASNDescription": "DIGITALOCEAN-ASN"}},
                {"count": 150000, "dimensions": {"clientAsn": 7922, "clientASNDescription": "COMCAST-7922"}}
            ],
            "paths": [
                {"count": 720000, "dimensions": {"clientRequestPath": "/api/search"}},
                {"count": 200000, "dimensions": {"clientRequestPath": "/"}}
            ],
            "hosts": [
                {"count": 400000, "dimensions": {"clientRequestHTTPHost": "shop.example.com", "edgeResponseStatus": 200}},
                {"count": 2000, "dimensions": {"clientRequestHTTPHost": "shop.example.com", "edgeResponseStatus": 503}},
                {"count": 780000, "dimensions": {"clientRequestHTTPHost": "api.example.com", "edgeResponseStatus": 200}},
                {"count": 94000, "dimensions": {"clientRequestHTTPHost": "api.example.com", "edgeResponseStatus": 522}},
                {"count": 4200, "dimensions": {"clientRequestHTTPHost": "api.example.com", "edgeResponseStatus": 502}}
            ],
            "weekStatuses": [
                {"count": 300000, "dimensions": {"edgeResponseStatus": 200}},
                {"count": 1000, "dimensions": {"edgeResponseStatus": 404}}
            ],
            "weekCountries": [
                {"count": 220000, "dimensions": {"clientCountryName": "US"}},
                {"count": 9000, "dimensions": {"clientCountryName": "BR"}}
            ],
            "weekAsns": [
                {"count": 140000, "dimensions": {"clientAsn": 7922, "clientASNDescription": "COMCAST-7922"}},
                {"count": 3000, "dimensions": {"clientAsn": 14061, "clientASNDescription": "DIGITALOCEAN-ASN"}}
            ],
            "weekPaths": [
                {"count": 180000, "dimensions": {"clientRequestPath": "/"}},
                {"count": 20000, "dimensions": {"clientRequestPath": "/api/search"}}
            ],
            "weekFirewall": [
                {"count": 1100, "dimensions": {"action": "managed_challenge", "source": "firewallManaged"}}
            ]
        }]}},
        "errors": null
    })
}

#[tokio::test]
async fn cloudflare_reports_status_mix_latency_cache_and_ddos() {
    let window = window();
    let cloudflare = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/client/v4/graphql"))
        .and(header("authorization", "Bearer cf-token-test"))
        .and(body_partial_json(
            json!({"variables": {"zoneTag": "023e105f4ecef8ad9ca31a8372d0c353"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(cloudflare_zone(&window)))
        .mount(&cloudflare)
        .await;
    let registered = collectors::cloudflare::CloudflareCollector::register(
        &settings("http://unused", &format!("{}/client/v4", cloudflare.uri())),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    assert_eq!(report(&bundle, "cloudflare").status, SourceStatus::Ok);
    let zone = "023e105f4ecef8ad9ca31a8372d0c353";
    let status = bundle
        .item(&format!("cloudflare.{zone}.status_mix"))
        .unwrap();
    assert!(status.summary.contains("5xx 7.7%"), "{}", status.summary);
    let ttfb = bundle
        .item(&format!("cloudflare.{zone}.edge_ttfb"))
        .unwrap();
    assert!(
        ttfb.summary.contains("max 4800 ms") && ttfb.summary.contains("before onset 310 ms"),
        "{}",
        ttfb.summary
    );
    let firewall = bundle.item(&format!("cloudflare.{zone}.firewall")).unwrap();
    assert!(
        firewall.summary.contains("184000 by l7ddos"),
        "{}",
        firewall.summary
    );
    assert!(firewall.anomaly >= 0.9);
    assert!(
        firewall.summary.contains("a week earlier 1100"),
        "{}",
        firewall.summary
    );
    assert!(bundle.item(&format!("cloudflare.{zone}.cache")).is_some());
    // The window against the same window a week earlier: four times the requests, from an ASN
    // and a path that were a sliver of the traffic then.
    let traffic = bundle.item(&format!("cloudflare.{zone}.traffic")).unwrap();
    assert!(
        traffic.summary.contains("a week earlier 301000, ×4.3")
            && traffic
                .summary
                .contains("top asns: AS14061 DIGITALOCEAN-ASN 49% (a week earlier 1%)")
            && traffic
                .summary
                .contains("top paths: /api/search 55% (a week earlier 7%)")
            && traffic
                .summary
                .contains("new dominant source: BR (countries)"),
        "{}",
        traffic.summary
    );
    assert!(traffic.anomaly >= 0.8);
    // One origin host answers 52x while the other host is fine.
    let host = bundle
        .item(&format!("cloudflare.{zone}.host_errors"))
        .unwrap();
    assert!(
        host.summary
            .starts_with("api.example.com: 11.2% of its 878200 requests answered 5xx (10.7% 52x")
            && host.summary.contains("other hosts 0.5%"),
        "{}",
        host.summary
    );
    assert!(host.anomaly >= 0.3);
}

/// The bot-score query's reply: `bots` now (score → requests), `weekBots` a week earlier.
fn cloudflare_bot_scores(now: &[(i64, u64)], week: &[(i64, u64)]) -> Value {
    let groups = |rows: &[(i64, u64)]| -> Vec<Value> {
        rows.iter()
            .map(|(score, n)| json!({"count": n, "dimensions": {"botScore": score}}))
            .collect()
    };
    json!({
        "data": {"viewer": {"zones": [{"bots": groups(now), "weekBots": groups(week)}]}},
        "errors": null
    })
}

/// A Cloudflare GraphQL endpoint answering the zone query with [`cloudflare_zone`] and the
/// bot-score query (checked for the token and the zone) with `bots`, which must be asked.
async fn fake_cloudflare(window: &Window, bots: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/client/v4/graphql"))
        .and(body_partial_json(json!({"operationName": "TriageZone"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(cloudflare_zone(window)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/client/v4/graphql"))
        .and(header("authorization", "Bearer cf-token-test"))
        .and(body_partial_json(json!({
            "operationName": "TriageBotScores",
            "variables": {"zoneTag": "023e105f4ecef8ad9ca31a8372d0c353"}
        })))
        .respond_with(bots)
        .expect(1..)
        .mount(&server)
        .await;
    server
}

/// The bot-score distribution is its own query: read against a week earlier when the zone has
/// Bot Management; a zone without it (Cloudflare refuses the field inside an HTTP 200) or a
/// failing query loses only that item, and only the failure is a warning.
#[tokio::test]
async fn cloudflare_bot_scores_are_read_against_a_week_earlier_and_missing_ones_cost_nothing_else()
{
    let window = window();
    let zone = "023e105f4ecef8ad9ca31a8372d0c353";
    let cases = [
        (
            "scripts surge",
            // Now: 70% of scored requests automated (score 1 and 12); a week earlier 10%.
            ResponseTemplate::new(200).set_body_json(cloudflare_bot_scores(
                &[(1, 500_000), (12, 200_000), (88, 300_000), (0, 50_000)],
                &[(1, 20_000), (12, 10_000), (88, 270_000)],
            )),
            Some("Automated requests (bot score below 30): 70% of 1000000 scored (same window a week earlier 10%)"),
            None,
        ),
        (
            "usual mix",
            ResponseTemplate::new(200).set_body_json(cloudflare_bot_scores(
                &[(1, 50_000), (88, 950_000)],
                &[(1, 40_000), (88, 960_000)],
            )),
            Some("Automated requests (bot score below 30): 5% of 1000000 scored (same window a week earlier 4%)"),
            None,
        ),
        (
            "no bot management",
            ResponseTemplate::new(200).set_body_json(json!({
                "data": null,
                "errors": [{
                    "message": format!("zone '{zone}' does not have access to the field 'botScore'"),
                    "path": ["viewer", "zones", "0", "bots"],
                    "extensions": {"code": "authz"}
                }]
            })),
            None,
            None,
        ),
        (
            "query fails",
            ResponseTemplate::new(500).set_body_string("internal error"),
            None,
            Some("bot scores: HTTP 500: internal error"),
        ),
    ];
    for (case, reply, summary, warning) in cases {
        let cloudflare = fake_cloudflare(&window, reply).await;
        let registered = collectors::cloudflare::CloudflareCollector::register(
            &settings("http://unused", &format!("{}/client/v4", cloudflare.uri())),
            &secrets(),
        );
        let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
        let r = report(&bundle, "cloudflare");
        assert_eq!(r.status, SourceStatus::Ok, "{case}: {r:?}");
        assert_eq!(r.message.as_deref(), warning, "{case}: {r:?}");
        // Everything the main query read still arrives.
        for part in [
            "status_mix",
            "edge_ttfb",
            "firewall",
            "traffic",
            "host_errors",
        ] {
            assert!(
                bundle.item(&format!("cloudflare.{zone}.{part}")).is_some(),
                "{case}: {part}"
            );
        }
        let bots = bundle.item(&format!("cloudflare.{zone}.bot_scores"));
        assert_eq!(bots.map(|b| b.summary.as_str()), summary, "{case}");
        if let Some(bots) = bots {
            let surge = case == "scripts surge";
            assert_eq!(bots.data["surge"], json!(surge), "{case}");
            assert!(
                if surge {
                    bots.anomaly >= 0.7
                } else {
                    bots.anomaly <= 0.2
                },
                "{case}: {}",
                bots.anomaly
            );
        }
    }
}

/// Datadog, Cloudflare and Kubernetes answering at once, as their fakes document: the bundle
/// the daemon's default budget keeps every item a signal would read (anomaly ≥ 0.5); at half
/// of it, an item is dropped only when more anomalous ones leave no room, and the kept bundle
/// always fits.
#[tokio::test]
async fn a_bundle_from_every_saas_collector_keeps_the_anomalies_within_the_default_budget() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    let kubernetes = fake_kubernetes(&window).await;
    let cloudflare = fake_cloudflare(
        &window,
        ResponseTemplate::new(200).set_body_json(cloudflare_bot_scores(
            &[(1, 500_000), (88, 500_000)],
            &[(1, 20_000), (88, 280_000)],
        )),
    )
    .await;
    let mut s = settings(&datadog.uri(), &format!("{}/client/v4", cloudflare.uri()));
    s.kubernetes.enabled = true;
    s.kubernetes.api_url = kubernetes.uri();
    let default_budget = Settings::default().collectors.bundle_budget_chars;
    let collectors = vec![
        collectors::datadog::DatadogCollector::register(&s, &secrets()),
        collectors::cloudflare::CloudflareCollector::register(&s, &secrets()),
        collectors::kubernetes::KubernetesCollector::register(&s).await,
    ];
    let targets = Targets {
        kube_namespace: Some("production".into()),
        kube_workloads: vec!["game-api".into()],
        ..checkout_targets()
    };
    let unlimited =
        collect_with_deadline(&collectors, &targets, &window, deadlines(5), usize::MAX).await;
    for source in ["datadog", "cloudflare", "kubernetes"] {
        assert_eq!(
            report(&unlimited, source).status,
            SourceStatus::Ok,
            "{source}"
        );
    }
    let size = |item: &EvidenceItem| serde_json::to_string(item).unwrap().len();
    let all: usize = unlimited.items.iter().map(size).sum();
    // The default budget, and half of it: a busier incident on the same upstreams.
    for budget in [default_budget, default_budget / 2] {
        let bundle =
            collect_with_deadline(&collectors, &targets, &window, deadlines(5), budget).await;
        let kept: usize = bundle.items.iter().map(size).sum();
        println!(
            "{} items, {all} chars collected; budget {budget}: {} items, {kept} chars kept; dropped, least anomalous first: {:?}",
            unlimited.items.len(),
            bundle.items.len(),
            bundle
                .dropped
                .iter()
                .map(|id| format!("{id} ({})", unlimited.item(id).unwrap().anomaly))
                .collect::<Vec<_>>()
        );
        assert!(kept <= budget, "{kept} chars kept over a {budget} budget");
        assert_eq!(
            bundle.items.len() + bundle.dropped.len(),
            unlimited.items.len()
        );
        // An item is dropped only when the kept items at least as anomalous leave no room,
        // not even for it compact.
        for id in &bundle.dropped {
            let item = unlimited.item(id).unwrap();
            let ahead: usize = bundle
                .items
                .iter()
                .filter(|k| k.anomaly >= item.anomaly)
                .map(size)
                .sum();
            assert!(
                ahead + size(&collectors::compact(item)) > budget,
                "budget {budget}: {id} (anomaly {}) dropped with room for it",
                item.anomaly
            );
        }
        let compacted: Vec<&str> = bundle
            .items
            .iter()
            .filter(|i| i.data["compacted"] == true)
            .map(|i| i.id.as_str())
            .collect();
        println!("budget {budget}: kept compact: {compacted:?}");
        if budget == default_budget {
            for item in unlimited.items.iter().filter(|i| i.anomaly >= 0.5) {
                assert!(
                    bundle.item(&item.id).is_some(),
                    "{} (anomaly {}) was dropped",
                    item.id,
                    item.anomaly
                );
            }
        }
        if all > budget {
            assert!(
                !bundle.dropped.is_empty(),
                "budget {budget}: nothing dropped"
            );
        }
    }
}

#[tokio::test]
async fn cloudflare_errors_inside_http_200_are_errors() {
    let window = window();
    let cloudflare = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/client/v4/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": null,
            "errors": [{
                "message": "zone '023e105f4ecef8ad9ca31a8372d0c353' does not have access to the path",
                "path": ["viewer", "zones", "0", "firewall"],
                "extensions": {"code": "authz", "timestamp": "2026-11-21T02:16:00Z"}
            }]
        })))
        .mount(&cloudflare)
        .await;
    let registered = collectors::cloudflare::CloudflareCollector::register(
        &settings("http://unused", &format!("{}/client/v4", cloudflare.uri())),
        &secrets(),
    );
    let bundle = run(&[registered], &checkout_targets(), &window, 5).await;
    let r = report(&bundle, "cloudflare");
    assert_eq!(r.status, SourceStatus::Error);
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("does not have access"),
        "{r:?}"
    );
}

// ---------------------------------------------------------------- fan-out

/// Never answers, like an upstream that accepted the connection and went silent.
struct Hung;

#[async_trait]
impl Collector for Hung {
    fn name(&self) -> &'static str {
        "aws"
    }
    async fn collect(&self, _: &Targets, _: &Window) -> Result<Collected, CollectError> {
        std::future::pending().await
    }
}

/// Answers at once with one item.
struct Prompt;

#[async_trait]
impl Collector for Prompt {
    fn name(&self) -> &'static str {
        "kubernetes"
    }
    async fn collect(&self, _: &Targets, window: &Window) -> Result<Collected, CollectError> {
        Ok(Collected {
            items: vec![EvidenceItem {
                id: "k8s.rollout.production/game-api.rev42".into(),
                source: "kubernetes".into(),
                kind: "rollout".into(),
                at: Some(window.onset),
                summary: "game-api rolled out v3.41.0 (revision 42)".into(),
                anomaly: 0.9,
                data: json!({}),
            }],
            warnings: Vec::new(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_collector_does_not_hold_up_the_others_past_its_deadline() {
    let collectors = vec![
        Registered::Ready(Arc::new(Hung)),
        Registered::Ready(Arc::new(Prompt)),
        Registered::NotConfigured {
            name: "cloudflare",
            reason: "CLOUDFLARE_API_TOKEN is not set".into(),
        },
    ];
    let started = tokio::time::Instant::now();
    let bundle = collect_with_deadline(
        &collectors,
        &Targets::default(),
        &window(),
        deadlines(8),
        24_000,
    )
    .await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(8),
        "exactly the per-source deadline"
    );
    assert!(
        bundle
            .item("k8s.rollout.production/game-api.rev42")
            .is_some()
    );
    let describe: Vec<String> = bundle.reports.iter().map(|r| r.describe()).collect();
    assert_eq!(
        describe,
        [
            "aws: timed out after 8 s",
            "cloudflare: not configured (CLOUDFLARE_API_TOKEN is not set)",
            "kubernetes: 1 items",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_cancels_what_is_still_running() {
    let collectors = vec![
        Registered::Ready(Arc::new(Hung)),
        Registered::Ready(Arc::new(Prompt)),
    ];
    let tight = Deadlines {
        per_source: Duration::from_secs(30),
        overall: Duration::from_secs(3),
    };
    let started = tokio::time::Instant::now();
    let bundle =
        collect_with_deadline(&collectors, &Targets::default(), &window(), tight, 24_000).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let aws = report(&bundle, "aws");
    assert_eq!(aws.status, SourceStatus::Timeout);
    assert!(aws.message.as_deref().unwrap().contains("overall deadline"));
    assert_eq!(report(&bundle, "kubernetes").status, SourceStatus::Ok);
}

// ---------------------------------------------------------------- Kubernetes

fn k8s_list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "48211937"}, "items": items})
}

fn replica_set(revision: u32, image: &str, created: DateTime<Utc>, hash: &str) -> Value {
    json!({
        "metadata": {
            "name": format!("game-api-{hash}"),
            "namespace": "production",
            "uid": format!("5f0c-{hash}"),
            "creationTimestamp": created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "labels": {"app": "game-api", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string(), "deployment.kubernetes.io/desired-replicas": "4"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "game-api", "uid": "a1b2", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "game-api", "pod-template-hash": hash}},
            "template": {
                "metadata": {"labels": {"app": "game-api", "pod-template-hash": hash}},
                "spec": {"containers": [{"name": "game-api", "image": image, "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}}}]}
            }
        },
        "status": {"replicas": 4, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 42}
    })
}

fn pod(name: &str, hash: &str, restarts: u32, crashing: bool, window: &Window) -> Value {
    let state = if crashing {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=game-api pod=game-api"}})
    } else {
        json!({"running": {"startedAt": at(window, -3).format("%Y-%m-%dT%H:%M:%SZ").to_string()}})
    };
    let last_state = if crashing {
        json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": at(window, 1).format("%Y-%m-%dT%H:%M:%SZ").to_string(), "finishedAt": at(window, 2).format("%Y-%m-%dT%H:%M:%SZ").to_string(), "containerID": "containerd://9f8e"}})
    } else {
        json!({})
    };
    json!({
        "metadata": {
            "name": name, "namespace": "production", "uid": format!("uid-{name}"),
            "creationTimestamp": at(window, -3).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "labels": {"app": "game-api", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("game-api-{hash}"), "uid": "rs", "controller": true}]
        },
        "spec": {"nodeName": "ip-10-4-12-7.ec2.internal", "containers": [{"name": "game-api", "image": "registry.example.com/game-api:v3.41.0", "resources": {"limits": {"memory": "512Mi"}}, "envFrom": [{"configMapRef": {"name": "game-api-settings"}}]}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": if crashing { "False" } else { "True" }}],
            "containerStatuses": [{"name": "game-api", "ready": !crashing, "restartCount": restarts, "image": "registry.example.com/game-api:v3.41.0", "imageID": "sha256:77aa", "state": state, "lastState": last_state}]
        }
    })
}

fn warning_event(
    reason: &str,
    kind: &str,
    object: &str,
    message: &str,
    count: u32,
    last: DateTime<Utc>,
) -> Value {
    json!({
        "metadata": {"name": format!("{object}.17f3a9c2{reason}"), "namespace": "production"},
        "involvedObject": {"kind": kind, "namespace": "production", "name": object, "apiVersion": "v1"},
        "reason": reason, "message": message, "type": "Warning", "count": count,
        "source": {"component": "kubelet", "host": "ip-10-4-12-7.ec2.internal"},
        "firstTimestamp": (last - chrono::Duration::minutes(4)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "lastTimestamp": last.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

async fn fake_kubernetes(window: &Window) -> MockServer {
    let server = MockServer::start().await;
    let mount = |p: String, body: Value| {
        let server = &server;
        async move {
            Mock::given(method("GET"))
                .and(path(p))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(server)
                .await;
        }
    };
    mount(
        "/apis/apps/v1/namespaces/production/replicasets".into(),
        k8s_list(
            "ReplicaSetList",
            "apps/v1",
            vec![
                replica_set(
                    41,
                    "registry.example.com/game-api:v3.40.2",
                    Utc::now() - chrono::Duration::days(3),
                    "6c9d7f5b8d",
                ),
                replica_set(
                    42,
                    "registry.example.com/game-api:v3.41.0",
                    at(window, -3),
                    "7d9f8b6c5d",
                ),
            ],
        ),
    )
    .await;
    mount(
        "/api/v1/namespaces/production/pods".into(),
        k8s_list(
            "PodList",
            "v1",
            vec![
                pod("game-api-7d9f8b6c5d-x2x7q", "7d9f8b6c5d", 7, true, window),
                pod("game-api-7d9f8b6c5d-lq9mz", "7d9f8b6c5d", 0, false, window),
                // The old revision's last pod, being deleted by the rollout.
                {
                    let mut old = pod("game-api-6c9d7f5b8d-old01", "6c9d7f5b8d", 2, false, window);
                    old["metadata"]["deletionTimestamp"] =
                        json!(at(window, -2).format("%Y-%m-%dT%H:%M:%SZ").to_string());
                    old
                },
                pod("leaderboard-5c8b9-abcde", "5c8b9", 0, false, window),
            ],
        ),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/production/events"))
        .and(query_param("fieldSelector", "type=Warning"))
        .respond_with(ResponseTemplate::new(200).set_body_json(k8s_list("EventList", "v1", vec![
            warning_event("BackOff", "Pod", "game-api-7d9f8b6c5d-x2x7q", "Back-off restarting failed container game-api in pod game-api-7d9f8b6c5d-x2x7q", 31, at(window, 4)),
            warning_event("Unhealthy", "Pod", "game-api-7d9f8b6c5d-x2x7q", "Readiness probe failed: Get \"http://10.4.3.17:8080/readyz\": dial tcp: connection refused; DATABASE_URL=postgres://game:hunter2@db:5432/game", 12, at(window, 3)),
            warning_event("FailedMount", "Pod", "billing-worker-1", "MountVolume.SetUp failed", 2, at(window, 1)),
        ])))
        .mount(&server)
        .await;
    mount(
        "/apis/autoscaling/v2/namespaces/production/horizontalpodautoscalers".into(),
        k8s_list("HorizontalPodAutoscalerList", "autoscaling/v2", vec![json!({
            "metadata": {"name": "game-api", "namespace": "production"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "game-api"}, "minReplicas": 4, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 10, "desiredReplicas": 10, "currentMetrics": [{"type": "Resource", "resource": {"name": "memory", "current": {"averageUtilization": 97}}}]}
        })]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/apis/batch/v1/namespaces/production/jobs"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "jobs.batch is forbidden: User \"system:serviceaccount:triaged:triaged\" cannot list resource \"jobs\" in API group \"batch\" in the namespace \"production\"",
            "reason": "Forbidden", "details": {"group": "batch", "kind": "jobs"}, "code": 403
        })))
        .mount(&server)
        .await;
    mount(
        "/api/v1/nodes/ip-10-4-12-7.ec2.internal".into(),
        json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": "ip-10-4-12-7.ec2.internal", "labels": {"node.kubernetes.io/instance-type": "m6i.xlarge", "topology.kubernetes.io/zone": "eu-west-1a"}},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory", "message": "kubelet has insufficient memory available"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ]}
        }),
    )
    .await;
    mount(
        "/api/v1/namespaces/production/resourcequotas".into(),
        k8s_list(
            "ResourceQuotaList",
            "v1",
            vec![json!({
                "metadata": {"name": "compute", "namespace": "production"},
                "spec": {"hard": {"pods": "40", "limits.memory": "64Gi"}},
                "status": {"hard": {"pods": "40", "limits.memory": "64Gi"},
                           "used": {"pods": "40", "limits.memory": "61Gi"}}
            })],
        ),
    )
    .await;
    // ConfigMaps as metadata only (PartialObjectMetadataList): one the pods read, written two
    // minutes before the onset; one nobody reads; one read but untouched for days.
    let config_map = |name: &str, written: DateTime<Utc>| {
        json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {
                "name": name, "namespace": "production", "uid": format!("uid-{name}"),
                "creationTimestamp": (Utc::now() - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "managedFields": [
                    {"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": (Utc::now() - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string(), "fieldsType": "FieldsV1", "fieldsV1": {}},
                    {"manager": "argocd-controller", "operation": "Apply", "apiVersion": "v1", "time": written.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "fieldsType": "FieldsV1", "fieldsV1": {}}
                ]
            }
        })
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/production/configmaps"))
        .and(wiremock::matchers::header_regex(
            "accept",
            "as=PartialObjectMetadataList",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "4242"},
            "items": [
                config_map("game-api-settings", at(window, -2)),
                config_map("billing-settings", at(window, -1)),
            ]
        })))
        .mount(&server)
        .await;
    mount(
        "/apis/networking.k8s.io/v1/namespaces/production/networkpolicies".into(),
        k8s_list(
            "NetworkPolicyList",
            "networking.k8s.io/v1",
            vec![
                json!({
                    "metadata": {"name": "deny-egress", "namespace": "production", "creationTimestamp": at(window, -6).format("%Y-%m-%dT%H:%M:%SZ").to_string()},
                    "spec": {"podSelector": {"matchLabels": {"app": "game-api"}}, "policyTypes": ["Egress"]}
                }),
                json!({
                    "metadata": {"name": "billing-only", "namespace": "production", "creationTimestamp": at(window, -6).format("%Y-%m-%dT%H:%M:%SZ").to_string()},
                    "spec": {"podSelector": {"matchLabels": {"app": "billing"}}, "policyTypes": ["Ingress"]}
                }),
            ],
        ),
    )
    .await;
    // cert-manager is installed: one certificate expired (renewal failing), one healthy.
    mount(
        "/apis/cert-manager.io/v1/namespaces/production/certificates".into(),
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "CertificateList",
            "metadata": {"resourceVersion": "77"},
            "items": [
                {
                    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": "game-api-tls", "namespace": "production"},
                    "spec": {"secretName": "game-api-tls", "dnsNames": ["play.example.com"], "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}},
                    "status": {
                        "conditions": [{"type": "Ready", "status": "False", "reason": "Expired", "message": "Certificate expired on Sun, 29 Nov 2026 02:00:00 UTC"}],
                        "notAfter": (Utc::now() - chrono::Duration::hours(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        "failedIssuanceAttempts": 3,
                        "lastFailureTime": at(window, -10).format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    }
                },
                {
                    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": "admin-tls", "namespace": "production"},
                    "spec": {"secretName": "admin-tls", "dnsNames": ["admin.example.com"]},
                    "status": {
                        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}],
                        "notAfter": (Utc::now() + chrono::Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    }
                }
            ]
        }),
    )
    .await;
    mount(
        "/apis/apps/v1/namespaces/production/controllerrevisions".into(),
        k8s_list("ControllerRevisionList", "apps/v1", vec![]),
    )
    .await;
    // Node Warning events, cluster-wide, of the node hosting the pods and of another node.
    let mut gc = warning_event(
        "ImageGCFailed",
        "Node",
        "ip-10-4-12-7.ec2.internal",
        "failed to garbage collect required amount of images. Wanted to free 2147483648 bytes, but freed 0 bytes",
        6,
        at(window, 2),
    );
    gc["metadata"]["namespace"] = json!("default");
    gc["involvedObject"]["namespace"] = json!("");
    let mut elsewhere = gc.clone();
    elsewhere["involvedObject"]["name"] = json!("ip-10-9-9-9.ec2.internal");
    elsewhere["metadata"]["name"] = json!("ip-10-9-9-9.ec2.internal.17f3a9c2");
    Mock::given(method("GET"))
        .and(path("/api/v1/events"))
        .and(query_param(
            "fieldSelector",
            "involvedObject.kind=Node,type=Warning",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(k8s_list(
            "EventList",
            "v1",
            vec![gc, elsewhere],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/production/pods/game-api-7d9f8b6c5d-x2x7q/log"))
        .and(query_param("previous", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "2026-11-21T02:12:55Z INFO loading leaderboard snapshot size_mb=1840\n2026-11-21T02:12:58Z INFO connecting with token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJlLXZhbHVl\n2026-11-21T02:13:01Z WARN heap at 498Mi of 512Mi limit\n",
        ))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn kubernetes_reports_the_rollout_crashing_pods_events_hpa_node_and_logs() {
    let window = window();
    let api = fake_kubernetes(&window).await;
    let mut s = settings("http://unused", "http://unused");
    s.kubernetes.enabled = true;
    s.kubernetes.api_url = api.uri();
    let registered = collectors::kubernetes::KubernetesCollector::register(&s).await;
    let targets = Targets {
        kube_namespace: Some("production".into()),
        kube_workloads: vec!["game-api".into()],
        ..Targets::default()
    };
    let bundle = run(&[registered], &targets, &window, 5).await;
    let r = report(&bundle, "kubernetes");
    assert_eq!(r.status, SourceStatus::Ok, "{r:?}");
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("jobs: API 403 Forbidden"),
        "{r:?}"
    );

    let rollout = bundle
        .item("k8s.rollout.production/game-api.rev42")
        .expect("the new revision");
    assert!(
        rollout.summary.contains("v3.41.0") && rollout.summary.contains("3 min before onset"),
        "{}",
        rollout.summary
    );
    assert!(
        rollout
            .summary
            .contains("replacing registry.example.com/game-api:v3.40.2")
    );
    assert!(rollout.anomaly >= 0.9);
    assert!(
        bundle
            .item("k8s.rollout.production/game-api.rev41")
            .is_none(),
        "old revisions outside the window are left out"
    );

    let crashing = bundle
        .item("k8s.pod.production/game-api-7d9f8b6c5d-x2x7q")
        .expect("crashing pod");
    assert!(
        crashing.summary.contains("CrashLoopBackOff")
            && crashing.summary.contains("OOMKilled (exit 137)"),
        "{}",
        crashing.summary
    );
    assert!(
        bundle
            .item("k8s.pod.production/game-api-7d9f8b6c5d-lq9mz")
            .is_none(),
        "healthy pods are not evidence"
    );
    let old = bundle
        .item("k8s.pod.production/game-api-6c9d7f5b8d-old01")
        .expect("the old revision's pod");
    assert!(
        old.summary.contains(&format!(
            "terminating (deleted at {})",
            at(&window, -2).format("%H:%M")
        )) && old.data["terminating"] == true,
        "{}",
        old.summary
    );
    assert_eq!(crashing.data["terminating"], false);
    // The workload counts the pod being deleted apart: it is no longer a wanted replica.
    let workload = bundle
        .item("k8s.workload.production/game-api")
        .expect("the workload's state");
    assert!(
        workload.summary.ends_with(", 1 pod(s) terminating") && workload.data["terminating"] == 1,
        "{}",
        workload.summary
    );
    assert!(
        !bundle.items.iter().any(|i| i.id.contains("leaderboard")),
        "other workloads are left out"
    );

    let backoff = bundle
        .item("k8s.event.production.BackOff.pod/game-api-7d9f8b6c5d-x2x7q")
        .expect("event");
    assert!(backoff.summary.starts_with("31× BackOff"));
    assert!(!bundle.items.iter().any(|i| i.id.contains("billing-worker")));
    let hpa = bundle.item("k8s.hpa.production/game-api").expect("hpa");
    assert!(hpa.summary.contains("at its maximum"));
    let node = bundle
        .item("k8s.node.ip-10-4-12-7.ec2.internal")
        .expect("node");
    assert!(node.summary.contains("MemoryPressure=True"));
    assert!(
        node.summary.contains("(zone eu-west-1a)"),
        "{}",
        node.summary
    );
    let gc = bundle
        .item("k8s.event.node.ImageGCFailed.node/ip-10-4-12-7.ec2.internal")
        .expect("the hosting node's kubelet warning");
    assert!(gc.summary.starts_with("6× ImageGCFailed"), "{}", gc.summary);
    assert!(
        !bundle.items.iter().any(|i| i.id.contains("ip-10-9-9-9")),
        "other nodes' events are left out"
    );
    let config = bundle
        .item("k8s.config.production/configmap/game-api-settings")
        .expect("the ConfigMap the pods read, written in the window");
    assert_eq!(config.kind, "change");
    assert!(
        config.summary.contains("read by game-api")
            && config.summary.contains("2 min before onset"),
        "{}",
        config.summary
    );
    assert!(
        bundle
            .item("k8s.config.production/configmap/billing-settings")
            .is_none(),
        "a ConfigMap the workload does not read is not its change"
    );
    let policy = bundle
        .item("k8s.config.production/networkpolicy/deny-egress")
        .expect("the policy selecting the pods");
    assert!(
        policy.summary.contains("selects pods of game-api"),
        "{}",
        policy.summary
    );
    assert!(
        bundle
            .item("k8s.config.production/networkpolicy/billing-only")
            .is_none()
    );
    let certificate = bundle
        .item("k8s.certificate.production/game-api-tls")
        .expect("the expired certificate");
    assert!(
        certificate.summary.contains("play.example.com")
            && certificate.summary.contains("not Ready (Expired")
            && certificate.summary.contains("3 failed issuance attempt(s)"),
        "{}",
        certificate.summary
    );
    assert_eq!(certificate.data["expired"], true);
    assert!(certificate.anomaly >= 0.9);
    assert!(
        bundle
            .item("k8s.certificate.production/admin-tls")
            .is_none(),
        "a Ready certificate far from expiry is no evidence"
    );
    let logs = bundle
        .item("k8s.logs.production/game-api-7d9f8b6c5d-x2x7q")
        .expect("previous logs");
    assert!(logs.summary.contains("heap at 498Mi of 512Mi limit"));
    assert_no_planted_secrets(&bundle);
}

#[tokio::test]
async fn kubernetes_without_a_cluster_is_not_configured() {
    let mut s = settings("http://unused", "http://unused");
    s.kubernetes.enabled = false;
    let registered = collectors::kubernetes::KubernetesCollector::register(&s).await;
    assert!(matches!(
        registered,
        Registered::NotConfigured {
            name: "kubernetes",
            ..
        }
    ));
}

// ---------------------------------------------------------------- failure shapes, every SaaS collector

/// Cloudflare and Kubernetes facing a 500, a 429 with a far reset, garbage JSON and a reply
/// slower than the deadline: each ends as a named error or timeout, never a panic, a hang or
/// made-up evidence.
#[tokio::test]
async fn cloudflare_and_kubernetes_failures_are_reported_with_their_reason() {
    let window = window();
    let targets = Targets {
        kube_namespace: Some("production".into()),
        kube_workloads: vec!["game-api".into()],
        ..checkout_targets()
    };
    // (shape, reply, expected for cloudflare, expected for kubernetes); kube's client retries
    // a 429 itself, so there the deadline ends it.
    let shapes = [
        (
            "500",
            ResponseTemplate::new(500).set_body_string("internal error"),
            (SourceStatus::Error, "HTTP 500"),
            (SourceStatus::Error, "500"),
        ),
        (
            "429",
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "60")
                .set_body_string("slow down"),
            (SourceStatus::Error, "resets in 60 s"),
            (SourceStatus::Timeout, "timed out"),
        ),
        (
            "garbage",
            ResponseTemplate::new(200).set_body_string("{\"data\": [tru"),
            (SourceStatus::Error, "invalid JSON"),
            (SourceStatus::Error, "every list call failed"),
        ),
        (
            "slow",
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_secs(4)),
            (SourceStatus::Timeout, "timed out after 1 s"),
            (SourceStatus::Timeout, "timed out after 1 s"),
        ),
    ];
    for (shape, reply, cloudflare, kubernetes) in shapes {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(reply)
            .mount(&server)
            .await;
        let mut s = settings("http://unused", &format!("{}/client/v4", server.uri()));
        s.kubernetes.enabled = true;
        s.kubernetes.api_url = server.uri();
        let collectors = vec![
            collectors::cloudflare::CloudflareCollector::register(&s, &secrets()),
            collectors::kubernetes::KubernetesCollector::register(&s).await,
        ];
        let bundle = run(&collectors, &targets, &window, 1).await;
        for (source, (status, needle)) in [("cloudflare", cloudflare), ("kubernetes", kubernetes)] {
            let r = report(&bundle, source);
            assert_eq!(r.status, status, "{shape}: {r:?}");
            assert!(
                r.message.as_deref().unwrap_or("").contains(needle),
                "{shape}: {r:?}"
            );
        }
        assert!(bundle.items.is_empty(), "{shape}: nothing made up");
    }
}

#[tokio::test]
async fn recorded_bundles_are_served_for_their_onset_only_and_named_in_the_report() {
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/cache-outage-pool-exhaustion/evidence.json");
    let recorded: EvidenceBundle =
        serde_json::from_str(&std::fs::read_to_string(&scenario).unwrap()).unwrap();
    let mut settings = Settings::default();
    assert!(collectors::recorded::RecordedCollector::register(&settings).is_none());
    settings.collectors.recorded = vec![scenario.clone()];
    let registered = vec![collectors::recorded::RecordedCollector::register(&settings).unwrap()];

    let bundle = run(&registered, &Targets::default(), &recorded.window, 5).await;
    assert_eq!(bundle.items.len(), recorded.items.len());
    let report = report(&bundle, "recorded");
    assert_eq!(report.status, SourceStatus::Ok);
    assert!(report.message.as_deref().unwrap().contains("evidence.json"));

    let mut other = recorded.window;
    other.onset += chrono::Duration::minutes(1);
    let bundle = run(&registered, &Targets::default(), &other, 5).await;
    assert!(bundle.items.is_empty());
    assert_eq!(report_of(&bundle).status, SourceStatus::Error);

    // Nothing readable: listed as not configured, with the reason.
    settings.collectors.recorded = vec!["/nonexistent/evidence.json".into()];
    match collectors::recorded::RecordedCollector::register(&settings) {
        Some(Registered::NotConfigured { reason, .. }) => {
            assert!(reason.contains("/nonexistent/evidence.json"), "{reason}")
        }
        _ => panic!("expected not configured"),
    }
}

fn report_of(bundle: &EvidenceBundle) -> &triaged::domain::SourceReport {
    report(bundle, "recorded")
}

// ------------------------------------------------- the scenario README's evidence example

/// Series, groups and tails cut to a few entries: an example, not a dump.
fn trimmed(mut bundle: Value) -> Value {
    for item in bundle["items"].as_array_mut().unwrap() {
        // `get_mut`, not indexing: indexing a JSON object for writing inserts the key.
        let data = &mut item["data"];
        if let Some(points) = data
            .get_mut("series")
            .and_then(|s| s.get_mut("points"))
            .and_then(Value::as_array_mut)
        {
            points.truncate(3);
        }
        if let Some(groups) = data.get_mut("groups").and_then(Value::as_array_mut) {
            groups.truncate(2);
        }
    }
    bundle
}

/// What must not drift: each item's kind, source, id and summary with their variable parts
/// masked, and the keys of its data.
fn shape(bundle: &Value) -> Vec<String> {
    let mask = triaged::collectors::templates::template;
    let mut shape: Vec<String> = bundle["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut keys: Vec<&str> = item["data"]
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort();
            format!(
                "{} {} {} | {} | {}",
                item["source"].as_str().unwrap_or_default(),
                item["kind"].as_str().unwrap_or_default(),
                mask(item["id"].as_str().unwrap_or_default()),
                mask(item["summary"].as_str().unwrap_or_default()),
                keys.join(",")
            )
        })
        .collect();
    shape.sort();
    let mut top: Vec<String> = bundle.as_object().unwrap().keys().cloned().collect();
    top.sort();
    shape.push(format!("bundle keys: {}", top.join(",")));
    shape
}

#[tokio::test]
async fn the_scenario_readme_example_is_what_triaged_collect_prints() {
    let window = window();
    let datadog = fake_datadog(&window).await;
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("alert.json");
    std::fs::write(
        &payload,
        json!({
            "id": "7311054470861829026",
            "alert_id": "88123401",
            "alert_cycle_key": "88123401-1",
            "transition": "Triggered",
            "title": "[Triggered] prod-postgres-primary CPU above 90%",
            "message": "CPU on the primary is saturated. @pagerduty-payments",
            "query": "avg(last_10m):avg:aws.rds.cpuutilization{dbinstanceidentifier:prod-postgres-primary} > 90",
            "scope": "service:checkout-db",
            "priority": "P2",
            "tags": "env:prod,service:checkout-db,team:payments",
            "date": window.onset.timestamp_millis().to_string(),
            "last_updated": window.onset.timestamp_millis().to_string(),
            "link": "https://app.datadoghq.com/monitors/88123401",
            "org_id": "321813",
            "hostname": "$HOSTNAME",
            "metric": "aws.rds.cpuutilization"
        })
        .to_string(),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("collect")
        .arg(&payload)
        .args(["--source", "datadog", "--json"])
        .env("TRIAGED__DATADOG__API_BASE", datadog.uri())
        .env("DD_API_KEY", "dd-api-key-test")
        .env("DD_APP_KEY", "dd-app-key-test")
        .env("TRIAGED__KUBERNETES__ENABLED", "false")
        .env("TRIAGED__AWS__ENABLED", "false")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let collected = trimmed(serde_json::from_slice(&output.stdout).unwrap());
    let kinds: Vec<&str> = collected["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    for kind in ["monitor", "metric", "logs", "change"] {
        assert!(kinds.contains(&kind), "collect read a {kind}: {kinds:?}");
    }

    let readme_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (begin, end) = (
        "<!-- evidence-example:begin -->",
        "<!-- evidence-example:end -->",
    );
    let start = readme.find(begin).expect("the README marks its example") + begin.len();
    let stop = readme.find(end).expect("the README closes its example");
    if std::env::var_os("TRIAGED_UPDATE_EXAMPLES").is_some() {
        let block = format!(
            "\n```json\n{}\n```\n",
            serde_json::to_string_pretty(&collected).unwrap()
        );
        std::fs::write(
            &readme_path,
            format!("{}{block}{}", &readme[..start], &readme[stop..]),
        )
        .unwrap();
        return;
    }
    let shown = readme[start..stop]
        .trim()
        .trim_start_matches("```json")
        .trim_end_matches("```");
    let shown: Value = serde_json::from_str(shown).expect("the README example is JSON");
    assert_eq!(
        shape(&shown),
        shape(&collected),
        "tests/scenarios/README.md's example no longer matches `triaged collect --json`; \
         regenerate it with TRIAGED_UPDATE_EXAMPLES=1 cargo nextest run the_scenario_readme_example"
    );
}

#[tokio::test]
async fn datadog_reads_the_services_monitors_when_the_alert_is_not_one() {
    let window = window();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/monitor"))
        .and(query_param("monitor_tags", "service:checkout-db"))
        .and(header("DD-API-KEY", "dd-api-key-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 7001, "name": "checkout-db p95 latency", "type": "metric alert",
             "query": "avg(last_5m):p95:trace.postgres.query.duration{service:checkout-db} > 0.5",
             "overall_state": "OK", "tags": ["service:checkout-db"], "options": {"thresholds": {"critical": 0.5}}},
            {"id": 7002, "name": "checkout-db error rate", "type": "metric alert",
             "query": "sum(last_5m):sum:trace.postgres.query.errors{service:checkout-db}.as_count() > 50",
             "overall_state": "Alert", "tags": ["service:checkout-db"], "options": {"thresholds": {"critical": 50}}}
        ])))
        .mount(&server)
        .await;
    mount_hits(&server, &window).await;
    for endpoint in ["/api/v2/logs/events/search", "/api/v2/events/search"] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [], "meta": {}})))
            .mount(&server)
            .await;
    }
    let registered = collectors::datadog::DatadogCollector::register(
        &settings(&server.uri(), "http://unused"),
        &secrets(),
    );
    // An Alertmanager or PagerDuty alert: a service, no monitor id.
    let targets = Targets {
        service: Some("checkout-db".into()),
        datadog_service: Some("checkout-db".into()),
        ..Targets::default()
    };
    let bundle = run(&[registered], &targets, &window, 5).await;
    let datadog_report = report(&bundle, "datadog");
    assert_eq!(
        datadog_report.status,
        SourceStatus::Ok,
        "{datadog_report:?}"
    );
    assert_eq!(datadog_report.message, None, "{datadog_report:?}");
    let monitors: Vec<&EvidenceItem> = bundle
        .items
        .iter()
        .filter(|i| i.kind == "monitor")
        .collect();
    assert_eq!(monitors.len(), 2, "{monitors:?}");
    assert_eq!(monitors[0].id, "datadog.monitor.7002", "alerting first");
    assert!(monitors[0].summary.contains("is Alert"));
    assert_eq!(monitors[1].data["overall_state"], "OK");
    assert!(
        monitors[1].anomaly <= 0.2,
        "an OK monitor says the service is fine by it"
    );
}
