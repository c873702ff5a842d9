//! Intake: one delivery's alerts, their incidents and jobs in one transaction.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl Ingest for SqlStore {
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
