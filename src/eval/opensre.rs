//! The external benchmark: the synthetic scenarios of the OpenSRE project (Apache-2.0), kept
//! unchanged under `../shared/benchmarks/opensre/` — labelled incidents nobody here wrote.
//!
//! Each scenario is an Alertmanager/Grafana-style alert, evidence files that summarise what
//! Kubernetes, Datadog, CloudWatch, RDS and Performance Insights said, and a label. The alert
//! goes through the Alertmanager parser and target resolution; the Kubernetes evidence is
//! served by a fake Kubernetes API server in the API's own JSON and gathered by the real
//! Kubernetes collector, the Datadog logs by a fake Logs Search API and the real Datadog
//! collector, all under the real fan-out, deadlines and size budget. The AWS files (CloudWatch
//! series, RDS events, Performance Insights) are turned into evidence items by the AWS
//! collector's own item builders, without its SDK calls. Then signals, the analyst and the
//! Slack rendering run as in production, and the brief is scored against the label.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AnalystMode, EvalOptions, ScenarioResult, Scorecard, analyst_for, scorecard, strongest_signals,
};
use crate::catalog::{ServiceCatalog, Targets};
use crate::collectors::{self, Deadlines, Registered, aws, datadog, kubernetes};
use crate::config::{Secrets, Settings};
use crate::domain::{Alert, AlertSource, Category, Window};
use crate::intake::{self, Delivery};
use crate::pipeline::stages;

/// Their categories, and the categories of ours that answer each.
pub fn mapped(theirs: &str) -> &'static [Category] {
    match theirs {
        "resource_exhaustion" => &[Category::ResourceSaturation, Category::DataGrowth],
        "configuration_error" => &[Category::ConfigChange, Category::DeployRegression],
        "infrastructure" => &[Category::InfrastructureFailure, Category::Network],
        "dependency_failure" => &[Category::DependencyFailure, Category::Network],
        "data_quality" => &[Category::DataGrowth, Category::DeployRegression],
        "healthy" => &[Category::NoFault],
        _ => &[Category::Unknown],
    }
}

/// The label of one scenario (`answer.yml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub root_cause_category: String,
    #[serde(default)]
    pub required_keywords: Vec<String>,
    #[serde(default)]
    pub forbidden_categories: Vec<String>,
    #[serde(default)]
    pub ruling_out_keywords: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ScenarioFile {
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    available_evidence: Vec<String>,
}

/// The evidence files a scenario may have.
const EVIDENCE: [&str; 10] = [
    "eks_pods",
    "eks_events",
    "eks_deployments",
    "eks_node_health",
    "eks_pod_logs",
    "datadog_logs",
    "datadog_monitors",
    "aws_cloudwatch_metrics",
    "aws_rds_events",
    "aws_performance_insights",
];

/// One scenario, its evidence resolved against its base scenario.
pub struct Case {
    pub name: String,
    pub alert: Vec<u8>,
    pub label: Label,
    files: BTreeMap<String, Value>,
}

impl Case {
    pub fn load(dir: &Path, root: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| -> anyhow::Result<String> {
            std::fs::read_to_string(dir.join(name))
                .with_context(|| format!("{}/{name}", dir.display()))
        };
        let label: Label = serde_yaml_ng::from_str(&read("answer.yml")?)
            .with_context(|| format!("{}/answer.yml", dir.display()))?;
        let scenario: ScenarioFile = match read("scenario.yml") {
            Ok(text) => serde_yaml_ng::from_str(&text).unwrap_or_default(),
            Err(_) => ScenarioFile::default(),
        };
        let base = scenario
            .base
            .as_deref()
            .map(|b| dir.parent().unwrap_or(dir).join(b));
        let mut files = BTreeMap::new();
        for stem in EVIDENCE {
            let listed = scenario.available_evidence.is_empty()
                || scenario.available_evidence.iter().any(|e| e == stem);
            let own = dir.join(format!("{stem}.json"));
            let inherited = base.as_ref().map(|b| b.join(format!("{stem}.json")));
            let path = if own.is_file() {
                Some(own)
            } else if listed {
                inherited.filter(|p| p.is_file())
            } else {
                None
            };
            if let Some(path) = path {
                let value: Value = serde_json::from_slice(&std::fs::read(&path)?)
                    .with_context(|| path.display().to_string())?;
                files.insert(stem.to_string(), value);
            } else if let Some(value) = split_metrics(dir, stem)? {
                files.insert(stem.to_string(), value);
            }
        }
        let name = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
        Ok(Self {
            name: if name.is_empty() {
                dir.display().to_string()
            } else {
                name
            },
            alert: read("alert.json")?.into_bytes(),
            label,
            files,
        })
    }

    fn file(&self, stem: &str) -> &Value {
        self.files.get(stem).unwrap_or(&Value::Null)
    }

    fn list(&self, stem: &str, key: &str) -> Vec<Value> {
        self.file(stem)[key].as_array().cloned().unwrap_or_default()
    }

