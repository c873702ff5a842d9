use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use triaged::app::{self, Components, RunningApp};
use triaged::config::{Secrets, Settings};
use triaged::domain::IncidentDetail;
use triaged::intake::auth::pagerduty_signature;
use triaged::pipeline::StageHandler;
use triaged::store::{SqlStore, Store};

pub const WEBHOOK_TOKEN: &str = "test-webhook-token";
pub const PAGERDUTY_SECRET: &str = "test-pagerduty-secret";

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config/samples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn test_secrets() -> Secrets {
    Secrets::from_lookup(|name| match name {
        "TRIAGED_WEBHOOK_TOKEN" => Some(WEBHOOK_TOKEN.into()),
        "PAGERDUTY_WEBHOOK_SECRET" => Some(PAGERDUTY_SECRET.into()),
        _ => None,
    })
}

/// Settings for a test daemon: port 0, its own data directory, fast workers.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.data_dir = data_dir.to_path_buf();
    settings.server.shutdown_grace_secs = 5;
    settings.workers.poll_interval_ms = 50;
    settings.workers.backoff_base_secs = 0;
    // No cluster or cloud account in tests unless a test points a collector at a fake.
    settings.kubernetes.enabled = false;
    settings.aws.enabled = false;
    settings.collectors.services_file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/services.toml");
    settings
}

/// A fresh, migrated store: SQLite in `dir`, or a new PostgreSQL database.
pub async fn open_store(backend: Backend, dir: &std::path::Path) -> Option<Arc<dyn Store>> {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("triaged.db").display()),
        Backend::Postgres => fresh_postgres_database().await?,
    };
    let store = SqlStore::connect(&url, 10, triaged::config::SqliteSynchronous::Normal)
        .await
        .expect("connecting");
    store.migrate().await.expect("migrating");
    Some(Arc::new(store))
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Creates an empty database on the PostgreSQL server named by `TRIAGED_TEST_POSTGRES_URL`
/// (default: the local server). Without a server the test is skipped with a printed reason,
/// except under CI, where `.ci/run` guarantees one and a missing server is a failure.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin = std::env::var("TRIAGED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "SKIPPED: PostgreSQL at {admin} unreachable ({error}); set TRIAGED_TEST_POSTGRES_URL"
            );
            return None;
        }
        Err(error) => panic!("CI requires PostgreSQL at {admin}: {error}"),
    };
    let name = format!("triaged_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
    Some(format!("{base}/{name}"))
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub app: Option<RunningApp>,
    pub dir: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_pipeline(|_| {}, test_secrets()).await
}

/// A daemon running the production pipeline.
pub async fn spawn_app_with_pipeline(
    tweak: impl FnOnce(&mut Settings),
    secrets: Secrets,
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    let store = app::open_store(&settings).await.expect("opening store");
    let handler = app::pipeline(&settings, &secrets, Arc::clone(&store))
        .await
        .expect("building the pipeline");
    spawn_on(settings, secrets, store, handler, dir).await
}

pub async fn spawn_app_with(
    tweak: impl FnOnce(&mut Settings),
    secrets: Secrets,
    handler: Arc<dyn StageHandler>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    let store = app::open_store(&settings).await.expect("opening store");
    spawn_on(settings, secrets, store, handler, dir).await
}

pub async fn spawn_on(
    settings: Settings,
    secrets: Secrets,
    store: Arc<dyn Store>,
    handler: impl Into<Components>,
    dir: TempDir,
) -> TestApp {
    let app = app::start(settings, secrets, Arc::clone(&store), handler)
        .await
        .expect("starting app");
    TestApp {
        base: format!("http://{}", app.addr),
        client: reqwest::Client::new(),
        store,
        app: Some(app),
        dir,
    }
}

impl TestApp {
    pub async fn post_webhook(
        &self,
        source: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{source}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request failed")
    }

    pub async fn post_pagerduty(&self, body: &str, webhook_id: &str) -> reqwest::Response {
        let signature = format!(
            "{},{}",
            pagerduty_signature("an-old-secret", body.as_bytes()),
            pagerduty_signature(PAGERDUTY_SECRET, body.as_bytes())
        );
        self.post_webhook(
            "pagerduty",
            body,
            &[
                ("x-pagerduty-signature", &signature),
                ("x-webhook-id", webhook_id),
            ],
        )
        .await
    }

    pub async fn post_datadog(&self, body: &str) -> reqwest::Response {
        self.post_webhook("datadog", body, &[("x-triaged-token", WEBHOOK_TOKEN)])
            .await
    }

