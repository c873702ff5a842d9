//! Incidents as the API and the pages read them.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Reads for SqlStore {
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
}
