//! The evaluation harness: the scenario suite scored end to end, the recorded baseline, the
//! canned-model path through the real client and validation, export of incidents with
//! feedback as scenarios, and replay of a stored incident.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use triaged::config::{Secrets, Settings};
use triaged::domain::Confidence;
use triaged::eval::{self, AnalystMode, EvalOptions, scenario::Scenario};

use crate::helpers::*;

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

async fn run(analyst: AnalystMode, root: &Path) -> eval::Scorecard {
    let options = EvalOptions {
        analyst,
        only: Vec::new(),
        without_memory: false,
    };
    eval::run(root, &Settings::default(), &Secrets::default(), &options)
        .await
        .expect("eval runs")
}

#[tokio::test]
async fn the_rules_analyst_keeps_the_recorded_baseline_on_the_scenario_suite() {
    let scorecard = run(AnalystMode::Rules, &scenarios()).await;
    assert!(scorecard.scenarios >= 14, "{}", scorecard.to_text());
    let floor = eval::check_baseline(&scorecard, &scenarios().join("baseline.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", scorecard.to_text()));
    assert!(floor.is_some(), "the baseline has a rules entry");
    // The rules analyst only cites what exists, and retrieval finds what the scenarios expect.
    assert_eq!(scorecard.citation_validity, Some(1.0));
    assert!(
        scorecard.knowledge_recall.unwrap() >= 0.9,
        "{}",
        scorecard.to_text()
    );
    // A section of the right document is a document hit: never below the exact-section figure,
    // and above it when a neighbouring section was retrieved instead.
    assert!(
        scorecard.knowledge_doc_recall.unwrap() >= scorecard.knowledge_recall.unwrap(),
        "{}",
        scorecard.to_text()
    );
    assert!(
        scorecard
            .results
            .iter()
            .any(|r| r.knowledge_doc_found > r.knowledge_found),
        "some scenario retrieves another section of the expected document: {}",
        scorecard.to_text()
    );
    // Every stage ran for every scenario.
    for result in &scorecard.results {
        for stage in ["parse", "targets", "index", "retrieve", "analyse", "render"] {
            assert!(
                result.stage_ms.contains_key(stage),
                "{}: {stage}",
                result.name
            );
        }
    }
    // The calibration table accounts for every brief.
    let briefs: usize = scorecard.calibration.iter().map(|row| row.briefs).sum();
    assert_eq!(briefs, scorecard.scenarios);
    // The calibrated score of each level is the fit on this suite, to the third decimal: a
    // change to the checks that moves the fit must refit the constants.
    let fit = eval::calibration::fit_scorecard(&scorecard);
    for level in &fit.levels {
        assert!(
            (triaged::diagnosis::probability(level.confidence) - level.fitted).abs() < 0.0005,
            "{}",
            fit.to_text()
        );
    }
    // Every tested hypothesis is in the results, judged against the label: a brief that is
    // right stated its top hypothesis, so that one is judged right.
    for result in scorecard.results.iter().filter(|r| r.hit) {
        assert!(
            result.hypotheses.first().is_some_and(|h| h.right),
            "{}: {:?}",
            result.name,
            result.hypotheses
        );
    }
    assert!(fit.raw_bins.iter().map(|(_, n, _)| n).sum::<usize>() > scorecard.scenarios);
}

#[tokio::test]
async fn canned_model_answers_go_through_the_real_client_and_validation() {
    let scorecard = run(AnalystMode::Canned, &scenarios()).await;
    let by_name = |name: &str| {
        scorecard
            .results
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} scored"))
    };
    let waf = by_name("waf-blocks-websocket-upgrades");
    assert!(waf.hit && waf.confidence == Confidence::High);
    assert_eq!(waf.analyst, "canned");
    // A confidently wrong answer citing an id that was never collected: the id is dropped and
    // counted, and the answer — contradicted or left citing nothing — is set aside; the rules
    // brief answers instead.
    let tournament = by_name("tournament-traffic-spike");
    assert_eq!(tournament.analyst, "rules", "{tournament:?}");
    assert!(tournament.citations_invalid >= 1);
    assert!(scorecard.citation_validity.unwrap() < 1.0);
    assert!(
        scorecard
            .skipped
            .iter()
            .any(|s| s.contains("no llm_response.json"))
    );
    eval::check_baseline(&scorecard, &scenarios().join("baseline.toml")).unwrap();
}

