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
use crate::memory::Memory;
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
        settings.database.sqlite_synchronous,
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
    components: impl Into<Components>,
) -> anyhow::Result<RunningApp> {
    let Components {
        handler,
        knowledge,
        memory,
    } = components.into();
    let addr = settings.listen_addr().map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let settings = Arc::new(settings);
    let shutdown = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let notifier = Arc::new(Notifier::from_settings(
        &settings,
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
        knowledge,
        memory,
        sync: Arc::default(),
    };

    let abandon = CancellationToken::new();
    let mut workers = WorkerPool {
        store: Arc::clone(&store) as Arc<dyn crate::store::Queue>,
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

/// What the daemon runs: the stage handler its workers call, and the knowledge index the
/// pages and `/knowledge/sync` use (the same one the pipeline searches).
pub struct Components {
    pub handler: Arc<dyn StageHandler>,
    pub knowledge: Option<Arc<KnowledgeIndex>>,
    /// Incident memory, written when incidents resolve and when feedback arrives.
    pub memory: Option<Arc<Memory>>,
}

impl From<Arc<dyn StageHandler>> for Components {
    /// A handler with no knowledge index (tests with stub handlers).
    fn from(handler: Arc<dyn StageHandler>) -> Self {
        Self {
            handler,
            knowledge: None,
            memory: None,
        }
    }
}

/// The production pipeline over `store`, with the configured knowledge index.
pub async fn pipeline(
    settings: &Settings,
    secrets: &Secrets,
    store: Arc<dyn Store>,
) -> anyhow::Result<Components> {
    let gatherer = EvidenceGatherer::from_settings(settings, secrets)
        .await
        .map_err(anyhow::Error::msg)
        .context("setting up the collectors")?;
    let analyst = Analyst::from_settings(settings, secrets, gatherer.catalog.clone());
    let notifier = Notifier::from_settings(settings, secrets, Arc::clone(&store));
    let index = Arc::new(KnowledgeIndex::open_configured(settings, secrets)?);
    let memory = Memory::open(settings, Arc::clone(&index), Arc::clone(&store))
        .await
        .map_err(anyhow::Error::msg)
        .context("opening the incident memory")?;
    let handler = Arc::new(
        Pipeline::new(
            store,
            gatherer,
            Some((Arc::clone(&index), settings.knowledge.per_corpus)),
            analyst,
            notifier,
        )
        .with_memory(memory.clone()),
    );
    Ok(Components {
        handler,
        knowledge: Some(index),
        memory,
    })
}

/// `triaged serve`: runs until SIGINT or SIGTERM.
pub async fn serve(settings: Settings, secrets: Secrets) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let components = pipeline(&settings, &secrets, Arc::clone(&store)).await?;
    let app = start(settings, secrets, store, components).await?;
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