    /// When the fault began, as the evidence tells it: the first warning or RDS event, else
    /// the middle of the CloudWatch span, else the newest log line.
    fn window(&self) -> Window {
        let times = |stem: &str, key: &str, field: &str| -> Vec<DateTime<Utc>> {
            self.list(stem, key)
                .iter()
                .filter_map(|v| time(&v[field]))
                .collect()
        };
        let firsts: Vec<DateTime<Utc>> = times("eks_events", "warning_events", "first_time")
            .into_iter()
            .chain(times("aws_rds_events", "events", "date"))
            .collect();
        let lasts: Vec<DateTime<Utc>> = times("eks_events", "warning_events", "last_time")
            .into_iter()
            .chain(times("aws_rds_events", "events", "date"))
            .chain(times("datadog_logs", "logs", "timestamp"))
            .chain(time(&self.file("aws_cloudwatch_metrics")["end_time"]))
            .collect();
        let span = (
            time(&self.file("aws_cloudwatch_metrics")["start_time"]),
            time(&self.file("aws_cloudwatch_metrics")["end_time"]),
        );
        let latest = lasts.iter().max().copied().unwrap_or_else(Utc::now);
        // Events long before the newest evidence are history, not the onset.
        let recent_first = firsts
            .iter()
            .filter(|t| latest - **t <= chrono::Duration::hours(2))
            .min()
            .copied();
        let onset = match (recent_first, span) {
            (Some(first), _) => first,
            (None, (Some(start), Some(end))) => start + (end - start) / 2,
            _ => latest,
        };
        Window {
            start: onset - chrono::Duration::minutes(60),
            onset,
            end: latest.max(onset) + chrono::Duration::minutes(1),
        }
    }
}