#[test]
fn a_drop_below_the_baseline_fails_naming_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.toml");
    std::fs::write(&baseline, "[rules]\nhit_at_1 = 0.95\n").unwrap();
    let scorecard: eval::Scorecard = serde_json::from_value(serde_json::json!({
        "created_at": "2026-11-21T00:00:00Z", "analyst": "rules", "scenarios": 10, "skipped": [],
        "hit_at_1": 0.9, "category_hit": 0.9, "entity_hit": 1.0, "k": 3, "knowledge_recall": null,
        "evidence_recall": null, "citation_validity": null, "calibration": [], "brier": null,
        "stage_p50_ms": {}, "results": []
    }))
    .unwrap();
    let error = eval::check_baseline(&scorecard, &baseline)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("0.900") && error.contains("0.950"),
        "{error}"
    );
}

#[test]
fn a_broken_scenario_is_refused_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("broken");
    std::fs::create_dir_all(&scenario).unwrap();
    std::fs::write(
        scenario.join("scenario.toml"),
        "description = \"x\"\nsource = \"datadog\"\n[expected]\ncategory = \"deploy_regression\"\nentity = \"service/x\"\n",
    )
    .unwrap();
    std::fs::write(scenario.join("alert.json"), "{}").unwrap();
    std::fs::write(scenario.join("evidence.json"), "{\"items\": 3}").unwrap();
    let error = Scenario::load(&scenario).unwrap_err();
    assert!(error.contains("broken/evidence.json"), "{error}");

    std::fs::write(
        scenario.join("scenario.toml"),
        "description = \"x\"\nsource = \"datadog\"\n[expected]\ncategory = \"made_up\"\nentity = \"x\"\n",
    )
    .unwrap();
    let error = Scenario::load(&scenario).unwrap_err();
    assert!(error.contains("broken/scenario.toml"), "{error}");
}