    pub async fn post_alertmanager(&self, body: &str) -> reqwest::Response {
        let bearer = format!("Bearer {WEBHOOK_TOKEN}");
        self.post_webhook("alertmanager", body, &[("authorization", &bearer)])
            .await
    }

    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request failed");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn incident_count(&self) -> usize {
        let (_, list) = self.get_json("/api/incidents?limit=500").await;
        list.as_array().map_or(0, Vec::len)
    }

    pub async fn incident(&self, id: &str) -> IncidentDetail {
        self.store
            .incident(id)
            .await
            .expect("store")
            .expect("incident exists")
    }

    /// Polls until `check` holds on the incident, or panics after 10 s.
    pub async fn wait_for_incident(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&IncidentDetail) -> bool,
    ) -> IncidentDetail {
        for _ in 0..200 {
            let detail = self.incident(id).await;
            if check(&detail) {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "incident {id} never reached: {what}\n{:#?}",
            self.incident(id).await
        );
    }

    /// The incident a webhook's receipt names, once all its jobs have finished.
    pub async fn settle(&self, receipt: reqwest::Response) -> (String, IncidentDetail) {
        let receipt: Value = receipt.json().await.expect("a JSON receipt");
        let id = receipt["incident_id"]
            .as_str()
            .expect("an incident id")
            .to_string();
        let detail = self
            .wait_for_incident(&id, "all jobs finished", |d| {
                !d.jobs.is_empty()
                    && d.jobs.iter().all(|j| {
                        matches!(
                            j.state,
                            triaged::domain::JobState::Done | triaged::domain::JobState::Dead
                        )
                    })
            })
            .await;
        (id, detail)
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown();
            app.wait().await.expect("clean shutdown");
        }
    }
}

/// Answers POSTs (to `at`, when given) with `first` once, then with `then` for good: the
/// shape of every "fails once, then recovers" upstream in these tests.
pub async fn respond_once_then(
    server: &wiremock::MockServer,
    at: Option<&str>,
    first: wiremock::ResponseTemplate,
    then: wiremock::ResponseTemplate,
) {
    use wiremock::Mock;
    use wiremock::matchers::{method, path};
    for (priority, response, once) in [(1u8, first, true), (2, then, false)] {
        let mock = match at {
            Some(at) => Mock::given(method("POST")).and(path(at)),
            None => Mock::given(method("POST")),
        };
        let mock = mock.respond_with(response).with_priority(priority);
        let mock = if once { mock.up_to_n_times(1) } else { mock };
        mock.mount(server).await;
    }
}

/// A free local port for a daemon process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `triaged serve` as a separate process: its own data directory, Slack at `slack`, SQLite or
/// the PostgreSQL database `database`, fast workers, no collector but those a test enables.
pub fn daemon_command(
    dir: &std::path::Path,
    port: u16,
    slack: &str,
    database: Option<&str>,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"));
    match database {
        Some(url) => command.env("TRIAGED__DATABASE__URL", url),
        None => command.env_remove("TRIAGED__DATABASE__URL"),
    };
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("TRIAGED_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
        .env("PAGERDUTY_WEBHOOK_SECRET", PAGERDUTY_SECRET)
        .env("SLACK_BOT_TOKEN", "xoxb-test-not-real")
        .env("TRIAGED__SLACK__API_BASE", slack)
        .env("TRIAGED__SLACK__DEFAULT_CHANNEL", "C0INCIDENTS")
        .env("TRIAGED__KUBERNETES__ENABLED", "false")
        .env("TRIAGED__AWS__ENABLED", "false")
        .env("TRIAGED__WORKERS__BACKOFF_BASE_SECS", "0")
        .env("TRIAGED__WORKERS__POLL_INTERVAL_MS", "50")
        .env("TRIAGED__KNOWLEDGE__INDEX_ON_START", "false")
        .env_remove("DD_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("RUST_LOG");
    command
}

/// Waits until a daemon process answers `/readyz`.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("daemon never became ready");
}

/// A Slack interaction (`payload=` form) signed with `secret`, `age_secs` old.
pub async fn interact(
    app: &TestApp,
    payload: &Value,
    secret: &str,
    age_secs: i64,
) -> reqwest::Response {
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    interact_form(app, form.into_bytes(), secret, age_secs).await
}

/// Any body posted to `/slack/interactions`, signed with `secret`, `age_secs` old.
pub async fn interact_form(
    app: &TestApp,
    form: Vec<u8>,
    secret: &str,
    age_secs: i64,
) -> reqwest::Response {
    let timestamp = chrono::Utc::now().timestamp() - age_secs;
    let signature = triaged::intake::auth::slack_signature(secret, timestamp, &form);
    app.client
        .post(format!("{}/slack/interactions", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(form)
        .send()
        .await
        .unwrap()
}

/// Indexes the sample runbooks and post-mortems shipped in `config/samples/knowledge`.
pub fn sample_knowledge(settings: &mut Settings) {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/samples/knowledge");
    settings.knowledge.runbooks = vec![samples.join("runbooks")];
    settings.knowledge.postmortems = vec![samples.join("postmortems")];
}

/// A collection window whose onset was five minutes ago: thirty minutes before it, up to now.
pub fn window_ending_now() -> triaged::domain::Window {
    let onset = chrono::Utc::now() - chrono::Duration::minutes(5);
    triaged::domain::Window {
        start: onset - chrono::Duration::minutes(30),
        onset,
        end: chrono::Utc::now(),
    }
}