/// CloudWatch metrics split one file per metric: `<stem>_envelope.json` (namespace, period,
/// span) and `<stem>_<MetricName>.json` (one `metric_data_results` entry each), assembled into
/// the one-file shape.
fn split_metrics(dir: &Path, stem: &str) -> anyhow::Result<Option<Value>> {
    let envelope = dir.join(format!("{stem}_envelope.json"));
    if stem != "aws_cloudwatch_metrics" || !envelope.is_file() {
        return Ok(None);
    }
    let mut value: Value = serde_json::from_slice(&std::fs::read(&envelope)?)
        .with_context(|| envelope.display().to_string())?;
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p != &envelope
                && p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{stem}_")))
        })
        .collect();
    parts.sort();
    let mut results = Vec::new();
    for part in parts {
        results.push(
            serde_json::from_slice::<Value>(&std::fs::read(&part)?)
                .with_context(|| part.display().to_string())?,
        );
    }
    value["metric_data_results"] = Value::Array(results);
    Ok(Some(value))
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Every scenario directory (one with `answer.yml` and `alert.json`) under `root`.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    let is_case = |d: &Path| d.join("answer.yml").is_file() && d.join("alert.json").is_file();
    if is_case(root) {
        return vec![root.to_path_buf()];
    }
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if is_case(&path) {
                found.push(path);
            } else if depth < 2 {
                stack.push((path, depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// Runs every OpenSRE scenario under `root` and scores it.
pub async fn run(
    root: &Path,
    settings: &Settings,
    secrets: &Secrets,
    options: &EvalOptions,
) -> anyhow::Result<Scorecard> {
    anyhow::ensure!(
        options.analyst != AnalystMode::Canned,
        "the OpenSRE scenarios carry no canned model answers; use --analyst rules or llm"
    );
    let dirs = discover(root);
    anyhow::ensure!(
        !dirs.is_empty(),
        "no OpenSRE scenarios under {} (a scenario is a directory with answer.yml and alert.json)",
        root.display()
    );
    let catalog = ServiceCatalog::default();
    let analyst = analyst_for(options.analyst, settings, secrets, &catalog, None)?;
    let mut results = Vec::new();
    let mut unread = Vec::new();
    for dir in dirs {
        let case = Case::load(&dir, root)?;
        if !options.only.is_empty() && !options.only.iter().any(|o| case.name.contains(o)) {
            continue;
        }
        let (result, gaps) = run_one(&case, settings, &catalog, &analyst)
            .await
            .with_context(|| format!("scenario {}", case.name))?;
        results.push(result);
        unread.extend(gaps);
    }
    let mut card = scorecard(options.analyst, 0, Vec::new(), results);
    card.suite = "opensre".into();
    // What the collectors could not read from data they were not written against.
    card.warnings = unread;
    Ok(card)
}

async fn run_one(
    case: &Case,
    settings: &Settings,
    catalog: &ServiceCatalog,
    analyst: &crate::analysis::Analyst,
) -> anyhow::Result<(ScenarioResult, Vec<String>)> {
    let mut stage_ms = BTreeMap::new();
    let mut timed = |stage: &str, started: Instant| {
        stage_ms.insert(stage.to_string(), started.elapsed().as_secs_f64() * 1000.0);
    };
    let window = case.window();

    let started = Instant::now();
    let alerts = intake::parse(
        AlertSource::Alertmanager,
        &Delivery {
            body: &case.alert,
            header_delivery_id: None,
            received_at: window.onset,
            keep_raw: false,
        },
    )
    .map_err(|e| anyhow::anyhow!("alert.json: {e}"))?;
    let alert = Alert::current(&alerts).context("the alert carries nothing")?;
    let targets = Targets::resolve(alert, catalog);
    timed("parse", started);

    let started = Instant::now();
    let fakes = Fakes::start(case).await?;
    let collectors = fakes.collectors(case, settings).await;
    let mut bundle = collectors::collect_with_deadline(
        &collectors,
        &targets,
        &window,
        Deadlines::from_settings(settings),
        settings.collectors.bundle_budget_chars,
    )
    .await;
    // As the live gather does: a decisive fact in the alert's text is evidence too.
    stages::add_alert_evidence(&mut bundle, alert);
    if std::env::var_os("TMPDUMP").is_some() {
        eprintln!("DUMP {}", serde_json::to_string(&bundle).unwrap());
    }
    timed("collect", started);

    let started = Instant::now();
    let brief = stages::analyse(analyst, alert, &bundle, &[]).await;
    timed("analyse", started);
    let started = Instant::now();
    stages::render(alert, &brief, &bundle, &[])?;
    timed("render", started);

    let triage = &brief.triage;
    let rc = &triage.root_cause;
    let answers = mapped(&case.label.root_cause_category);
    let category_hit = answers.contains(&rc.category);
    let forbidden = !category_hit
        && case
            .label
            .forbidden_categories
            .iter()
            .any(|f| mapped(f).contains(&rc.category));
    let text = brief_text(triage).to_lowercase();
    let found = |words: &[String]| {
        words
            .iter()
            .filter(|w| text.contains(&w.to_lowercase()))
            .count()
    };
    let cited: Vec<&String> = rc.evidence_ids.iter().collect();
    let gaps: Vec<String> = bundle
        .reports
        .iter()
        .filter(|r| r.status != crate::domain::SourceStatus::Ok || r.message.is_some())
        .map(|r| format!("{}: {}", case.name, r.describe()))
        .collect();
    Ok((
        ScenarioResult {
            name: case.name.clone(),
            description: alert.title.clone(),
            expected_category: format!(
                "{} ({})",
                case.label.root_cause_category,
                answers
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            expected_entity: Vec::new(),
            category: rc.category.as_str().into(),
            entity: rc.entity.clone(),
            confidence: rc.confidence,
            score: rc.score,
            analyst: brief.analyst.clone(),
            category_hit,
            // The labels name no entity: the category decides.
            entity_hit: category_hit,
            hit: category_hit && !forbidden,
            knowledge_expected: 0,
            knowledge_found: 0,
            knowledge_doc_found: 0,
            retrieved: Vec::new(),
            evidence_expected: 0,
            evidence_cited: 0,
            citations_valid: cited.iter().filter(|id| bundle.item(id).is_some()).count(),
            citations_invalid: brief.validation.dropped_ids.len(),
            stage_ms,
            headline: brief.headline(),
            signals: strongest_signals(&brief),
            keywords_expected: case.label.required_keywords.len(),
            keywords_found: found(&case.label.required_keywords),
            forbidden,
            ruled_out_expected: case.label.ruling_out_keywords.len(),
            ruled_out_found: found(&case.label.ruling_out_keywords),
            hypotheses: super::score::outcomes(&brief, |h| answers.contains(&h.category)),
        },
        gaps,
    ))
}

/// Everything a reader of the brief reads.
fn brief_text(triage: &crate::analysis::schema::Triage) -> String {
    let mut parts = vec![triage.summary.clone(), triage.root_cause.statement.clone()];
    for a in &triage.alternatives {
        parts.push(a.statement.clone());
        parts.push(a.why_less_likely.clone());
    }
    for a in &triage.actions {
        parts.push(a.action.clone());
        parts.push(a.expected_outcome.clone());
    }
    for c in &triage.confidence_breakdown {
        parts.push(c.check.clone());
    }
    for g in &triage.data_gaps {
        parts.push(g.reason.clone());
    }
    parts.join("\n")
}

/// The fake upstreams of one scenario: a Kubernetes API server and a Datadog API.
struct Fakes {
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        self._server.abort();
    }
}

impl Fakes {
    async fn start(case: &Case) -> anyhow::Result<Self> {
        let state = Arc::new(FakeState {
            onset: case.window().onset,
            pods: case.list("eks_pods", "pods"),
            events: case.list("eks_events", "warning_events"),
            deployments: case.list("eks_deployments", "deployments"),
            nodes: case.list("eks_node_health", "nodes"),
            pod_logs: case.file("eks_pod_logs").clone(),
            logs: case.list("datadog_logs", "logs"),
            metrics: case.list("aws_cloudwatch_metrics", "metric_data_results"),
            monitors: case.list("datadog_monitors", "monitors"),
            pi: case.file("aws_performance_insights").clone(),
            rds_events: case.list("aws_rds_events", "events"),
        });
        let router = Router::new()
            .route(
                "/apis/apps/v1/namespaces/{ns}/replicasets",
                get(replica_sets),
            )
            .route("/api/v1/namespaces/{ns}/pods", get(pods))
            .route("/api/v1/namespaces/{ns}/pods/{pod}/log", get(pod_log))
            .route("/api/v1/namespaces/{ns}/events", get(events))
            .route(
                "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
                get(|| async {
                    Json(list(
                        "HorizontalPodAutoscalerList",
                        "autoscaling/v2",
                        vec![],
                    ))
                }),
            )
            .route(
                "/apis/batch/v1/namespaces/{ns}/jobs",
                get(|| async { Json(list("JobList", "batch/v1", vec![])) }),
            )
            // The scenarios carry no quota objects (a refused pod shows in their events).
            .route(
                "/api/v1/namespaces/{ns}/resourcequotas",
                get(|| async { Json(list("ResourceQuotaList", "v1", vec![])) }),
            )
            // Nor any ConfigMap, NetworkPolicy or StatefulSet/DaemonSet revision.
            .route(
                "/api/v1/namespaces/{ns}/configmaps",
                get(|| async { Json(list("PartialObjectMetadataList", "meta.k8s.io/v1", vec![])) }),
            )
            .route(
                "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
                get(|| async { Json(list("NetworkPolicyList", "networking.k8s.io/v1", vec![])) }),
            )
            .route(
                "/apis/apps/v1/namespaces/{ns}/controllerrevisions",
                get(|| async { Json(list("ControllerRevisionList", "apps/v1", vec![])) }),
            )
            .route("/api/v1/nodes/{name}", get(node))
            .route("/api/v2/logs/events/search", post(log_search))
            .route("/api/v1/monitor", get(monitor_list))
            // CloudWatch and RDS speak the AWS Query protocol: a form POST to `/`.
            .route("/", post(aws_query))
            .route("/api/v1/events", get(cluster_events))
            // Metric queries: the scenarios have no Datadog metrics.
            .route(
                "/api/v1/query",
                get(|| async {
                    Json(json!({"status": "ok", "res_type": "time_series", "series": []}))
                }),
            )
            // Event Management search: the scenarios have no change events.
            .route(
                "/api/v2/events/search",
                post(|| async { Json(json!({"data": [], "meta": {"page": {}}})) }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            base,
            _server: server,
        })
    }

    /// The real Kubernetes and Datadog collectors pointed at the fakes, and the AWS files as
    /// items; a source whose files the scenario lacks is not configured, as in production.
    async fn collectors(&self, case: &Case, settings: &Settings) -> Vec<Registered> {
        let mut settings = settings.clone();
        settings.kubernetes.enabled = true;
        settings.kubernetes.api_url = self.base.clone();
        settings.datadog.api_base = self.base.clone();
        let secrets = Secrets {
            datadog_api_key: Some(SecretString::from("opensre-fake")),
            datadog_app_key: Some(SecretString::from("opensre-fake")),
            ..Secrets::default()
        };
        let has = |prefix: &str| case.files.keys().any(|k| k.starts_with(prefix));
        let mut collectors = Vec::new();
        if has("eks_") {
            collectors.push(kubernetes::KubernetesCollector::register(&settings).await);
        }
        if has("datadog_") {
            collectors.push(datadog::DatadogCollector::register(&settings, &secrets));
        }
        if has("aws_") {
            // The real AWS collector and SDK, pointed at the fake: nothing leaves the machine.
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&self.base)
                .credentials_provider(aws_sdk_rds::config::Credentials::new(
                    "opensre", "opensre", None, None, "opensre",
                ))
                .load()
                .await;
            collectors.push(aws::AwsCollector::from_sdk_config(&config));
        }
        collectors
    }
}

struct FakeState {
    onset: DateTime<Utc>,
    monitors: Vec<Value>,
    pi: Value,
    metrics: Vec<Value>,
    rds_events: Vec<Value>,
    pods: Vec<Value>,
    events: Vec<Value>,
    deployments: Vec<Value>,
    nodes: Vec<Value>,
    pod_logs: Value,
    logs: Vec<Value>,
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items})
}

