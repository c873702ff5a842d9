//! The job queue: claims under a lease, lease-guarded transitions, the stage timeline.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl Queue for SqlStore {
    async fn claim_job(
        &self,
        worker: &str,
        now: UnixMillis,
        lease_ms: i64,
        max_attempts: u32,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        // A job whose worker died on its final attempt is dead-lettered; the stage it was
        // running is closed as abandoned so the timeline never shows it running forever.
        sqlx::query(
            "UPDATE stage_runs SET ended_at = $1, outcome = $2, detail = $3 \
             WHERE ended_at IS NULL AND job_id IN (SELECT id FROM jobs \
             WHERE state = 'running' AND lease_expires_at < $1 AND attempts >= $4)",
        )
        .bind(now)
        .bind(StageOutcome::Abandoned.as_str())
        .bind("the worker stopped answering on the job's final attempt; the job is dead-lettered")
        .bind(i64::from(max_attempts))
        .execute(&self.write)
        .await?;
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
        let Some(row) = row else {
            return Ok(None);
        };
        let job = ClaimedJob {
            id: row.try_get(0)?,
            incident_id: row.try_get(1)?,
            kind: parse_enum(row.try_get(2)?)?,
            attempt: row.try_get(3)?,
        };
        let reclaimed_from: Option<String> = row.try_get(4)?;
        if let Some(previous) = reclaimed_from {
            tracing::warn!(
                job.id = %job.id,
                incident.id = %job.incident_id,
                previous.worker = %previous,
                worker,
                "reclaimed a job whose lease expired: its worker died or hung"
            );
            sqlx::query(
                "UPDATE stage_runs SET ended_at = $2, outcome = $3, detail = $4 \
                 WHERE job_id = $1 AND ended_at IS NULL",
            )
            .bind(&job.id)
            .bind(now)
            .bind(StageOutcome::Abandoned.as_str())
            .bind(format!(
                "worker {previous} stopped answering; the job was reclaimed by {worker}"
            ))
            .execute(&self.write)
            .await?;
        }
        Ok(Some(job))
    }

    async fn extend_lease(
        &self,
        job_id: &str,
        worker: &str,
        until: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.while_leased(job_id, worker, "lease_expires_at = $3", |q| q.bind(until))
            .await
    }

    async fn complete_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.while_leased(
            job_id,
            worker,
            "state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $3",
            |q| q.bind(now),
        )
        .await
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
        let error = error.to_string();
        self.while_leased(
            job_id,
            worker,
            "state = $3, run_at = $4, last_error = $5, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $6",
            |q| q.bind(state.as_str()).bind(run_at).bind(error).bind(now),
        )
        .await
    }

    async fn release_job(
        &self,
        job_id: &str,
        worker: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.while_leased(
            job_id,
            worker,
            "state = 'queued', run_at = $3, attempts = attempts - 1, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $3",
            |q| q.bind(now),
        )
        .await
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

    async fn stage_succeeded(&self, job_id: &str, stage: Stage) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM stage_runs WHERE job_id = $1 AND stage = $2 AND outcome = 'ok' LIMIT 1",
        )
        .bind(job_id)
        .bind(stage.as_str())
        .fetch_optional(&self.read)
        .await?
        .is_some())
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

    async fn job_counts(&self) -> Result<Vec<(JobState, i64)>, StoreError> {
        sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| Ok((parse_enum(row.try_get(0)?)?, row.try_get(1)?)))
            .collect()
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

impl SqlStore {
    /// Applies `set` (placeholders from `$3`, bound by `bind`) to a running job only while
    /// `worker` still holds its lease: every job transition after the claim goes through
    /// here, so a worker whose lease was taken over can never overwrite the new owner's work.
    /// `false` when the lease is no longer the worker's.
    async fn while_leased(
        &self,
        job_id: &str,
        worker: &str,
        set: &str,
        bind: impl for<'q> FnOnce(AnyQuery<'q>) -> AnyQuery<'q>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE jobs SET {set} WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
        );
        let query = bind(sqlx::query(&sql).bind(job_id).bind(worker));
        Ok(query.execute(&self.write).await?.rows_affected() == 1)
    }
}
