//! The HTML pages: escaping, the token guard, and a real browser (headless Chromium driven
//! over WebDriver) opening the list, an incident, a citation and a knowledge search.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use triaged::analysis::Analyst;
use triaged::catalog::ServiceCatalog;
use triaged::config::Settings;
use triaged::domain::{EvidenceBundle, EvidenceItem, SourceReport, SourceStatus, Targets, Window};

use crate::helpers::*;

/// Posts an alert and gives its incident a bundle and a rules brief that cites evidence.
async fn incident_with_brief(app: &TestApp, title: &str) -> String {
    let mut payload: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    payload["title"] = json!(title);
    let receipt: Value = app
        .post_datadog(&payload.to_string())
        .await
        .json()
        .await
        .unwrap();
    let id = receipt["incident_id"].as_str().unwrap().to_string();
    app.wait_for_incident(&id, "pipeline done", |d| {
        d.jobs
            .iter()
            .all(|j| j.state == triaged::domain::JobState::Done)
    })
    .await;
    let onset = Utc::now() - Span::minutes(5);
    let points: Vec<Value> = (0..40)
        .map(|i| {
            json!([
                (onset - Span::minutes(30) + Span::minutes(i)).timestamp_millis(),
                if i > 30 { 97.0 } else { 35.0 }
            ])
        })
        .collect();
    let bundle = EvidenceBundle {
        targets: Targets {
            service: Some("checkout-api".into()),
            kube_namespace: Some("production".into()),
            kube_workloads: vec!["checkout-api".into()],
            ..Targets::default()
        },
        window: Window {
            start: onset - Span::minutes(30),
            onset,
            end: Utc::now(),
        },
        items: vec![
            EvidenceItem {
                id: "k8s.rollout.production/checkout-api.rev118".into(),
                source: "kubernetes".into(),
                kind: "rollout".into(),
                at: Some(onset - Span::minutes(4)),
                summary: "checkout-api rolled out v3.41.0 (revision 118), 4 min before onset"
                    .into(),
                anomaly: 0.9,
                data: json!({"deployment": "checkout-api", "revision": 118}),
            },
            EvidenceItem {
                id: "aws.rds.prod-postgres-primary.cpu".into(),
                source: "aws".into(),
                kind: "metric".into(),
                at: None,
                summary: "prod-postgres-primary CPU: last 97.0%, max 97.0%, before onset 35.0"
                    .into(),
                anomaly: 0.9,
                data: json!({"series": {"points": points, "min": 35.0, "max": 97.0, "last": 97.0, "onset_index": 31}}),
            },
        ],
        reports: vec![SourceReport {
            source: "aws".into(),
            status: SourceStatus::Ok,
            message: None,
            elapsed_ms: 420,
            items: 1,
        }],
        dropped: vec![],
        collected_at: Utc::now().timestamp_millis(),
    };
    let alert = app.store.alerts_for(&id).await.unwrap().remove(0);
    let analyst = Analyst::from_settings(
        &Settings::default(),
        &Default::default(),
        ServiceCatalog::default(),
    );
    let brief = triaged::pipeline::stages::analyse(&analyst, &alert, &bundle, &[]).await;
    assert!(
        !brief.triage.root_cause.evidence_ids.is_empty(),
        "the brief cites evidence"
    );
    let job = app.store.incident(&id).await.unwrap().unwrap().jobs[0]
        .id
        .clone();
    app.store.save_evidence(&id, &job, &bundle).await.unwrap();
    app.store
        .save_brief(
            &id,
            &job,
            &brief.analyst,
            Utc::now().timestamp_millis(),
            &serde_json::to_value(&brief).unwrap(),
        )
        .await
        .unwrap();
    id
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn hostile_alert_text_is_escaped_in_the_pages() {
    let app = spawn_app().await;
    let id = incident_with_brief(
        &app,
        "<script>alert(1)</script> db down <img src=x onerror=alert(2)>",
    )
    .await;
    for path in ["/".to_string(), format!("/incidents/{id}")] {
        let (status, html) = get_text(&app, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("<script>alert(1)"), "{path} runs alert text");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path} shows it as text"
        );
    }
    let (_, html) = get_text(&app, &format!("/incidents/{id}")).await;
    assert!(
        html.contains("id=\"k8s.rollout.production/checkout-api.rev118\""),
        "evidence has anchors"
    );
    assert!(
        html.contains("href=\"#k8s.rollout.production/checkout-api.rev118\""),
        "citations link to them"
    );
    assert!(html.contains("<svg class=\"spark\""), "series are drawn");
    // The hypotheses tested, each check with its verdict and its citations.
    assert!(
        html.contains("Hypotheses tested"),
        "the table is on the page"
    );
    assert!(html.contains("deploy_regression"), "{html}");
    assert!(html.contains("time order"), "the checks are named");
    let (_, api) = get_text(&app, &format!("/api/incidents/{id}")).await;
    let detail: Value = serde_json::from_str(&api).unwrap();
    assert!(
        detail["brief"]["hypotheses"][0]["checks"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "the API carries the table: {}",
        detail["brief"]["hypotheses"]
    );
    let (_, html) = get_text(&app, "/knowledge?q=<b>cpu</b>").await;
    assert!(html.contains("&lt;b&gt;cpu&lt;/b&gt;"));
}

