//! One-off maintenance: rows written before intake redacted at the door are redacted in
//! place (`triaged migrate --redact-stored`).

use std::borrow::Cow;

use serde_json::Value;
use sqlx::Row;

use super::*;
use crate::redact::{redact, redact_value};

/// The text columns that hold alert or model text, and whether each holds JSON.
const COLUMNS: [(&str, &str, bool); 12] = [
    ("alerts", "title", false),
    ("alerts", "message", false),
    ("alerts", "priority", false),
    ("alerts", "service", false),
    ("alerts", "tags", true),
    ("alerts", "monitor_query", false),
    ("alerts", "metric", false),
    ("alerts", "link", false),
    ("incidents", "title", false),
    ("evidence_bundles", "bundle", true),
    ("briefs", "brief", true),
    ("alerts", "raw", true),
];

impl SqlStore {
    /// Redacts every stored alert text, incident title, evidence bundle and brief (and the
    /// raw bodies unless `keep_raw`) with the intake rules. Returns the number of values
    /// changed; running it again changes nothing.
    pub(super) async fn redact_rows(&self, keep_raw: bool) -> Result<u64, StoreError> {
        let mut changed = 0;
        for (table, column, json) in COLUMNS {
            if keep_raw && column == "raw" {
                continue;
            }
            let rows = sqlx::query(&format!(
                "SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"
            ))
            .fetch_all(&self.read)
            .await?;
            let mut tx = self.write.begin().await?;
            for row in rows {
                let id: String = row.try_get(0)?;
                let value: String = row.try_get(1)?;
                let Some(clean) = redacted(&value, json) else {
                    continue;
                };
                sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
                    .bind(clean)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                changed += 1;
            }
            tx.commit().await?;
        }
        Ok(changed)
    }
}

/// The value redacted, or `None` when nothing in it needed redacting.
fn redacted(value: &str, json: bool) -> Option<String> {
    if json && let Ok(mut parsed) = serde_json::from_str::<Value>(value) {
        let before = parsed.clone();
        redact_value(&mut parsed);
        return (parsed != before).then(|| parsed.to_string());
    }
    match redact(value) {
        Cow::Owned(clean) if clean != value => Some(clean),
        _ => None,
    }
}
