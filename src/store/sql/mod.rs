//! The SQL store, over sqlx's `Any` driver so one set of statements serves SQLite and
//! PostgreSQL. Both accept `$N` placeholders, `ON CONFLICT … DO NOTHING` on a partial unique
//! index and `RETURNING`; only the job claim differs ([`Dialect::claim_sql`]). One file per
//! role: [`ingest`], [`queue`], [`artifacts`], [`outbox`], [`feedback`], [`reads`].

mod artifacts;
mod feedback;
mod ingest;
mod maintenance;
mod outbox;
mod queue;
mod reads;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use uuid::Uuid;

use crate::config::SqliteSynchronous;
use crate::domain::KnowledgeMatch;

use super::{
    Artifacts, ClaimedJob, Delivery, Feedback, IncidentFilter, Ingest, IngestOutcome,
    IngestReceipt, MessageClaim, Outbox, Plan, Queue, Reads, Store, StoreError, plan,
};
use crate::domain::{
    Alert, AlertRecord, EvidenceBundle, Incident, IncidentDetail, IncidentStatus, JobKind,
    JobRecord, JobState, Stage, StageOutcome, StageRun, UnixMillis,
};

/// One set of migrations: the schema is written in SQL both dialects accept.
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    /// Claims one runnable job: queued and due, or running under an expired lease. Jobs of
    /// one incident run one at a time and in the order they were queued, so a resolve never
    /// overtakes the triage it follows: a job waits while any job of its incident holds a live
    /// lease, and while any older job of its incident is unfinished — queued, or running under
    /// an expired lease that is about to be reclaimed (otherwise one replica could reclaim the
    /// older job while another starts the newer). PostgreSQL skips rows other replicas are
    /// claiming; SQLite has a single writer, so the statement is atomic on its own. The worker
    /// whose expired lease is taken over is kept in `reclaimed_from` (SET reads the old row).
    fn claim_sql(self) -> &'static str {
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, ",
                    "attempts = attempts + 1, updated_at = $3, ",
                    "reclaimed_from = CASE WHEN state = 'running' THEN lease_owner ELSE NULL END ",
                    "WHERE id = (",
                    "SELECT j.id FROM jobs j WHERE ((j.state = 'queued' AND j.run_at <= $3) ",
                    "OR (j.state = 'running' AND j.lease_expires_at < $3)) ",
                    "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.incident_id = j.incident_id ",
                    "AND o.id <> j.id AND ((o.state = 'running' AND o.lease_expires_at >= $3) ",
                    "OR (o.state IN ('queued', 'running') ",
                    "AND (o.created_at, o.id) < (j.created_at, j.id)))) ",
                    "ORDER BY j.run_at, j.created_at LIMIT 1",
                    $lock,
                    ") RETURNING id, incident_id, kind, attempts, reclaimed_from"
                )
            };
        }
        match self {
            Self::Sqlite => claim!(""),
            Self::Postgres => claim!(" FOR UPDATE SKIP LOCKED"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

pub struct SqlStore {
    dialect: Dialect,
    /// SQLite: one connection, so write transactions queue instead of failing with BUSY.
    write: AnyPool,
    read: AnyPool,
}

impl SqlStore {
    /// Connects without touching the schema; call [`Store::migrate`] next.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        sqlite_synchronous: SqliteSynchronous,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            StoreError::Corrupt("database.url must be sqlite: or postgres://".into())
        })?;
        let acquire_timeout = Duration::from_secs(3);
        match dialect {
            Dialect::Sqlite => {
                let synchronous = sqlite_synchronous.as_str();
                let options = move |max| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(acquire_timeout)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                for pragma in [
                                    "PRAGMA journal_mode = WAL".to_string(),
                                    format!("PRAGMA synchronous = {synchronous}"),
                                    "PRAGMA busy_timeout = 5000".to_string(),
                                    "PRAGMA foreign_keys = ON".to_string(),
                                ] {
                                    conn.execute(pragma.as_str()).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let write = options(1).connect(url).await?;
                let read = options(max_connections.max(1)).connect(url).await?;
                Ok(Self {
                    dialect,
                    write,
                    read,
                })
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire_timeout)
                    .connect(url)
                    .await?;
                Ok(Self {
                    dialect,
                    write: pool.clone(),
                    read: pool,
                })
            }
        }
    }
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// Reads a JSON document kept in a text column.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    index: usize,
) -> Result<T, StoreError> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Writes a value as JSON text for a text column.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_enum<T: FromStr<Err = String>>(raw: String) -> Result<T, StoreError> {
    raw.parse().map_err(StoreError::Corrupt)
}

#[async_trait]
#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.dialect.name()
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite | Dialect::Postgres => MIGRATIONS.run(&self.write).await?,
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    async fn redact_stored(&self, keep_raw: bool) -> Result<u64, StoreError> {
        self.redact_rows(keep_raw).await
    }
}

const INCIDENT_COLUMNS: &str = "id, dedup_key, source, title, service, priority, status, opened_at, \
     updated_at, resolved_at, alert_count";

fn incident_from_row(row: &AnyRow) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: row.try_get(0)?,
        dedup_key: row.try_get(1)?,
        source: parse_enum(row.try_get(2)?)?,
        title: row.try_get(3)?,
        service: row.try_get(4)?,
        priority: row.try_get(5)?,
        status: parse_enum(row.try_get(6)?)?,
        opened_at: row.try_get(7)?,
        updated_at: row.try_get(8)?,
        resolved_at: row.try_get(9)?,
        alert_count: row.try_get(10)?,
    })
}

fn alert_from_row(row: &AnyRow) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        id: row.try_get(0)?,
        source: parse_enum(row.try_get(1)?)?,
        delivery_id: row.try_get(2)?,
        transition: parse_enum(row.try_get(3)?)?,
        event_type: row.try_get(4)?,
        title: row.try_get(5)?,
        message: row.try_get(6)?,
        priority: row.try_get(7)?,
        service: row.try_get(8)?,
        tags: json_column(row, 9)?,
        link: row.try_get(10)?,
        fired_at: row.try_get(11)?,
        received_at: row.try_get(12)?,
    })
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.try_get(0)?,
        kind: parse_enum(row.try_get(1)?)?,
        state: parse_enum(row.try_get(2)?)?,
        attempts: row.try_get(3)?,
        run_at: row.try_get(4)?,
        last_error: row.try_get(5)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

fn stage_from_row(row: &AnyRow) -> Result<StageRun, StoreError> {
    Ok(StageRun {
        job_id: row.try_get(0)?,
        stage: parse_enum(row.try_get(1)?)?,
        attempt: row.try_get(2)?,
        started_at: row.try_get(3)?,
        ended_at: row.try_get(4)?,
        outcome: parse_enum(row.try_get(5)?)?,
        detail: row.try_get(6)?,
    })
}