/// `payments-api-7f9dd8b6c4-x7gr9` → `payments-api-7f9dd8b6c4`, the ReplicaSet it belongs to.
fn replica_set_of(pod: &str) -> Option<&str> {
    pod.rsplit_once('-').map(|(rs, _)| rs)
}

/// The deployments, from their file or, without one, from the pods' names.
fn deployment_names(state: &FakeState, namespace: &str) -> Vec<(String, Value)> {
    let mut names: Vec<(String, Value)> = state
        .deployments
        .iter()
        .filter(|d| d["namespace"].as_str().is_none_or(|n| n == namespace))
        .filter_map(|d| Some((d["name"].as_str()?.to_string(), d.clone())))
        .collect();
    for pod in &state.pods {
        if let Some(deployment) = pod["name"]
            .as_str()
            .and_then(replica_set_of)
            .and_then(|rs| rs.rsplit_once('-'))
            .map(|(d, _)| d.to_string())
            && !names.iter().any(|(n, _)| *n == deployment)
        {
            names.push((deployment, Value::Null));
        }
    }
    names
}

async fn replica_sets(
    State(state): State<Arc<FakeState>>,
    UrlPath(ns): UrlPath<String>,
) -> Json<Value> {
    let created = (state.onset - chrono::Duration::days(30)).to_rfc3339();
    let mut items = Vec::new();
    for (deployment, spec) in deployment_names(&state, &ns) {
        let mut sets: Vec<String> = state
            .pods
            .iter()
            .filter_map(|p| p["name"].as_str().and_then(replica_set_of))
            .filter(|rs| rs.rsplit_once('-').is_some_and(|(d, _)| d == deployment))
            .map(str::to_string)
            .collect();
        sets.sort();
        sets.dedup();
        for rs in sets {
            items.push(json!({
                "metadata": {"name": rs, "namespace": ns, "creationTimestamp": created, "uid": format!("uid-{rs}"),
                    "annotations": {"deployment.kubernetes.io/revision": "1"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": format!("uid-{deployment}"), "controller": true}]},
                "spec": {"replicas": spec["desired"].as_i64().unwrap_or(1), "selector": {"matchLabels": {"app": deployment}},
                    "template": {"metadata": {"labels": {"app": deployment}}, "spec": {"containers": [{"name": deployment, "image": format!("{deployment}:current")}]}}},
                "status": {"replicas": spec["desired"].as_i64().unwrap_or(1), "readyReplicas": spec["ready"].as_i64().unwrap_or(1)}
            }));
        }
    }
    Json(list("ReplicaSetList", "apps/v1", items))
}

/// A pod of the file as the Kubernetes API returns it.
fn pod_object(pod: &Value, namespace: &str) -> Value {
    let name = pod["name"].as_str().unwrap_or("pod");
    let statuses: Vec<Value> = pod["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let state = &c["state"];
            let message = state["message"].as_str().unwrap_or_default();
            // "last terminated: reason=OOMKilled, exit_code=137"
            let last_reason = message
                .split("reason=")
                .nth(1)
                .map(|r| r.split([',', ' ', ';']).next().unwrap_or_default().to_string());
            let exit_code = state["exit_code"].as_i64();
            let current = if state["waiting"] == true {
                json!({"waiting": {"reason": state["reason"], "message": message}})
            } else if state["terminated"] == true {
                json!({"terminated": {"exitCode": exit_code.unwrap_or(1), "reason": state["reason"]}})
            } else {
                json!({"running": {"startedAt": state["started_at"].as_str().or(pod["start_time"].as_str())}})
            };
            let mut status = json!({
                "name": c["name"], "ready": c["ready"].as_bool().unwrap_or(false),
                "restartCount": c["restart_count"].as_i64().unwrap_or(0),
                "image": format!("{}:current", c["name"].as_str().unwrap_or("app")), "imageID": "",
                "state": current
            });
            if let Some(code) = exit_code.filter(|_| state["terminated"] != true) {
                let reason = last_reason.unwrap_or_else(|| {
                    if code == 137 { "OOMKilled".into() } else { "Error".into() }
                });
                status["lastState"] = json!({"terminated": {"exitCode": code, "reason": reason}});
            }
            status
        })
        .collect();
    let owner = replica_set_of(name).map_or(json!([]), |rs| {
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": format!("uid-{rs}"), "controller": true}])
    });
    json!({
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
            "ownerReferences": owner, "deletionTimestamp": pod["deletion_timestamp"]},
        // A pending pod has no node: the file's placeholder is not a node name.
        "spec": {"nodeName": pod["node_name"].as_str().filter(|n| !n.is_empty() && *n != "unscheduled" && *n != "<none>"), "containers": pod["containers"].as_array().cloned().unwrap_or_default().iter()
            .map(|c| json!({"name": c["name"], "image": format!("{}:current", c["name"].as_str().unwrap_or("app"))})).collect::<Vec<_>>()},
        "status": {"phase": pod["phase"], "startTime": pod["start_time"], "conditions": pod["conditions"].as_array().cloned().unwrap_or_default()
            .iter().map(|c| json!({"type": c["type"], "status": c["status"], "reason": c["reason"].as_str().filter(|r| !r.is_empty()), "message": c["message"].as_str().filter(|m| !m.is_empty())})).collect::<Vec<_>>(),
            "containerStatuses": statuses}
    })
}