#[tokio::test]
async fn the_pages_need_the_token_when_one_is_set() {
    let mut secrets = test_secrets();
    secrets.api_token = Some("page-secret".to_string().into());
    let app = spawn_app_with_pipeline(|_| {}, secrets).await;
    for path in ["/", "/incidents/x", "/knowledge?q=cpu", "/eval"] {
        let (status, html) = get_text(&app, path).await;
        assert_eq!(status, 401, "{path}");
        assert!(
            html.contains("name=\"token\""),
            "{path} offers the login form"
        );
    }
    let bearer = app
        .client
        .get(format!("{}/", app.base))
        .bearer_auth("page-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wrong = no_redirects
        .post(format!("{}/login", app.base))
        .form(&[("token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let login = no_redirects
        .post(format!("{}/login", app.base))
        .form(&[("token", "page-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Secure")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("page-secret"),
        "the token itself never sits in a cookie"
    );
    let session = cookie.split(';').next().unwrap();
    let page = app
        .client
        .get(format!("{}/", app.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

// ------------------------------------------------------------ a real browser

/// chromedriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser test is ignored by default, so a run without Chromium lists it as skipped in
/// the summary instead of passing it; asked for by name, a missing chromedriver fails it.
async fn start_driver() -> Option<Driver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "the browser test needs chromedriver ({error}): apt-get install chromium chromium-driver"
            )
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// A W3C WebDriver session, spoken over plain HTTP.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver, profile: &std::path::Path) -> Self {
        let http = reqwest::Client::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let reply: Value = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_string();
        Self {
            http,
            session: format!("{}/session/{session}", driver.url),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(reply["value"].get("error").is_none(), "{path}: {reply}");
        reply["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn click(&self, css: &str) {
        let element = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

#[tokio::test]
#[ignore = "drives headless Chromium: cargo nextest run --run-ignored only browser"]
async fn a_browser_opens_the_list_an_incident_a_citation_and_a_search() {
    let driver = start_driver()
        .await
        .expect("chromedriver answers on a free port");
    let app = spawn_app().await;
    let id = incident_with_brief(&app, "prod-postgres-primary CPU above 90%").await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::open(&driver, profile.path()).await;

    browser.go(&format!("{}/", app.base)).await;
    assert_eq!(
        browser
            .script("return document.querySelectorAll('tr.incident').length")
            .await,
        1
    );
    browser.click("tr.incident a").await;
    let path = browser.script("return location.pathname").await;
    assert_eq!(path, format!("/incidents/{id}"));
    assert!(
        browser
            .script("return document.querySelector('#brief h3').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("deploy_regression")
    );

    browser
        .click("a.cite[href='#k8s.rollout.production/checkout-api.rev118']")
        .await;
    assert_eq!(
        browser
            .script("return decodeURIComponent(location.hash)")
            .await,
        "#k8s.rollout.production/checkout-api.rev118"
    );
    let visible = browser
        .script("const e = document.getElementById(decodeURIComponent(location.hash.slice(1))); const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight")
        .await;
    assert_eq!(visible, true, "the cited evidence scrolled into view");

    let shot = browser
        .call(reqwest::Method::GET, "/screenshot", None)
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let artefacts = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&artefacts).unwrap();
    std::fs::write(artefacts.join("incident.png"), &png).unwrap();

    browser.go(&format!("{}/knowledge", app.base)).await;
    browser.script("document.querySelector('input[name=q]').value = 'cpu saturation'; document.querySelector('form').submit(); return null").await;
    for _ in 0..50 {
        if browser.script("return location.search").await == "?q=cpu+saturation" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let results = browser
        .script("return document.getElementById('results').textContent")
        .await;
    assert!(
        results.as_str().unwrap().contains("cpu saturation"),
        "{results}"
    );

    // The evaluation page shows the latest recorded scorecard.
    let scenarios = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let options = triaged::eval::EvalOptions {
        analyst: triaged::eval::AnalystMode::Rules,
        only: vec!["ddos".into()],
        without_memory: false,
    };
    let scorecard = triaged::eval::run(
        &scenarios,
        &triaged::config::Settings::default(),
        &triaged::config::Secrets::default(),
        &options,
    )
    .await
    .unwrap();
    app.store
        .save_eval_run(
            "rules",
            scorecard.created_at.timestamp_millis(),
            &serde_json::to_value(&scorecard).unwrap(),
        )
        .await
        .unwrap();
    browser.go(&format!("{}/eval", app.base)).await;
    let hit = browser
        .script("return document.querySelector('#summary td.hit1').textContent")
        .await;
    assert_eq!(hit, "100%");
    let rows = browser
        .script("return document.querySelectorAll('#scenarios tr').length")
        .await;
    assert_eq!(rows, 2, "a header and one scenario");
    browser.close().await;
}

#[tokio::test]
async fn the_knowledge_page_searches_the_index_like_the_pipeline() {
    let samples =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/samples/knowledge");
    let app = spawn_app_with_pipeline(
        move |s| s.knowledge.runbooks = vec![samples.join("runbooks")],
        test_secrets(),
    )
    .await;
    let (status, html) = get_text(&app, "/knowledge?q=redis-sessions+evictions").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("runbook.redis-sessions#connection-refused-or-timeouts"),
        "{html}"
    );
    assert!(html.contains("class=\"card hit\""));
}
