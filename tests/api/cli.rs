//! The binary itself: configuration checks, refusing insecure starts, migrations, and a real
//! `serve` process answering over HTTP and stopping cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{WEBHOOK_TOKEN, fixture};

fn triaged() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_triaged"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TRIAGED_WEBHOOK_TOKEN")
        .env_remove("PAGERDUTY_WEBHOOK_SECRET")
        .env_remove("TRIAGED_API_TOKEN")
        .env_remove("TRIAGED__DATABASE__URL");
    command
}

#[test]
fn config_check_reports_every_problem_at_once_and_fails() {
    let output = triaged()
        .args(["config", "check"])
        .env("TRIAGED__SERVER__LISTEN", "not-an-address")
        .env("TRIAGED__WORKERS__COUNT", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.listen"), "{stderr}");
    assert!(stderr.contains("workers.count"), "{stderr}");
    assert!(
        stderr.contains("PAGERDUTY_WEBHOOK_SECRET is not set"),
        "{stderr}"
    );
}

#[test]
fn config_check_passes_on_the_shipped_config_with_secrets() {
    let output = triaged()
        .args(["config", "check", "--config", "config/triaged.toml"])
        .env("TRIAGED_WEBHOOK_TOKEN", "x")
        .env("PAGERDUTY_WEBHOOK_SECRET", "y")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn config_check_reports_a_catalog_name_that_points_at_two_services() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("services.toml");
    std::fs::write(
        &catalog,
        "[services.checkout-api]\naliases = [\"Checkout API (Production)\"]\n\
         [services.payments-api]\naliases = [\"checkout api (production)\"]\n",
    )
    .unwrap();
    let output = triaged()
        .args(["config", "check", "--insecure-no-auth"])
        .env("TRIAGED__COLLECTORS__SERVICES_FILE", &catalog)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"checkout api (production)\" names checkout-api and payments-api"),
        "{stderr}"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let output = triaged()
        .args(["config", "check", "--insecure-no-auth"])
        .env("TRIAGED__SERVER__LISTN", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listn"));
}

#[test]
fn serve_refuses_to_start_with_open_webhooks_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = triaged()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[test]
fn migrate_creates_the_database_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = triaged()
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("triaged.db").exists());
}

#[tokio::test]
async fn a_real_serve_process_accepts_webhooks_and_keeps_them_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawn = || {
        triaged()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir.path())
            .env("TRIAGED_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
            .env("PAGERDUTY_WEBHOOK_SECRET", "s")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let wait_ready = || async {
        for _ in 0..200 {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("daemon never became ready");
    };

    let mut daemon = spawn();
    wait_ready().await;
    let response = client
        .post(format!("{base}/webhooks/datadog"))
        .header("content-type", "application/json")
        .header("x-triaged-token", WEBHOOK_TOKEN)
        .body(fixture("datadog_triggered.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // Killed outright: acknowledged means stored.
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mut daemon = spawn();
    wait_ready().await;
    let list: serde_json::Value = client
        .get(format!("{base}/api/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // SIGTERM drains and exits cleanly.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = daemon.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(!logs.contains(WEBHOOK_TOKEN), "secrets never logged");
}

#[test]
fn collect_prints_the_sources_and_why_they_are_missing() {
    let output = triaged()
        .args([
            "collect",
            "config/samples/datadog_triggered.json",
            "--source",
            "datadog",
        ])
        .env("TRIAGED__KUBERNETES__ENABLED", "false")
        .env("TRIAGED__AWS__ENABLED", "false")
        .env_remove("DD_API_KEY")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("datadog: not configured (DD_API_KEY and DD_APP_KEY are not set)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("aws: not configured (aws.enabled is false)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"rds_instances\":[\"prod-postgres-primary\"]"),
        "targets resolved: {stdout}"
    );
}

#[test]
fn triage_analyses_a_payload_from_a_stored_bundle_with_the_rules_analyst() {
    let dir = tempfile::tempdir().unwrap();
    let collected = triaged()
        .args([
            "collect",
            "config/samples/datadog_triggered.json",
            "--source",
            "datadog",
            "--json",
        ])
        .env("TRIAGED__KUBERNETES__ENABLED", "false")
        .env("TRIAGED__AWS__ENABLED", "false")
        .output()
        .unwrap();
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, &collected.stdout).unwrap();

    let output = triaged()
        .args([
            "triage",
            "config/samples/datadog_triggered.json",
            "--source",
            "datadog",
            "--json",
            "--evidence",
        ])
        .arg(&bundle)
        .env("TRIAGED__KUBERNETES__ENABLED", "false")
        .env("TRIAGED__AWS__ENABLED", "false")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let brief: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(brief["analyst"], "rules");
    assert_eq!(brief["fallback_reason"], "no model is configured");
    assert_eq!(brief["triage"]["severity"], "SEV1", "P1 maps to SEV1");
    let gaps = brief["triage"]["data_gaps"].as_array().unwrap();
    assert!(
        gaps.iter().any(|g| g["source"] == "datadog"
            && g["reason"].as_str().unwrap().starts_with("not configured"))
    );
}

#[test]
fn the_demo_sends_scenarios_over_http_and_prints_grounded_briefs() {
    let dir = tempfile::tempdir().unwrap();
    let output = triaged()
        .args(["demo", "--once", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every sender's webhook is accepted; the forged one is refused.
    assert_eq!(stdout.matches("202 Accepted").count(), 4, "{stdout}");
    assert!(stdout.contains("401 Unauthorized"), "{stdout}");
    // The briefs rest on the replayed evidence and the indexed knowledge.
    assert!(
        stdout.contains("dependency_failure → redis-sessions"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scheduled_job → cronjob/production/ranking-recompute"),
        "{stdout}"
    );
    assert!(stdout.contains("postmortem.INC-2025-044"), "{stdout}");
    assert!(stdout.contains("root-cause hit@1"), "{stdout}");
}

#[test]
fn triage_with_a_bundle_sets_up_no_collector_and_probes_no_metadata_service() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        r#"{"window": {"start": "2026-11-21T01:41:00Z", "onset": "2026-11-21T02:11:00Z", "end": "2026-11-21T02:16:00Z"}, "items": [], "reports": []}"#,
    )
    .unwrap();
    let output = triaged()
        .args([
            "triage",
            "config/samples/datadog_triggered.json",
            "--source",
            "datadog",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("--evidence")
        .arg(&bundle)
        .env("TRIAGED__AWS__ENABLED", "true")
        .env("TRIAGED__KUBERNETES__ENABLED", "true")
        .env("TRIAGED__KNOWLEDGE__INDEX_ON_START", "false")
        .env_remove("OPENAI_API_KEY")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("imds") && !stderr.contains("kubeconfig"),
        "no AWS credential chain or cluster config was touched: {stderr}"
    );
    let brief: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(brief["analyst"], "rules");
}
