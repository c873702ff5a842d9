//! The daemon killed with SIGKILL at arbitrary points while a sender keeps posting, then
//! restarted: every acknowledged alert is stored, every incident is triaged and delivered, no
//! incident gets a second Slack parent message, and no two jobs of one incident ever run at
//! once. On SQLite one daemon; on PostgreSQL two daemons share the database and are killed in
//! turn. `TRIAGED_RELIABILITY_TRIALS` sets how many kills (CI runs the short form).

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

fn trials() -> usize {
    std::env::var("TRIAGED_RELIABILITY_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn spawn_daemon(dir: &std::path::Path, port: u16, slack: &str, database: Option<&str>) -> Child {
    let mut command = daemon_command(dir, port, slack, database);
    command
        .env("TRIAGED__WORKERS__LEASE_SECS", "2")
        .env("TRIAGED__WORKERS__HEARTBEAT_SECS", "1")
        // Kills come faster than a lease expires, so one job can be caught by several in a
        // row; the poison-job limit (a job that kills its worker five times is dead-lettered,
        // tested in workers.rs) is not what this suite measures.
        .env("TRIAGED__WORKERS__MAX_ATTEMPTS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the daemon")
}

#[tokio::test]
async fn sigkill_at_any_point_loses_no_acknowledged_alert_and_posts_no_duplicate() {
    kill_trials(None, 1).await;
}

#[tokio::test]
async fn two_daemons_on_postgres_killed_in_turn_lose_nothing_and_never_run_one_incident_twice() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    kill_trials(Some(&url), 2).await;
}

/// Pairs of stage runs of two different jobs of one incident whose times overlap: jobs of one
/// incident that ran at once.
fn concurrent_jobs(detail: &Value) -> usize {
    let runs: Vec<(&str, i64, i64)> = detail["stages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|run| {
            Some((
                run["job_id"].as_str()?,
                run["started_at"].as_i64()?,
                run["ended_at"].as_i64().unwrap_or(i64::MAX),
            ))
        })
        .collect();
    let mut overlapping = 0;
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                overlapping += 1;
            }
        }
    }
    overlapping
}