#[test]
fn one_broken_scenario_is_reported_the_rest_scored_and_the_run_fails_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str, to: &str| {
        let target = dir.path().join(to);
        std::fs::create_dir_all(&target).unwrap();
        for file in ["scenario.toml", "alert.json", "evidence.json"] {
            std::fs::copy(scenarios().join(name).join(file), target.join(file)).unwrap();
        }
        target
    };
    copy("ddos-layer7", "good");
    let broken = copy("ddos-layer7", "broken");
    std::fs::write(
        broken.join("scenario.toml"),
        "description = \"x\"\nsource = \"datadog\"\n[expected]\ncategory = \"made_up\"\nentity = \"x\"\n",
    )
    .unwrap();
    // An alert hours away from its evidence: scored, with a warning naming it.
    let shifted = copy("ddos-layer7", "shifted");
    let mut bundle: Value =
        serde_json::from_slice(&std::fs::read(shifted.join("evidence.json")).unwrap()).unwrap();
    for key in ["start", "onset", "end"] {
        let at: chrono::DateTime<chrono::Utc> =
            bundle["window"][key].as_str().unwrap().parse().unwrap();
        bundle["window"][key] = json!((at + chrono::Duration::hours(5)).to_rfc3339());
    }
    std::fs::write(shifted.join("evidence.json"), bundle.to_string()).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("eval")
        .arg(dir.path())
        .args(["--no-record", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a broken scenario fails the run");
    assert!(
        stdout.contains("BROKEN") && stdout.contains("broken"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scenario.toml") && stdout.contains("line 4"),
        "path and line: {stdout}"
    );
    assert!(stdout.contains("analyst rules · 2 scenarios"), "{stdout}");
    assert!(
        stdout.contains("WARNING shifted: the alert fired at") && stdout.contains("5.0 h apart"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 scenario(s) could not be read or run"),
        "{stderr}"
    );
}

#[test]
fn the_eval_command_prints_the_scorecard_writes_json_and_checks_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scorecard.json");
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["eval", "tests/scenarios", "--only", "ddos", "--only", "waf"])
        .arg("--json")
        .arg(&json)
        .args(["--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("root-cause hit@1"), "{stdout}");
    assert!(stdout.contains("ddos-layer7"), "{stdout}");
    let written: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["scenarios"], 2);
    assert_eq!(written["analyst"], "rules");
    // The run was recorded in the store for /eval.
    assert!(dir.path().join("triaged.db").exists());

    let baseline = dir.path().join("baseline.toml");
    std::fs::write(&baseline, "[rules]\nhit_at_1 = 1.01\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["eval", "tests/scenarios", "--only", "ddos", "--no-record"])
        .arg("--baseline")
        .arg(&baseline)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("below the baseline"));
}

#[tokio::test]
async fn incidents_with_feedback_export_as_scenarios_and_replay_on_their_stored_inputs() {
    let app = spawn_app_with_pipeline(|_| {}, test_secrets()).await;
    let receipt: Value = app
        .post_datadog(&fixture("datadog_triggered.json"))
        .await
        .json()
        .await
        .unwrap();
    let id = receipt["incident_id"].as_str().unwrap().to_string();
    let detail = app
        .wait_for_incident(&id, "brief stored", |d| d.brief.is_some())
        .await;
    let category = detail.brief.unwrap()["triage"]["root_cause"]["category"].clone();
    app.store
        .save_feedback(&id, "U1", "correct", None, 1)
        .await
        .unwrap();

    // Replay: the same stored inputs through the rules analyst give the same answer.
    let settings = test_settings(app.dir.path());
    let analyst = triaged::analysis::Analyst::from_settings(
        &settings,
        &Secrets::default(),
        Default::default(),
    );
    let (old, new) = eval::replay::replay(app.store.as_ref(), &analyst, &id)
        .await
        .unwrap();
    let old = old.expect("stored brief");
    assert_eq!(
        old.triage.root_cause.category,
        new.triage.root_cause.category
    );
    assert!(
        eval::replay::replay(app.store.as_ref(), &analyst, "nope")
            .await
            .is_err()
    );

    // Export: the incident becomes a scenario that loads and scores as a hit.
    let out = tempfile::tempdir().unwrap();
    let written = eval::export::export(app.store.as_ref(), out.path(), 100)
        .await
        .unwrap();
    assert_eq!(written.len(), 1);
    let scenario = Scenario::load(&written[0]).unwrap();
    assert!(!scenario.file.needs_review);
    assert_eq!(
        serde_json::to_value(&scenario.file.expected.category).unwrap(),
        category
    );
    let scorecard = run(AnalystMode::Rules, out.path()).await;
    assert_eq!(scorecard.scenarios, 1);
    assert_eq!(scorecard.hit_at_1, 1.0, "{}", scorecard.to_text());

    // A "wrong" verdict exports for review instead of as an answer.
    app.store
        .save_feedback(&id, "U2", "wrong", Some("it was the cache"), 2)
        .await
        .unwrap();
    let written = eval::export::export(app.store.as_ref(), out.path(), 100)
        .await
        .unwrap();
    let scenario = Scenario::load(&written[0]).unwrap();
    assert!(scenario.file.needs_review);
    assert!(scenario.file.description.contains("it was the cache"));
    let scorecard = run(AnalystMode::Rules, out.path()).await;
    assert_eq!(scorecard.scenarios, 0);
    assert_eq!(scorecard.skipped.len(), 1);
}

#[tokio::test]
async fn the_eval_page_shows_the_latest_recorded_scorecard() {
    let app = spawn_app().await;
    let get = |path: &'static str| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        get("/eval")
            .await
            .contains("No evaluation has been recorded yet")
    );

    let options = EvalOptions {
        analyst: AnalystMode::Rules,
        only: vec!["ddos".into(), "dns".into()],
        without_memory: false,
    };
    let mut scorecard = eval::run(
        &scenarios(),
        &Settings::default(),
        &Secrets::default(),
        &options,
    )
    .await
    .unwrap();
    scorecard.results[0].description = "<script>alert(1)</script>".into();
    app.store
        .save_eval_run(
            "rules",
            scorecard.created_at.timestamp_millis(),
            &serde_json::to_value(&scorecard).unwrap(),
        )
        .await
        .unwrap();
    let html = get("/eval").await;
    assert!(html.contains("ddos-layer7") && html.contains("dns-resolution-failure"));
    assert!(html.contains("root-cause hit@1"));
    // One of the two is a held-out miss.
    assert!(html.contains(">50%<"), "{html}");
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;"));
    assert_eq!(scorecard.suite, "scenarios", "the suite is its directory");

    // Another suite recorded later is shown beside it, never merged into it.
    let mut other = scorecard.clone();
    other.suite = "held-out".into();
    other.results.truncate(1);
    other.scenarios = 1;
    app.store
        .save_eval_run(
            "rules",
            scorecard.created_at.timestamp_millis() + 1,
            &serde_json::to_value(&other).unwrap(),
        )
        .await
        .unwrap();
    let html = get("/eval").await;
    assert!(
        html.contains("Suite held-out") && html.contains("Suite scenarios"),
        "{html}"
    );
    assert!(html.contains("id=\"summary\"") && html.contains("id=\"summary-1\""));
}

/// The scenario platform as the demo configures it: its catalog and knowledge base, no live
/// source, recorded evidence served back for the alerts it belongs to.
fn scenario_platform(settings: &mut Settings) {
    let root = scenarios();
    settings.collectors.recorded = vec![root.clone()];
    settings.collectors.services_file = root.join("base/services.toml");
    settings.collectors.lookback_mins = 60;
    settings.kubernetes.enabled = false;
    settings.aws.enabled = false;
    let base = root.join("base/knowledge");
    settings.knowledge.runbooks = vec![base.join("runbooks")];
    settings.knowledge.postmortems = vec![base.join("postmortems")];
    settings.knowledge.terraform = vec![base.join("terraform")];
    settings.knowledge.code = vec![base.join("code")];
    settings.knowledge.schema = vec![base.join("schema")];
}

/// Category, entity and the knowledge ids a brief cites.
fn verdict(brief: &Value) -> (String, String, Vec<String>) {
    let rc = &brief["triage"]["root_cause"];
    let knowledge = rc["knowledge_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (
        rc["category"].as_str().unwrap_or_default().to_string(),
        rc["entity"].as_str().unwrap_or_default().to_string(),
        knowledge,
    )
}

/// The hypothesis table of a brief: each candidate with its score and every check's verdict.
fn hypothesis_table(brief: &Value) -> Vec<String> {
    brief["hypotheses"]
        .as_array()
        .expect("the brief carries its hypotheses")
        .iter()
        .map(|h| {
            let checks: Vec<String> = h["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| format!("{}:{}:{}", c["kind"], c["supports"], c["reason"]))
                .collect();
            format!(
                "{} {} {} {} [{}]",
                h["score"],
                h["confidence"],
                h["category"],
                h["entity"],
                checks.join(" | ")
            )
        })
        .collect()
}

#[tokio::test]
async fn eval_the_triage_verb_and_the_daemon_give_one_scenario_the_same_root_cause() {
    // A scenario whose answer rests on a retrieved post-mortem: a path that skipped
    // retrieval would blame the deploy instead.
    let name = "red-herring-deploy-nightly-job";
    let dir = scenarios().join(name);
    let mut settings = Settings::default();
    scenario_platform(&mut settings);

    // 1. The evaluation.
    let options = EvalOptions {
        analyst: AnalystMode::Rules,
        only: vec![name.into()],
        without_memory: false,
    };
    let scorecard = eval::run(&scenarios(), &settings, &Secrets::default(), &options)
        .await
        .expect("eval runs");
    let result = &scorecard.results[0];
    assert!(result.hit, "the suite gets this scenario right: {result:?}");
    let from_eval = (result.category.clone(), result.entity.clone());

    // 2. The `triage` verb on the scenario's payload and recorded bundle.
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("triaged.toml");
    let path = |p: &Path| p.display().to_string();
    let base = scenarios().join("base");
    std::fs::write(
        &config,
        format!(
            "[collectors]\nservices_file = {:?}\n[kubernetes]\nenabled = false\n[aws]\nenabled = false\n\
             [knowledge]\nrunbooks = [{:?}]\npostmortems = [{:?}]\nterraform = [{:?}]\ncode = [{:?}]\nschema = [{:?}]\n",
            path(&base.join("services.toml")),
            path(&base.join("knowledge/runbooks")),
            path(&base.join("knowledge/postmortems")),
            path(&base.join("knowledge/terraform")),
            path(&base.join("knowledge/code")),
            path(&base.join("knowledge/schema")),
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("triage")
        .arg(dir.join("alert.json"))
        .args(["--source", "datadog", "--json", "--evidence"])
        .arg(dir.join("evidence.json"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(scratch.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("DD_API_KEY")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("TRIAGED__DATABASE__URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    let (category, entity, knowledge) = verdict(&from_cli);
    assert_eq!((category, entity), from_eval.clone(), "triage verb vs eval");
    assert!(
        knowledge.iter().any(|id| id.starts_with("postmortem.")),
        "the verb retrieved and cited the post-mortem: {knowledge:?}"
    );

    // 3. The daemon, fed the same payload over HTTP, with the recorded evidence served back
    //    through the live collectors.
    let mut app = spawn_app_with_pipeline(scenario_platform, test_secrets()).await;
    let payload = std::fs::read_to_string(dir.join("alert.json")).unwrap();
    let response = app.post_datadog(&payload).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["incident_id"].as_str().unwrap().to_string();
    let detail = app
        .wait_for_incident(&id, "brief stored", |d| d.brief.is_some())
        .await;
    let (category, entity, _) = verdict(detail.brief.as_ref().unwrap());
    assert_eq!((category, entity), from_eval, "daemon vs eval");

    // The same hypotheses, checks and scores everywhere; the eval reads the job as the cause
    // and the earlier deploy as an alternative it tested.
    let table = hypothesis_table(&from_cli);
    assert!(table.len() >= 2, "{table:#?}");
    assert_eq!(
        hypothesis_table(detail.brief.as_ref().unwrap()),
        table,
        "daemon vs triage verb"
    );
    let top = &from_cli["hypotheses"][0];
    assert!(
        result.signals[0].starts_with(&format!(
            "{:.2} {} {}",
            top["score"].as_f64().unwrap(),
            top["category"].as_str().unwrap(),
            top["entity"].as_str().unwrap()
        )),
        "eval vs triage verb: {:?} / {top}",
        result.signals
    );
    assert!(
        table.iter().any(|h| h.contains("deploy_regression")),
        "the deploy was tested too: {table:#?}"
    );
    // Replay re-analyses the stored evidence and knowledge: the same table again.
    let mut settings = Settings::default();
    scenario_platform(&mut settings);
    let analyst = triaged::analysis::Analyst::from_settings(
        &settings,
        &Secrets::default(),
        Default::default(),
    );
    let (_, replayed) = eval::replay::replay(app.store.as_ref(), &analyst, &id)
        .await
        .unwrap();
    assert_eq!(
        hypothesis_table(&serde_json::to_value(&replayed).unwrap()),
        table,
        "replay vs triage verb"
    );
    app.stop().await;
}

/// The external benchmark end to end: an OpenSRE EKS scenario's evidence reaches the brief
/// only through the fake Kubernetes API and the real Kubernetes collector, an RDS one's through
/// the AWS item builders; both are scored against labels written elsewhere.
#[test]
fn opensre_scenarios_run_through_the_collectors_and_are_scored_against_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("opensre.json");
    let output = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["eval", "tests/external/opensre", "--format", "opensre"])
        .args([
            "--only",
            "eks/001-oomkilled",
            "--only",
            "rds_postgres/004-cpu",
        ])
        .args(["--only", "eks/000-healthy", "--only", "rds_postgres/001"])
        .args(["--no-record", "--json"])
        .arg(&json)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let card: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(card["suite"], "opensre");
    assert_eq!(card["scenarios"], 4);
    let result = |name: &str| {
        card["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().unwrap().contains(name))
            .cloned()
            .unwrap()
    };
    // The OOM kill is only in the pod status the fake API server returns.
    let oom = result("001-oomkilled");
    assert_eq!(oom["category"], "resource_saturation", "{oom}");
    assert!(oom["hit"].as_bool().unwrap());
    assert!(
        oom["signals"][0]
            .as_str()
            .unwrap()
            .contains("OOMKilled (exit 137)"),
        "{oom}"
    );
    assert!(oom["keywords_found"].as_u64().unwrap() >= 1, "{oom}");
    let cpu = result("004-cpu");
    assert_eq!(cpu["category"], "resource_saturation", "{cpu}");
    // The lag is on a read replica the alert does not name: the AWS collector finds it
    // through DescribeDBInstances on the fake Query API and reads its ReplicaLag.
    let lag = result("001-replication-lag");
    assert!(lag["hit"].as_bool().unwrap(), "{lag}");
    assert_eq!(lag["entity"], "rds/payments-prod-replica-1", "{lag}");
    assert!(
        lag["signals"][0].as_str().unwrap().contains("ReplicaLag")
            && lag["signals"][0].as_str().unwrap().contains("✓locality"),
        "the replica is on its primary's path: {lag}"
    );
    // A healthy cluster is said to be healthy, not blamed.
    let healthy = result("000-healthy");
    assert_eq!(healthy["category"], "no_fault", "{healthy}");
    assert!(stdout.contains("keyword recall"), "{stdout}");
    // Every source read everything the fakes served: what a collector could not read is
    // listed as a warning per scenario.
    assert_eq!(card["warnings"], json!([]), "{stdout}");
}
