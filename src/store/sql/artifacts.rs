//! What each stage produced for an incident: alerts, evidence, knowledge, briefs.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl Artifacts for SqlStore {
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
}
