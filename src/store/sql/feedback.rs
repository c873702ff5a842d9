//! What people and the evaluation said about briefs: verdicts and scorecards.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl Feedback for SqlStore {
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

    async fn recent_eval_runs(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        sqlx::query("SELECT scorecard FROM eval_runs ORDER BY created_at DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| json_column(row, 0))
            .collect()
    }
}
