//! The SQL store, over sqlx's `Any` driver so one set of statements serves SQLite and
//! PostgreSQL. Both accept `$N` placeholders, `ON CONFLICT … DO NOTHING` on a partial unique
//! index and `RETURNING`; only the job claim differs ([`Dialect::claim_sql`]).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use uuid::Uuid;

use crate::domain::KnowledgeMatch;

use super::{
    ClaimedJob, Delivery, IncidentFilter, IngestOutcome, IngestReceipt, Plan, Store, StoreError,
    plan,
};
use crate::domain::{
    Alert, AlertRecord, EvidenceBundle, Incident, IncidentDetail, IncidentStatus, JobKind,
    JobRecord, JobState, Stage, StageOutcome, StageRun, UnixMillis,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

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
    /// overtakes the triage it follows. PostgreSQL skips rows other replicas are claiming;
    /// SQLite has a single writer, so the statement is atomic on its own.
    fn claim_sql(self) -> &'static str {
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, ",
                    "attempts = attempts + 1, updated_at = $3 WHERE id = (",
                    "SELECT j.id FROM jobs j WHERE ((j.state = 'queued' AND j.run_at <= $3) ",
                    "OR (j.state = 'running' AND j.lease_expires_at < $3)) ",
                    "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.incident_id = j.incident_id ",
                    "AND o.id <> j.id AND ((o.state = 'running' AND o.lease_expires_at >= $3) ",
                    "OR (o.state = 'queued' AND (o.created_at, o.id) < (j.created_at, j.id)))) ",
                    "ORDER BY j.run_at, j.created_at LIMIT 1",
                    $lock,
                    ") RETURNING id, incident_id, kind, attempts"
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
        sqlite_synchronous: &str,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            StoreError::Corrupt("database.url must be sqlite: or postgres://".into())
        })?;
        let acquire_timeout = Duration::from_secs(3);
        match dialect {
            Dialect::Sqlite => {
                let synchronous = match sqlite_synchronous {
                    "normal" => "NORMAL",
                    "extra" => "EXTRA",
                    _ => "FULL",
                };
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
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.dialect.name()
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&self.write).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&self.write).await?,
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

    async fn ingest(
        &self,
        alerts: &[Alert],
        now: UnixMillis,
    ) -> Result<Vec<IngestReceipt>, StoreError> {
        // Firing alerts first, so a group that both fires and recovers opens its incident
        // before the recovery is attached to it.
        let mut order: Vec<&Alert> = alerts.iter().collect();
        order.sort_by_key(|alert| !alert.transition.is_firing());
        let mut tx = self.write.begin().await?;
        let mut receipts = Vec::with_capacity(alerts.len());
        for alert in order {
            let still_firing = alerts
                .iter()
                .any(|other| other.dedup_key == alert.dedup_key && other.transition.is_firing());
            receipts.push(ingest_one(&mut tx, alert, now, still_firing).await?);
        }
        tx.commit().await?;
        Ok(receipts)
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: UnixMillis,
        lease_ms: i64,
        max_attempts: u32,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $1, last_error = $2 \
             WHERE state = 'running' AND lease_expires_at < $1 AND attempts >= $3",
        )
        .bind(now)
        .bind("lease expired on the final attempt: the worker died or hung")
        .bind(i64::from(max_attempts))
        .execute(&self.write)
        .await?;
        let row = sqlx::query(self.dialect.claim_sql())
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.write)
            .await?;
        row.map(|row| {
            Ok(ClaimedJob {
                id: row.try_get(0)?,
                incident_id: row.try_get(1)?,
                kind: parse_enum(row.try_get(2)?)?,
                attempt: row.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn extend_lease(
        &self,
        job_id: &str,
        worker: &str,
        until: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(worker)
        .bind(until)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(worker)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
        error: &str,
        retry_at: Option<UnixMillis>,
    ) -> Result<bool, StoreError> {
        let (state, run_at) = match retry_at {
            Some(at) => (JobState::Queued, at),
            None => (JobState::Dead, now),
        };
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, run_at = $4, last_error = $5, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(worker)
        .bind(state.as_str())
        .bind(run_at)
        .bind(error)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $3, attempts = attempts - 1, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(worker)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_stage(
        &self,
        job: &ClaimedJob,
        stage: Stage,
        now: UnixMillis,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO stage_runs (id, job_id, incident_id, stage, attempt, started_at, ended_at, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 'running', NULL)",
        )
        .bind(&id)
        .bind(&job.id)
        .bind(&job.incident_id)
        .bind(stage.as_str())
        .bind(job.attempt)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(id)
    }

    async fn finish_stage(
        &self,
        run_id: &str,
        now: UnixMillis,
        outcome: StageOutcome,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE stage_runs SET ended_at = $2, outcome = $3, detail = $4 WHERE id = $1")
            .bind(run_id)
            .bind(now)
            .bind(outcome.as_str())
            .bind(detail)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn save_brief(
        &self,
        incident_id: &str,
        job_id: &str,
        analyst: &str,
        created_at: UnixMillis,
        brief: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO briefs (id, incident_id, job_id, created_at, analyst, brief) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(incident_id)
        .bind(job_id)
        .bind(created_at)
        .bind(analyst)
        .bind(brief.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn latest_brief(
        &self,
        incident_id: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.recent_briefs(incident_id, 1).await?.into_iter().next())
    }

    async fn save_knowledge(
        &self,
        incident_id: &str,
        job_id: &str,
        matches: &[KnowledgeMatch],
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let json = to_json(matches)?;
        sqlx::query("INSERT INTO retrievals (id, incident_id, job_id, created_at, matches) VALUES ($1, $2, $3, $4, $5)")
            .bind(new_id())
            .bind(incident_id)
            .bind(job_id)
            .bind(now)
            .bind(json)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn latest_knowledge(&self, incident_id: &str) -> Result<Vec<KnowledgeMatch>, StoreError> {
        let row = sqlx::query("SELECT matches FROM retrievals WHERE incident_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(incident_id)
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(row) => json_column(&row, 0),
            None => Ok(Vec::new()),
        }
    }

    async fn recent_briefs(
        &self,
        incident_id: &str,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        sqlx::query("SELECT brief FROM briefs WHERE incident_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2")
            .bind(incident_id)
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| json_column(row, 0))
            .collect()
    }

    async fn slack_parent(
        &self,
        incident_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT channel, ts FROM slack_messages WHERE incident_id = $1")
            .bind(incident_id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }

    async fn set_slack_parent(
        &self,
        incident_id: &str,
        channel: &str,
        ts: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO slack_messages (incident_id, channel, ts, posted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (incident_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
        )
        .bind(incident_id)
        .bind(channel)
        .bind(ts)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn record_delivery(
        &self,
        delivery: &Delivery,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deliveries (key, incident_id, channel, kind, state, detail, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO UPDATE SET \
             state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at",
        )
        .bind(&delivery.key)
        .bind(&delivery.incident_id)
        .bind(&delivery.channel)
        .bind(&delivery.kind)
        .bind(if delivery.sent { "sent" } else { "failed" })
        .bind(&delivery.detail)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn delivery_sent(&self, key: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM deliveries WHERE key = $1 AND state = 'sent'")
                .bind(key)
                .fetch_optional(&self.read)
                .await?
                .is_some(),
        )
    }

    async fn save_feedback(
        &self,
        incident_id: &str,
        user_id: &str,
        verdict: &str,
        note: Option<&str>,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO feedback (incident_id, user_id, verdict, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (incident_id, user_id) DO UPDATE SET verdict = excluded.verdict, \
             note = COALESCE(excluded.note, feedback.note), updated_at = excluded.updated_at",
        )
        .bind(incident_id)
        .bind(user_id)
        .bind(verdict)
        .bind(note)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn feedback_tally(&self, incident_id: &str) -> Result<(i64, i64, i64), StoreError> {
        let mut tally = (0, 0, 0);
        for row in sqlx::query(
            "SELECT verdict, COUNT(*) FROM feedback WHERE incident_id = $1 GROUP BY verdict",
        )
        .bind(incident_id)
        .fetch_all(&self.read)
        .await?
        {
            let verdict: String = row.try_get(0)?;
            let count: i64 = row.try_get(1)?;
            match verdict.as_str() {
                "correct" => tally.0 = count,
                "partly" => tally.1 = count,
                _ => tally.2 = count,
            }
        }
        Ok(tally)
    }

    async fn feedback(
        &self,
        incident_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        sqlx::query(
            "SELECT user_id, verdict, note FROM feedback WHERE incident_id = $1 ORDER BY updated_at, user_id",
        )
        .bind(incident_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
    }

    async fn incidents_with_feedback(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT incident_id FROM feedback GROUP BY incident_id ORDER BY MAX(updated_at) DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }

    async fn save_eval_run(
        &self,
        analyst: &str,
        created_at: UnixMillis,
        scorecard: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO eval_runs (id, created_at, analyst, scorecard) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_id())
        .bind(created_at)
        .bind(analyst)
        .bind(scorecard.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn latest_eval_run(&self) -> Result<Option<serde_json::Value>, StoreError> {
        sqlx::query("SELECT scorecard FROM eval_runs ORDER BY created_at DESC, id DESC LIMIT 1")
            .fetch_optional(&self.read)
            .await?
            .map(|row| json_column(&row, 0))
            .transpose()
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let limit = if filter.limit > 0 {
            filter.limit.min(500)
        } else {
            50
        };
        let rows = match filter.status {
            Some(status) => {
                sqlx::query(&format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE status = $1 ORDER BY opened_at DESC LIMIT $2"
                ))
                .bind(status.as_str())
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY opened_at DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.iter().map(incident_from_row).collect()
    }

    async fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let incident = incident_from_row(&row)?;
        let alerts = sqlx::query(
            "SELECT id, source, delivery_id, transition, event_type, title, message, priority, service, \
             tags, link, fired_at, received_at FROM alerts WHERE incident_id = $1 ORDER BY received_at, id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(alert_from_row)
        .collect::<Result<_, _>>()?;
        let jobs = sqlx::query(
            "SELECT id, kind, state, attempts, run_at, last_error, created_at, updated_at \
             FROM jobs WHERE incident_id = $1 ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(job_from_row)
        .collect::<Result<_, _>>()?;
        let stages = sqlx::query(
            "SELECT job_id, stage, attempt, started_at, ended_at, outcome, detail \
             FROM stage_runs WHERE incident_id = $1 ORDER BY started_at, id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stage_from_row)
        .collect::<Result<_, _>>()?;
        let evidence = self.latest_evidence(id).await?;
        let brief = self.latest_brief(id).await?;
        let knowledge = self.latest_knowledge(id).await?;
        Ok(Some(IncidentDetail {
            incident,
            alerts,
            jobs,
            stages,
            evidence,
            brief,
            knowledge,
        }))
    }

    async fn alerts_for(&self, incident_id: &str) -> Result<Vec<Alert>, StoreError> {
        sqlx::query(
            "SELECT source, delivery_id, dedup_key, transition, event_type, title, message, priority, \
             service, tags, monitor_id, monitor_query, metric, link, fired_at, raw \
             FROM alerts WHERE incident_id = $1 ORDER BY received_at, id",
        )
        .bind(incident_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            let fired_at: i64 = row.try_get(14)?;
            Ok(Alert {
                source: parse_enum(row.try_get(0)?)?,
                delivery_id: row.try_get(1)?,
                dedup_key: row.try_get(2)?,
                transition: parse_enum(row.try_get(3)?)?,
                event_type: row.try_get(4)?,
                title: row.try_get(5)?,
                message: row.try_get(6)?,
                priority: row.try_get(7)?,
                service: row.try_get(8)?,
                tags: json_column(row, 9)?,
                monitor_id: row.try_get(10)?,
                monitor_query: row.try_get(11)?,
                metric: row.try_get(12)?,
                link: row.try_get(13)?,
                fired_at: chrono::DateTime::from_timestamp_millis(fired_at)
                    .ok_or_else(|| StoreError::Corrupt(format!("fired_at {fired_at} out of range")))?,
                raw: row.try_get(15)?,
            })
        })
        .collect()
    }

    async fn save_evidence(
        &self,
        incident_id: &str,
        job_id: &str,
        bundle: &EvidenceBundle,
    ) -> Result<(), StoreError> {
        let json = to_json(bundle)?;
        sqlx::query(
            "INSERT INTO evidence_bundles (id, incident_id, job_id, collected_at, bundle) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(incident_id)
        .bind(job_id)
        .bind(bundle.collected_at)
        .bind(json)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn latest_evidence(
        &self,
        incident_id: &str,
    ) -> Result<Option<EvidenceBundle>, StoreError> {
        let row = sqlx::query(
            "SELECT bundle FROM evidence_bundles WHERE incident_id = $1 \
             ORDER BY collected_at DESC, id DESC LIMIT 1",
        )
        .bind(incident_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| json_column(&row, 0)).transpose()
    }

    async fn job_counts(&self) -> Result<Vec<(JobState, i64)>, StoreError> {
        sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| Ok((parse_enum(row.try_get(0)?)?, row.try_get(1)?)))
            .collect()
    }
}

/// One alert inside the delivery's transaction: dedupe by delivery id, then create, join or
/// resolve its incident and queue the job the change calls for.
async fn ingest_one(
    tx: &mut Transaction<'_, Any>,
    alert: &Alert,
    now: UnixMillis,
    still_firing: bool,
) -> Result<IngestReceipt, StoreError> {
    let alert_id = new_id();
    let tags = to_json(&alert.tags)?;
    let inserted = sqlx::query(
        "INSERT INTO alerts (id, source, delivery_id, incident_id, dedup_key, transition, event_type, \
         title, message, priority, service, tags, monitor_id, monitor_query, metric, link, fired_at, \
         received_at, raw) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18) ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id",
    )
    .bind(&alert_id)
    .bind(alert.source.as_str())
    .bind(&alert.delivery_id)
    .bind(&alert.dedup_key)
    .bind(alert.transition.as_str())
    .bind(&alert.event_type)
    .bind(&alert.title)
    .bind(&alert.message)
    .bind(&alert.priority)
    .bind(&alert.service)
    .bind(&tags)
    .bind(&alert.monitor_id)
    .bind(&alert.monitor_query)
    .bind(&alert.metric)
    .bind(&alert.link)
    .bind(alert.fired_at.timestamp_millis())
    .bind(now)
    .bind(&alert.raw)
    .fetch_optional(&mut **tx)
    .await?;
    if inserted.is_none() {
        let incident_id: Option<String> =
            sqlx::query("SELECT incident_id FROM alerts WHERE source = $1 AND delivery_id = $2")
                .bind(alert.source.as_str())
                .bind(&alert.delivery_id)
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
        return Ok(IngestReceipt {
            alert_id: None,
            incident_id,
            outcome: IngestOutcome::Duplicate,
            job: None,
        });
    }

    let mut open = find_open_incident(tx, &alert.dedup_key).await?;
    let (incident_id, outcome, job) = loop {
        match (
            plan(alert.transition, open.is_some(), still_firing),
            open.as_deref(),
        ) {
            (Plan::Create { status, job }, _) => {
                let id = new_id();
                let created = sqlx::query(
                    "INSERT INTO incidents (id, dedup_key, source, title, service, priority, status, \
                     opened_at, updated_at, resolved_at, alert_count) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL, 1) \
                     ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO NOTHING RETURNING id",
                )
                .bind(&id)
                .bind(&alert.dedup_key)
                .bind(alert.source.as_str())
                .bind(&alert.title)
                .bind(&alert.service)
                .bind(&alert.priority)
                .bind(status.as_str())
                .bind(now)
                .fetch_optional(&mut **tx)
                .await?;
                if created.is_some() {
                    let job = enqueue(tx, &id, job, now).await?;
                    break (Some(id), IngestOutcome::New, job);
                }
                // Another replica opened it between our read and our insert: join theirs.
                open = find_open_incident(tx, &alert.dedup_key).await?;
                if open.is_none() {
                    return Err(StoreError::Corrupt(format!(
                        "incident for {} neither insertable nor found",
                        alert.dedup_key
                    )));
                }
            }
            (Plan::Attach { set_status, job }, Some(id)) => {
                let id = id.to_string();
                touch_incident(tx, &id, set_status, now).await?;
                let job = match job {
                    Some(kind) => enqueue(tx, &id, kind, now).await?,
                    None => None,
                };
                break (Some(id), IngestOutcome::Grouped, job);
            }
            (Plan::Attach { .. }, None) => {
                return Err(StoreError::Corrupt(
                    "attach planned without an open incident".into(),
                ));
            }
            (Plan::AttachToLatest, _) => {
                let latest: Option<String> = sqlx::query(
                    "SELECT id FROM incidents WHERE dedup_key = $1 ORDER BY opened_at DESC LIMIT 1",
                )
                .bind(&alert.dedup_key)
                .fetch_optional(&mut **tx)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
                match latest {
                    Some(id) => {
                        touch_incident(tx, &id, None, now).await?;
                        break (Some(id), IngestOutcome::Grouped, None);
                    }
                    None => break (None, IngestOutcome::Unlinked, None),
                }
            }
        }
    };
    if let Some(incident_id) = &incident_id {
        sqlx::query("UPDATE alerts SET incident_id = $1 WHERE id = $2")
            .bind(incident_id)
            .bind(&alert_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(IngestReceipt {
        alert_id: Some(alert_id),
        incident_id,
        outcome,
        job,
    })
}

async fn find_open_incident(
    tx: &mut Transaction<'_, Any>,
    dedup_key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query("SELECT id FROM incidents WHERE dedup_key = $1 AND status <> 'resolved'")
            .bind(dedup_key)
            .fetch_optional(&mut **tx)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?,
    )
}

async fn touch_incident(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    set_status: Option<IncidentStatus>,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let status = set_status.map(IncidentStatus::as_str);
    let resolved_at = (set_status == Some(IncidentStatus::Resolved)).then_some(now);
    sqlx::query(
        "UPDATE incidents SET alert_count = alert_count + 1, updated_at = $2, \
         status = COALESCE($3, status), resolved_at = COALESCE($4, resolved_at) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(status)
    .bind(resolved_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Queues a job. An update is coalesced into a triage or update already waiting for the
/// incident: that job will read the newest alerts anyway, so an alert storm queues one job.
async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    incident_id: &str,
    kind: JobKind,
    now: UnixMillis,
) -> Result<Option<JobKind>, StoreError> {
    let insert = if kind == JobKind::Update {
        "INSERT INTO jobs (id, incident_id, kind, state, attempts, run_at, created_at, updated_at) \
         SELECT $1, $2, $3, 'queued', 0, $4, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM jobs \
         WHERE incident_id = $2 AND state = 'queued' AND kind IN ('triage', 'update'))"
    } else {
        "INSERT INTO jobs (id, incident_id, kind, state, attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', 0, $4, $4, $4)"
    };
    let done = sqlx::query(insert)
        .bind(new_id())
        .bind(incident_id)
        .bind(kind.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok((done.rows_affected() == 1).then_some(kind))
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
