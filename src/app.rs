//! Builds the server and the worker pool, runs them until shutdown, then drains: intake stops,
//! in-flight jobs get `server.shutdown_grace_secs` to finish, the rest go back to the queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::analysis::Analyst;
use crate::config::{Secrets, Settings};
use crate::knowledge::KnowledgeIndex;
use crate::notify::Notifier;
use crate::pipeline::{EvidenceGatherer, Pipeline, StageHandler, WorkerPool};
use crate::store::{SqlStore, Store};
use crate::telemetry;
use crate::web::{self, AppState};

/// Opens (creating the data directory for SQLite) and migrates the configured store.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.server.data_dir).with_context(|| {
            format!(
                "creating data directory {}",
                settings.server.data_dir.display()
            )
        })?;
    }
    let store = SqlStore::connect(
        &url,
        settings.database.max_connections,
        &settings.database.sqlite_synchronous,
    )
    .await
    .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(Arc::new(store))
}

/// Refuses to run with open webhooks and no secret, unless explicitly allowed.
pub fn check_webhook_auth(
    settings: &Settings,
    secrets: &Secrets,
    insecure_no_auth: bool,
) -> anyhow::Result<()> {
    let missing = secrets.missing_for(&settings.intake.sources);
    if missing.is_empty() {
        return Ok(());
    }
    if insecure_no_auth {
        for problem in &missing {
            tracing::warn!("INSECURE: {problem}; anyone who can reach this port can post alerts");
        }
        return Ok(());
    }
    anyhow::bail!(
        "refusing to start with unauthenticated webhooks:\n  - {}\nset the secrets, disable the sources in intake.sources, or pass --insecure-no-auth",
        missing.join("\n  - ")
    )
}

/// A running daemon: its address, store and a handle to stop it.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningApp {
    /// Asks the daemon to stop (as SIGTERM does).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops at once without draining or releasing anything, as a crash would: leases are
    /// left to expire. Recovery tests use it.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits until the daemon has drained and stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("daemon task panicked")?
    }
}

/// Binds, starts the server and workers, and returns at once.
pub async fn start(
    settings: Settings,
    secrets: Secrets,
    store: Arc<dyn Store>,
    handler: Arc<dyn StageHandler>,
) -> anyhow::Result<RunningApp> {
    let addr = settings.listen_addr().map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let settings = Arc::new(settings);
    let shutdown = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let notifier = Arc::new(Notifier::from_settings(
        &settings.slack,
        &secrets,
        Arc::clone(&store),
    ));
    let state = AppState {
        settings: Arc::clone(&settings),
        secrets: Arc::new(secrets),
        store: Arc::clone(&store),
        wake: Arc::clone(&wake),
        metrics: telemetry::metrics_handle(),
        notifier,
        knowledge: handler.knowledge(),
        sync: Arc::default(),
    };

    let abandon = CancellationToken::new();
    let mut workers = WorkerPool {
        store: Arc::clone(&store),
        handler,
        settings: settings.workers.clone(),
        wake,
        stop_claiming: shutdown.clone(),
        abandon: abandon.clone(),
    }
    .spawn();

    let server_shutdown = shutdown.clone();
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let task_store = Arc::clone(&store);
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, web::router(state))
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
        let served = server.await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "intake stopped; draining in-flight jobs"
        );
        let drained = tokio::time::timeout(grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("grace period over; releasing unfinished jobs to the queue");
            abandon.cancel();
            while workers.join_next().await.is_some() {}
        }
        task_store.close().await;
        tracing::info!("stopped");
        served.context("HTTP server failed")
    });

    tracing::info!(%addr, store = store.backend(), workers = settings.workers.count, "triaged listening");
    Ok(RunningApp {
        addr,
        store,
        shutdown,
        task,
    })
}

/// The production pipeline over `store`.
pub async fn pipeline(
    settings: &Settings,
    secrets: &Secrets,
    store: Arc<dyn Store>,
) -> anyhow::Result<Arc<dyn StageHandler>> {
    let gatherer = EvidenceGatherer::from_settings(settings, secrets)
        .await
        .map_err(anyhow::Error::msg)
        .context("setting up the collectors")?;
    let analyst = Analyst::from_settings(settings, secrets, gatherer.catalog.clone());
    let notifier = Notifier::from_settings(&settings.slack, secrets, Arc::clone(&store));
    let index = open_knowledge(settings, secrets)?;
    Ok(Arc::new(Pipeline::new(
        store,
        gatherer,
        Some((index, settings.knowledge.per_corpus)),
        analyst,
        notifier,
    )))
}

/// Opens `<data_dir>/index` and, when configured, brings it up to date with the configured
/// runbook and post-mortem paths (unchanged chunks are skipped).
pub fn open_knowledge(
    settings: &Settings,
    secrets: &Secrets,
) -> anyhow::Result<Arc<KnowledgeIndex>> {
    let embedder = crate::knowledge::Embedder::from_settings(
        &settings.knowledge.embeddings,
        secrets.embeddings_api_key.clone(),
    );
    let server =
        (!settings.knowledge.qdrant_url.is_empty()).then(|| crate::knowledge::ServerTarget {
            url: settings.knowledge.qdrant_url.clone(),
            api_key: secrets
                .qdrant_api_key
                .as_ref()
                .map(|k| secrecy::ExposeSecret::expose_secret(k).to_string()),
            collection: settings.knowledge.qdrant_collection.clone(),
        });
    let index = KnowledgeIndex::open_on(&settings.server.data_dir.join("index"), embedder, server)
        .context("opening the knowledge index")?;
    if settings.knowledge.index_on_start {
        index_configured(&settings.knowledge, &index, &mut |_, _| {})?;
    }
    Ok(Arc::new(index))
}

/// Brings the index up to date with every configured path (unchanged chunks are skipped,
/// chunks of vanished sections and files removed). `progress` hears the corpus and where the
/// run is.
pub fn index_configured(
    knowledge: &crate::config::KnowledgeSettings,
    index: &KnowledgeIndex,
    progress: &mut dyn FnMut(&str, crate::knowledge::Progress),
) -> anyhow::Result<crate::knowledge::IndexReport> {
    let mut total = crate::knowledge::IndexReport::default();
    for (corpus, paths) in knowledge.corpora() {
        for path in paths {
            let report = index
                .index_path_with(corpus, path, &mut |p| progress(corpus, p))
                .with_context(|| format!("indexing {}", path.display()))?;
            tracing::info!(corpus, path = %path.display(), files = report.files, indexed = report.indexed, unchanged = report.unchanged, removed = report.removed, failed = report.failed.len(), "knowledge indexed");
            total.add(report);
        }
    }
    Ok(total)
}

/// `triaged serve`: runs until SIGINT or SIGTERM.
pub async fn serve(settings: Settings, secrets: Secrets) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let handler = pipeline(&settings, &secrets, Arc::clone(&store)).await?;
    let app = start(settings, secrets, store, handler).await?;
    shutdown_signal().await;
    tracing::info!("shutdown signal received");
    app.shutdown();
    app.wait().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