async fn pods(State(state): State<Arc<FakeState>>, UrlPath(ns): UrlPath<String>) -> Json<Value> {
    let items = state
        .pods
        .iter()
        .filter(|p| p["namespace"].as_str().is_none_or(|n| n == ns))
        .map(|p| pod_object(p, &ns))
        .collect();
    Json(list("PodList", "v1", items))
}

async fn pod_log(
    State(state): State<Arc<FakeState>>,
    UrlPath((_, pod)): UrlPath<(String, String)>,
) -> String {
    if state.pod_logs["pod_name"].as_str() == Some(pod.as_str()) {
        state.pod_logs["logs"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    } else {
        String::new()
    }
}

#[derive(Deserialize)]
struct EventQuery {
    #[serde(rename = "fieldSelector")]
    field_selector: Option<String>,
}

async fn events(
    State(state): State<Arc<FakeState>>,
    UrlPath(ns): UrlPath<String>,
    Query(query): Query<EventQuery>,
) -> Json<Value> {
    Json(event_list(
        &state,
        Some(&ns),
        query.field_selector.as_deref(),
    ))
}

/// `GET /api/v1/events` is two APIs on this one fake host: the Kubernetes cluster-wide event
/// list (asked with a `fieldSelector`, e.g. node Warning events) and Datadog's v1 event stream
/// (the scenarios have no Datadog events).
async fn cluster_events(
    State(state): State<Arc<FakeState>>,
    Query(query): Query<EventQuery>,
) -> Json<Value> {
    match query.field_selector.as_deref() {
        Some(selector) => Json(event_list(&state, None, Some(selector))),
        None => Json(json!({"events": []})),
    }
}

/// The scenario's events as a Kubernetes `EventList`: those of `namespace` (all when `None`),
/// restricted by the field selector's `type=` and `involvedObject.kind=`.
fn event_list(state: &FakeState, namespace: Option<&str>, selector: Option<&str>) -> Value {
    let selected = |key: &str| {
        selector?
            .split(',')
            .find_map(|part| part.strip_prefix(key).map(str::to_string))
    };
    let (wanted_type, wanted_kind) = (selected("type="), selected("involvedObject.kind="));
    let items = state
        .events
        .iter()
        .filter(|e| namespace.is_none_or(|ns| e["namespace"].as_str().is_none_or(|n| n == ns)))
        .filter(|e| {
            wanted_type
                .as_deref()
                .is_none_or(|t| e["type"].as_str().unwrap_or("Warning") == t)
        })
        .enumerate()
        .filter_map(|(i, e)| {
            let (kind, name) = e["involved_object"]
                .as_str()
                .and_then(|o| o.split_once('/'))
                .unwrap_or(("Pod", ""));
            if wanted_kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case(kind)) {
                return None;
            }
            let ns = namespace.or(e["namespace"].as_str()).unwrap_or("default");
            Some(json!({
                "metadata": {"name": format!("event-{i}"), "namespace": ns},
                "involvedObject": {"kind": kind, "name": name, "namespace": ns},
                "reason": e["reason"], "message": e["message"], "type": e["type"].as_str().unwrap_or("Warning"),
                "count": e["count"], "firstTimestamp": e["first_time"], "lastTimestamp": e["last_time"]
            }))
        })
        .collect();
    list("EventList", "v1", items)
}