async fn kill_trials(database: Option<&str>, replicas: usize) {
    // Slack keeps what was posted, so a daemon killed between posting and recording finds
    // its message in the channel history instead of posting it again.
    let slack = MockServer::start().await;
    let posted = Arc::new(Mutex::new(Vec::<Value>::new()));
    let record = Arc::clone(&posted);
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(move |request: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let mut messages = record.lock().unwrap();
            let ts = format!("1795227090.{:06}", messages.len() + 1);
            let mut message = json!({"type": "message", "ts": ts, "metadata": body["metadata"]});
            if let Some(thread) = body.get("thread_ts") {
                message["thread_ts"] = thread.clone();
            }
            messages.push(message);
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0INCIDENTS", "ts": ts}))
        })
        .mount(&slack)
        .await;
    let history = Arc::clone(&posted);
    Mock::given(method("POST"))
        .and(path("/conversations.history"))
        .respond_with(move |_: &wiremock::Request| {
            let messages = history.lock().unwrap().clone();
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "messages": messages, "has_more": false}))
        })
        .mount(&slack)
        .await;
    let thread = Arc::clone(&posted);
    Mock::given(method("POST"))
        .and(path("/conversations.replies"))
        .respond_with(move |request: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let messages: Vec<Value> = thread
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m["thread_ts"] == body["ts"] || m["ts"] == body["ts"])
                .cloned()
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "messages": messages, "has_more": false}))
        })
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0INCIDENTS", "ts": "1"})),
        )
        .mount(&slack)
        .await;

    let dirs: Vec<tempfile::TempDir> = (0..replicas)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut daemons = Vec::new();
    for (dir, port) in dirs.iter().zip(&ports) {
        daemons.push(spawn_daemon(dir.path(), *port, &slack.uri(), database));
    }
    for base in &bases {
        wait_ready(&client, base).await;
    }
    let base = bases[0].clone();

    // The sender: distinct alerts, one after another, whether the daemon is up or not; at
    // most eight per kill, since Slack pacing (one message a second per channel) sets how
    // long delivering them all takes.
    let trials = trials();
    let cap = 8 * trials + 8;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sender = {
        let (stop, acknowledged, client, bases) = (
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            client.clone(),
            bases.clone(),
        );
        tokio::spawn(async move {
            let template: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < cap {
                n += 1;
                let mut payload = template.clone();
                payload["id"] = json!(format!("delivery-{n}"));
                payload["alert_id"] = json!(format!("{}", 90_000 + n));
                payload["title"] = json!(format!("checkout-api errors (alert {n})"));
                // Alternately to each replica, as a load balancer would.
                let base = &bases[n % bases.len()];
                let response = client
                    .post(format!("{base}/webhooks/datadog"))
                    .header("content-type", "application/json")
                    .header("x-triaged-token", WEBHOOK_TOKEN)
                    .body(payload.to_string())
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status() == 202
                {
                    acknowledged.lock().unwrap().push(format!("(alert {n})"));
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };

    for trial in 0..trials {
        // A different moment of the pipeline each time.
        tokio::time::sleep(Duration::from_millis(150 + 97 * (trial as u64 % 7))).await;
        let victim = trial % replicas;
        daemons[victim].kill().unwrap();
        daemons[victim].wait().unwrap();
        daemons[victim] = spawn_daemon(dirs[victim].path(), ports[victim], &slack.uri(), database);
        wait_ready(&client, &bases[victim]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 10,
        "the sender got through: {}",
        acknowledged.len()
    );

    // Every acknowledged alert is an incident, and every incident ends delivered.
    let mut settled = Vec::new();
    // Up to six minutes: two paced Slack messages per incident.
    for _ in 0..3600 {
        let list: Value = client
            .get(format!("{base}/api/incidents?limit=1000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        settled = list.as_array().unwrap().clone();
        let pending: usize = {
            let text = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .filter(|l| {
                    l.starts_with("triaged_jobs{state=\"queued\"}")
                        || l.starts_with("triaged_jobs{state=\"running\"}")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as usize
        };
        if pending == 0 && settled.len() >= acknowledged.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut concurrent = 0;
    let mut unposted = Vec::new();
    let with_parent: Vec<Value> = posted
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.get("thread_ts").is_none())
        .map(|m| m["metadata"]["event_payload"]["incident_id"].clone())
        .collect();
    for incident in &settled {
        let id = incident["id"].as_str().unwrap();
        let detail: Value = client
            .get(format!("{base}/api/incidents/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        concurrent += concurrent_jobs(&detail);
        if !with_parent.contains(&json!(id)) {
            unposted.push(format!(
                "{id}: jobs {} stages {}",
                detail["jobs"], detail["stages"]
            ));
        }
    }
    assert!(
        unposted.is_empty(),
        "{} incidents never posted:\n{}",
        unposted.len(),
        unposted.join("\n")
    );
    for daemon in &mut daemons {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
    let titles: Vec<&str> = settled
        .iter()
        .filter_map(|incident| incident["title"].as_str())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|alert| !titles.iter().any(|t| t.ends_with(alert.as_str())))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not stored after {trials} kills: {lost:?}"
    );
    let parents = posted
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.get("thread_ts").is_none())
        .count();
    let mut keys = std::collections::HashMap::<String, usize>::new();
    for message in posted.lock().unwrap().iter() {
        if let Some(key) = message["metadata"]["event_payload"]["key"].as_str() {
            *keys.entry(key.to_owned()).or_default() += 1;
        }
    }
    let duplicates: Vec<&String> = keys
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(duplicates.is_empty(), "posted twice: {duplicates:?}");
    println!(
        "reliability ({}, {replicas} daemon(s)): {trials} kills, {} acknowledged, 0 lost, {} incidents, \
         {parents} Slack parent posts, {concurrent} overlapping runs of two jobs of one incident",
        if database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        acknowledged.len(),
        settled.len()
    );
    assert_eq!(concurrent, 0, "two jobs of one incident ran at once");
    assert_eq!(
        parents,
        settled.len(),
        "one Slack parent per incident, never two"
    );
}
