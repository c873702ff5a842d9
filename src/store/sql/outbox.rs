//! The Slack outbox: the parent message of each incident and every delivery by key.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl Outbox for SqlStore {
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

    async fn claim_message(
        &self,
        key: &str,
        incident_id: &str,
        now: UnixMillis,
    ) -> Result<MessageClaim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO outbox (key, incident_id, state, updated_at) VALUES ($1, $2, 'pending', $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(incident_id)
        .bind(now)
        .execute(&self.write)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(MessageClaim::First);
        }
        let row = sqlx::query("SELECT state, ts FROM outbox WHERE key = $1")
            .bind(key)
            .fetch_one(&self.write)
            .await?;
        let state: String = row.try_get(0)?;
        let ts: Option<String> = row.try_get(1)?;
        Ok(match (state.as_str(), ts) {
            ("sent", Some(ts)) => MessageClaim::Sent(ts),
            _ => MessageClaim::Pending,
        })
    }

    async fn message_sent(&self, key: &str, ts: &str, now: UnixMillis) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'sent', ts = $2, updated_at = $3 WHERE key = $1")
            .bind(key)
            .bind(ts)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
