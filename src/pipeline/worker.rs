//! The worker pool: N tasks that claim jobs under a lease, heartbeat while running, record
//! each stage, retry failures with exponential backoff and dead-letter after the last attempt.
//! A job whose worker died is reclaimed once its lease expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::StageHandler;
use crate::config::WorkerSettings;
use crate::domain::{Stage, StageError, StageOutcome, StageReport, UnixMillis};
use crate::store::{ClaimedJob, Queue};

fn now_ms() -> UnixMillis {
    Utc::now().timestamp_millis()
}

/// Delay before retry `attempt` (1-based): base · 2^(attempt-1), capped, with ±20 % jitter so
/// a burst of failures does not retry in lockstep.
pub fn backoff_ms(settings: &WorkerSettings, attempt: i64) -> i64 {
    let exponent = attempt.clamp(1, 30) - 1;
    let base = settings.backoff_base_secs.saturating_mul(1000);
    let capped = base
        .saturating_mul(1u64 << exponent)
        .min(settings.backoff_max_secs.saturating_mul(1000));
    let jitter = 0.8 + fastrand::f64() * 0.4;
    (capped as f64 * jitter) as i64
}

pub struct WorkerPool {
    pub store: Arc<dyn Queue>,
    pub handler: Arc<dyn StageHandler>,
    pub settings: WorkerSettings,
    /// Nudged by intake when it queues a job, so idle workers need not wait for the poll.
    pub wake: Arc<Notify>,
    /// Stop claiming new jobs.
    pub stop_claiming: CancellationToken,
    /// Abandon in-flight jobs and give them back to the queue (end of the grace period).
    pub abandon: CancellationToken,
}

impl WorkerPool {
    /// Starts the workers. The set finishes when every worker has stopped.
    pub fn spawn(self) -> JoinSet<()> {
        let pool = Arc::new(self);
        let process = uuid::Uuid::now_v7().simple().to_string();
        let mut set = JoinSet::new();
        for index in 0..pool.settings.count {
            let pool = Arc::clone(&pool);
            let name = format!("{}-{index}", &process[process.len() - 8..]);
            set.spawn(async move { pool.work(name).await });
        }
        set
    }

    async fn work(&self, worker: String) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let lease_ms = (self.settings.lease_secs * 1000) as i64;
        while !self.stop_claiming.is_cancelled() {
            match self
                .store
                .claim_job(&worker, now_ms(), lease_ms, self.settings.max_attempts)
                .await
            {
                Ok(Some(job)) => {
                    let span = tracing::info_span!("job", incident.id = %job.incident_id, job.id = %job.id, job.kind = job.kind.as_str(), job.attempt = job.attempt);
                    self.run_job(&worker, job).instrument(span).await;
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not claim a job"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = self.stop_claiming.cancelled() => {}
            }
        }
    }

    async fn run_job(&self, worker: &str, job: ClaimedJob) {
        let heartbeat = self.heartbeat(worker, &job.id);
        let outcome = tokio::select! {
            result = self.run_stages(&job) => Some(result),
            _ = heartbeat => None,
            _ = self.abandon.cancelled() => {
                match self.store.release_job(&job.id, worker, now_ms()).await {
                    Ok(_) => tracing::info!("shutting down: job released to the queue"),
                    Err(error) => tracing::warn!(%error, "could not release job; its lease will expire"),
                }
                return;
            }
        };
        let Some(result) = outcome else {
            tracing::warn!("lease lost to another worker; abandoning this run");
            return;
        };
        let finished = match result {
            Ok(()) => self.store.complete_job(&job.id, worker, now_ms()).await,
            Err(error) => {
                let last = job.attempt >= i64::from(self.settings.max_attempts);
                let now = now_ms();
                let retry_at = (!last).then(|| now + backoff_ms(&self.settings, job.attempt));
                let error = error.chain();
                if last {
                    tracing::error!(%error, "job failed on its final attempt; dead-lettered");
                } else {
                    tracing::warn!(%error, "job failed; will retry");
                }
                metrics::counter!("triaged_job_failures_total", "kind" => job.kind.as_str())
                    .increment(1);
                self.store
                    .fail_job(&job.id, worker, now, &error, retry_at)
                    .await
            }
        };
        match finished {
            Ok(true) => {}
            Ok(false) => tracing::warn!("job was reclaimed by another worker before it finished"),
            Err(error) => {
                tracing::warn!(%error, "could not record the job's end; its lease will expire")
            }
        }
    }

    /// Extends the lease every `heartbeat_secs`; returns when the lease is lost.
    async fn heartbeat(&self, worker: &str, job_id: &str) {
        let every = Duration::from_secs(self.settings.heartbeat_secs);
        let lease_ms = (self.settings.lease_secs * 1000) as i64;
        loop {
            tokio::time::sleep(every).await;
            match self
                .store
                .extend_lease(job_id, worker, now_ms() + lease_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => tracing::warn!(%error, "heartbeat failed; retrying"),
            }
        }
    }

    /// Runs the job's stages in order. On a retry, a stage an earlier attempt finished is
    /// not run again — its evidence, knowledge or brief is stored — so a failing delivery
    /// does not re-collect and re-ask the model on every attempt. Delivery always runs: its
    /// outbox makes it safe to repeat.
    async fn run_stages(&self, job: &ClaimedJob) -> Result<(), StageError> {
        for &stage in job.kind.stages() {
            let started = Instant::now();
            let run_id = self
                .store
                .start_stage(job, stage, now_ms())
                .await
                .map_err(|e| StageError::caused_by("could not record stage start", e))?;
            let done_before = job.attempt > 1
                && stage != Stage::Deliver
                && self
                    .store
                    .stage_succeeded(&job.id, stage)
                    .await
                    .unwrap_or(false);
            let result = if done_before {
                Ok(StageReport::skipped(
                    "done in an earlier attempt of this job; its result is reused",
                ))
            } else {
                self.handler.run(job, stage).await
            };
            let (outcome, detail) = match &result {
                Ok(report) => (report.outcome, report.detail.clone()),
                Err(error) => (StageOutcome::Failed, Some(error.chain())),
            };
            metrics::histogram!("triaged_stage_duration_seconds", "stage" => stage.as_str(), "outcome" => outcome.as_str())
                .record(started.elapsed().as_secs_f64());
            tracing::info!(
                stage = stage.as_str(),
                outcome = outcome.as_str(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "stage finished"
            );
            self.store
                .finish_stage(&run_id, now_ms(), outcome, detail.as_deref())
                .await
                .map_err(|e| StageError::caused_by("could not record stage end", e))?;
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let settings = WorkerSettings {
            backoff_base_secs: 5,
            backoff_max_secs: 60,
            ..WorkerSettings::default()
        };
        let first = backoff_ms(&settings, 1);
        assert!((4_000..=6_000).contains(&first), "{first}");
        let third = backoff_ms(&settings, 3);
        assert!((16_000..=24_000).contains(&third), "{third}");
        let late = backoff_ms(&settings, 40);
        assert!((48_000..=72_000).contains(&late), "{late}");
    }
}