async fn node(
    State(state): State<Arc<FakeState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, (axum::http::StatusCode, Json<Value>)> {
    let Some(node) = state.nodes.iter().find(|n| n["name"] == name.as_str()) else {
        return Err((
            axum::http::StatusCode::NOT_FOUND,
            Json(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("nodes \"{name}\" not found"), "reason": "NotFound", "code": 404}),
            ),
        ));
    };
    let condition = |kind: &str, field: &str| json!({"type": kind, "status": node[field].as_str().unwrap_or("Unknown")});
    Ok(Json(json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name},
        "status": {
            "conditions": [condition("Ready", "ready"), condition("MemoryPressure", "memory_pressure"),
                condition("DiskPressure", "disk_pressure"), condition("PIDPressure", "pid_pressure")],
            "capacity": {"cpu": node["capacity_cpu"], "memory": node["capacity_memory"]},
            "allocatable": {"cpu": node["allocatable_cpu"], "memory": node["allocatable_memory"]}
        }
    })))
}

/// The Logs Search API: the query's `service:` and `status:` terms filter the file's logs.
async fn log_search(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Json<Value> {
    let query = body["filter"]["query"].as_str().unwrap_or_default();
    let term = |key: &str| {
        query
            .split_whitespace()
            .find_map(|t| t.strip_prefix(&format!("{key}:")))
            .map(str::to_string)
    };
    let (service, status) = (term("service"), term("status"));
    let mut data: Vec<Value> = state
        .logs
        .iter()
        .filter(|l| service.as_deref().is_none_or(|s| l["service"] == s))
        .filter(|l| status.as_deref().is_none_or(|s| l["status"] == s))
        .enumerate()
        .map(|(i, l)| {
            json!({"id": format!("log-{i}"), "type": "log", "attributes": {
                "message": l["message"], "timestamp": l["timestamp"], "status": l["status"],
                "service": l["service"], "host": l["host"], "tags": l["tags"]}})
        })
        .collect();
    data.reverse();
    Json(json!({"data": data, "meta": {"page": {}}, "links": {}}))
}

/// Datadog's "Get all monitor details": the scenario's monitors carrying every tag asked for
/// in `monitor_tags`, with the ids the real API would give them.
async fn monitor_list(
    State(state): State<Arc<FakeState>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let wanted: Vec<&str> = query
        .get("monitor_tags")
        .map(|t| t.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let monitors: Vec<Value> = state
        .monitors
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let tags: Vec<&str> = m["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            wanted.iter().all(|w| tags.contains(w))
        })
        .map(|(index, m)| {
            let mut m = m.clone();
            m["id"] = json!(4_100_000 + index as i64);
            m
        })
        .collect();
    Json(Value::Array(monitors))
}

/// The instance a CloudWatch result is about.
fn instance_of(result: &Value) -> Option<&str> {
    result["dimensions"]
        .as_array()?
        .iter()
        .find(|d| d["Name"] == "DBInstanceIdentifier")?
        .get("Value")?
        .as_str()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The fake AWS Query API (CloudWatch `GetMetricData`, `DescribeAlarms`; RDS
/// `DescribeDBInstances`, `DescribeDBParameters`, `DescribeEvents`), answering in the
/// documented XML from the scenario's files. Instances are those the metric files name; one
/// named `<primary>-replica…` is a read replica of `<primary>`.
async fn aws_query(
    State(state): State<Arc<FakeState>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Performance Insights speaks AWS JSON 1.1 on the same endpoint.
    if let Some(target) = headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
        return performance_insights_api(&state, target, &body).into_response();
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let param = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let instances: Vec<&str> = {
        let mut names: Vec<&str> = state.metrics.iter().filter_map(instance_of).collect();
        names.extend(
            state
                .rds_events
                .iter()
                .filter_map(|e| e["source_identifier"].as_str()),
        );
        names.sort();
        names.dedup();
        names
    };
    let (namespace, action) = match param("Action").unwrap_or_default() {
        a @ ("GetMetricData" | "DescribeAlarms") => {
            ("http://monitoring.amazonaws.com/doc/2010-08-01/", a)
        }
        a => ("http://rds.amazonaws.com/doc/2014-10-31/", a),
    };
    let result = match action {
        "DescribeDBInstances" => {
            let id = param("DBInstanceIdentifier").unwrap_or_default();
            if !instances.contains(&id) {
                let error = format!(
                    "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance {} not found.</Message></Error><RequestId>opensre</RequestId></ErrorResponse>",
                    xml_escape(id)
                );
                return (
                    axum::http::StatusCode::NOT_FOUND,
                    [("content-type", "text/xml")],
                    error,
                )
                    .into_response();
            }
            let replicas: String = instances
                .iter()
                .filter(|r| r.starts_with(&format!("{id}-replica")))
                .map(|r| {
                    format!(
                        "<ReadReplicaDBInstanceIdentifier>{}</ReadReplicaDBInstanceIdentifier>",
                        xml_escape(r)
                    )
                })
                .collect();
            let source = instances
                .iter()
                .find(|p| id.starts_with(&format!("{p}-replica")))
                .map(|p| {
                    format!(
                        "<ReadReplicaSourceDBInstanceIdentifier>{}</ReadReplicaSourceDBInstanceIdentifier>",
                        xml_escape(p)
                    )
                })
                .unwrap_or_default();
            // Performance Insights is on where the scenario has its file for the instance.
            let insights = if state.pi["db_instance_identifier"].as_str() == Some(id) {
                format!(
                    "<PerformanceInsightsEnabled>true</PerformanceInsightsEnabled><DbiResourceId>db-{}</DbiResourceId>",
                    xml_escape(id)
                )
            } else {
                String::new()
            };
            format!(
                "<DBInstances><DBInstance>{source}{insights}<DBInstanceIdentifier>{id}</DBInstanceIdentifier><DBInstanceClass>db.r6g.xlarge</DBInstanceClass><Engine>postgres</Engine><EngineVersion>15.4</EngineVersion><DBInstanceStatus>available</DBInstanceStatus><MultiAZ>true</MultiAZ><AllocatedStorage>200</AllocatedStorage><ReadReplicaDBInstanceIdentifiers>{replicas}</ReadReplicaDBInstanceIdentifiers></DBInstance></DBInstances>",
                id = xml_escape(id)
            )
        }
        // The files give no parameter group: `max_connections` stays unknown.
        "DescribeDBParameters" => "<Parameters></Parameters>".to_string(),
        "DescribeEvents" => {
            let id = param("SourceIdentifier").unwrap_or_default();
            let events: String = state
                .rds_events
                .iter()
                .filter(|e| e["source_identifier"].as_str() == Some(id))
                .map(|e| {
                    let categories: String = e["event_categories"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|c| format!("<EventCategory>{}</EventCategory>", xml_escape(c)))
                        .collect();
                    format!(
                        "<Event><SourceIdentifier>{}</SourceIdentifier><SourceType>db-instance</SourceType><Message>{}</Message><EventCategories>{categories}</EventCategories><Date>{}</Date></Event>",
                        xml_escape(id),
                        xml_escape(e["message"].as_str().unwrap_or_default()),
                        e["date"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("<Events>{events}</Events>")
        }
        "GetMetricData" => {
            let mut results = String::new();
            for n in 1.. {
                let prefix = format!("MetricDataQueries.member.{n}");
                let Some(query_id) = param(&format!("{prefix}.Id")) else {
                    break;
                };
                let metric = param(&format!("{prefix}.MetricStat.Metric.MetricName"));
                let instance = param(&format!(
                    "{prefix}.MetricStat.Metric.Dimensions.member.1.Value"
                ));
                let found = state
                    .metrics
                    .iter()
                    .find(|r| r["metric_name"].as_str() == metric && instance_of(r) == instance);
                let (mut timestamps, mut values) = (String::new(), String::new());
                if let Some(result) = found {
                    for (t, v) in result["timestamps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .zip(result["values"].as_array().into_iter().flatten())
                    {
                        if let (Some(t), Some(v)) = (t.as_str(), v.as_f64()) {
                            timestamps.push_str(&format!("<member>{t}</member>"));
                            values.push_str(&format!("<member>{v}</member>"));
                        }
                    }
                }
                results.push_str(&format!(
                    "<member><Id>{}</Id><Label>{}</Label><Timestamps>{timestamps}</Timestamps><Values>{values}</Values><StatusCode>Complete</StatusCode></member>",
                    xml_escape(query_id),
                    xml_escape(metric.unwrap_or_default())
                ));
            }
            format!("<MetricDataResults>{results}</MetricDataResults><Messages></Messages>")
        }
        "DescribeAlarms" => {
            "<MetricAlarms></MetricAlarms><CompositeAlarms></CompositeAlarms>".to_string()
        }
        other => {
            let error = format!(
                "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{} is not served here</Message></Error><RequestId>opensre</RequestId></ErrorResponse>",
                xml_escape(other)
            );
            return (
                axum::http::StatusCode::BAD_REQUEST,
                [("content-type", "text/xml")],
                error,
            )
                .into_response();
        }
    };
    (
        [("content-type", "text/xml")],
        format!(
            "<{action}Response xmlns=\"{namespace}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>opensre</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
        .into_response()
}

/// The fake Performance Insights API (`GetResourceMetrics`, `DescribeDimensionKeys`, AWS JSON
/// 1.1) from the scenario's file: the DB load series as it is, each top wait as a series at its
/// average, the top SQL as dimension keys with their totals.
fn performance_insights_api(
    state: &FakeState,
    target: &str,
    body: &str,
) -> (
    axum::http::StatusCode,
    [(&'static str, &'static str); 1],
    String,
) {
    let request: Value = serde_json::from_str(body).unwrap_or_default();
    let pi = &state.pi;
    let known = pi["db_instance_identifier"]
        .as_str()
        .map(|id| format!("db-{id}"));
    if request["Identifier"].as_str() != known.as_deref() {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            json!({"__type": "InvalidArgumentException", "message": "No Performance Insights data for this identifier"}).to_string(),
        );
    }
    let seconds = |t: &Value| time(t).map(|t| t.timestamp() as f64);
    let timestamps: Vec<f64> = pi["db_load"]["timestamps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(seconds)
        .collect();
    let aligned = json!({
        "AlignedStartTime": timestamps.first(),
        "AlignedEndTime": timestamps.last(),
        "Identifier": known,
    });
    let reply = match target.rsplit('.').next().unwrap_or_default() {
        "GetResourceMetrics" => {
            let series = |values: Vec<f64>| -> Vec<Value> {
                timestamps
                    .iter()
                    .zip(values)
                    .map(|(t, v)| json!({"Timestamp": t, "Value": v}))
                    .collect()
            };
            let load: Vec<f64> = pi["db_load"]["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            let mut list =
                vec![json!({"Key": {"Metric": "db.load.avg"}, "DataPoints": series(load)})];
            for wait in pi["top_wait_events"].as_array().into_iter().flatten() {
                let level = wait["db_load_avg"].as_f64().unwrap_or(0.0);
                list.push(json!({
                    "Key": {"Metric": "db.load.avg", "Dimensions": {
                        "db.wait_event.name": wait["name"], "db.wait_event.type": wait["type"]}},
                    "DataPoints": series(vec![level; timestamps.len()]),
                }));
            }
            let mut reply = aligned;
            reply["MetricList"] = Value::Array(list);
            reply
        }
        "DescribeDimensionKeys" => {
            let keys: Vec<Value> = pi["top_sql"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(index, sql)| {
                    json!({"Dimensions": {"db.sql.statement": sql["statement"], "db.sql.id": format!("sql-{index}")},
                           "Total": sql["db_load_avg"]})
                })
                .collect();
            let mut reply = aligned;
            reply["Keys"] = Value::Array(keys);
            reply
        }
        other => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.1")],
                json!({"__type": "UnknownOperationException", "message": format!("{other} is not served here")}).to_string(),
            );
        }
    };
    (
        axum::http::StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        reply.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metrics split one file per metric read as the one-file shape; the vendored healthy RDS
    /// scenario is laid out that way.
    #[test]
    fn split_cloudwatch_metrics_are_assembled() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: Value| {
            std::fs::write(dir.path().join(name), value.to_string()).unwrap();
        };
        write(
            "aws_cloudwatch_metrics_envelope.json",
            serde_json::json!({"namespace": "AWS/RDS", "period": 60, "start_time": "2026-03-26T10:00:00Z", "end_time": "2026-03-26T10:15:00Z"}),
        );
        write(
            "aws_cloudwatch_metrics_CPUUtilization.json",
            serde_json::json!({"metric_name": "CPUUtilization", "values": [14.7]}),
        );
        write(
            "aws_cloudwatch_metrics_DatabaseConnections.json",
            serde_json::json!({"metric_name": "DatabaseConnections", "values": [93]}),
        );
        let value = split_metrics(dir.path(), "aws_cloudwatch_metrics")
            .unwrap()
            .unwrap();
        assert_eq!(value["end_time"], "2026-03-26T10:15:00Z");
        let names: Vec<&str> = value["metric_data_results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["metric_name"].as_str())
            .collect();
        assert_eq!(names, ["CPUUtilization", "DatabaseConnections"]);
        assert!(
            split_metrics(dir.path(), "aws_rds_events")
                .unwrap()
                .is_none()
        );
        let vendored = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/external/opensre/rds_postgres/000-healthy");
        let case = Case::load(&vendored, vendored.parent().unwrap()).unwrap();
        assert!(
            case.list("aws_cloudwatch_metrics", "metric_data_results")
                .len()
                >= 10
        );
    }

    #[test]
    fn every_label_category_maps_to_ours() {
        for theirs in [
            "resource_exhaustion",
            "configuration_error",
            "infrastructure",
            "dependency_failure",
            "data_quality",
            "healthy",
        ] {
            assert!(!mapped(theirs).contains(&Category::Unknown), "{theirs}");
        }
        assert_eq!(mapped("healthy"), &[Category::NoFault]);
    }

    /// An RDS scenario's files reach the brief's evidence only through the fake AWS APIs and
    /// the real AWS collector: CloudWatch series, RDS events and Performance Insights (top
    /// waits and top SQL), over the SDK.
    #[tokio::test]
    async fn the_aws_collector_reads_a_scenario_through_the_fake_aws_apis() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/external/opensre");
        let dir = discover(&root)
            .into_iter()
            .find(|d| d.to_string_lossy().contains("004-cpu"))
            .expect("the CPU scenario");
        let case = Case::load(&dir, &root).unwrap();
        let window = case.window();
        let fakes = Fakes::start(&case).await.unwrap();
        let settings = Settings::default();
        let collectors = fakes.collectors(&case, &settings).await;
        let targets = Targets {
            rds_instances: vec!["catalog-prod".into()],
            ..Targets::default()
        };
        let bundle = collectors::collect_with_deadline(
            &collectors,
            &targets,
            &window,
            Deadlines::from_settings(&settings),
            settings.collectors.bundle_budget_chars,
        )
        .await;
        let aws = bundle.reports.iter().find(|r| r.source == "aws").unwrap();
        assert_eq!(aws.message, None, "{aws:?}");
        let cpu = bundle
            .item("aws.rds.catalog-prod.cpu")
            .expect("CloudWatch CPU");
        assert!(
            cpu.data["series"]["max"].as_f64().unwrap() > 90.0,
            "{cpu:?}"
        );
        let pi = bundle
            .item("aws.rds.catalog-prod.performance_insights")
            .expect("Performance Insights");
        assert!(
            pi.summary.contains("CPU:user") && pi.summary.contains("SELECT * FROM orders"),
            "top waits and top SQL: {}",
            pi.summary
        );
        assert!(pi.data["db_load"].as_array().is_some_and(|l| l.len() > 5));
    }

    #[test]
    fn a_pod_is_owned_by_its_replica_set() {
        assert_eq!(
            replica_set_of("payments-api-7f9dd8b6c4-x7gr9"),
            Some("payments-api-7f9dd8b6c4")
        );
        let pod = json!({"name": "payments-api-7f9dd8b6c4-x7gr9", "phase": "Running",
            "containers": [{"name": "payments-api", "ready": false, "restart_count": 8,
                "state": {"waiting": true, "reason": "CrashLoopBackOff",
                    "message": "back-off; last terminated: reason=OOMKilled, exit_code=137", "exit_code": 137}}]});
        let object = pod_object(&pod, "payments");
        let status = &object["status"]["containerStatuses"][0];
        assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
        // It deserialises as the typed client reads it.
        let _: k8s_openapi::api::core::v1::Pod = serde_json::from_value(object).unwrap();
    }
}
