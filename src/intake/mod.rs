//! Intake: raw webhook bytes in, authenticated and normalised [`Alert`]s out.
//!
//! Each sender has its own parser; all of them are lenient about fields they do not need and
//! strict about the JSON itself, so a malformed body is refused with a message that names the
//! problem while an unknown event type is still stored.

pub mod alertmanager;
pub mod auth;
pub mod datadog;
pub mod pagerduty;
pub mod sanitize;
pub mod slack;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{Alert, AlertSource};

/// Why a body could not be turned into alerts. Shown to the sender as a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    Malformed(String),
}

/// Everything a parser needs besides the body.
pub struct Delivery<'a> {
    pub body: &'a [u8],
    /// A delivery id from a header (PagerDuty `X-Webhook-Id`), when the sender sends one.
    pub header_delivery_id: Option<&'a str>,
    pub received_at: DateTime<Utc>,
    /// Keep the body exactly as received (`intake.keep_raw`); otherwise it is stored
    /// redacted like every other field.
    pub keep_raw: bool,
}

/// Parses one delivery from `source` into the alerts it carries (one, or several for an
/// Alertmanager group), each sanitized ([`sanitize::sanitize`]) before anything stores, logs,
/// shows or sends it.
pub fn parse(source: AlertSource, delivery: &Delivery<'_>) -> Result<Vec<Alert>, IntakeError> {
    let value: Value = serde_json::from_slice(delivery.body)
        .map_err(|e| IntakeError::InvalidJson(e.to_string()))?;
    if !value.is_object() {
        return Err(IntakeError::Malformed(format!(
            "{source} payload must be a JSON object"
        )));
    }
    // The stored body is made once per delivery from the value already parsed, however many
    // alerts an Alertmanager group carries.
    let raw = sanitize::stored_body(&value, delivery.body, delivery.keep_raw);
    let mut alerts = match source {
        AlertSource::Datadog => datadog::parse(&value, raw, delivery).map(|a| vec![a]),
        AlertSource::Pagerduty => pagerduty::parse(&value, raw, delivery).map(|a| vec![a]),
        AlertSource::Alertmanager => alertmanager::parse(&value, raw, delivery),
    }?;
    for alert in &mut alerts {
        sanitize::sanitize(alert);
    }
    Ok(alerts)
}

/// A string field as the sender meant it: trimmed, with empty values and unresolved template
/// variables (a literal `$ALERT_CYCLE_KEY`) treated as absent. Numbers are accepted as text.
pub(crate) fn text(value: &Value, key: &str) -> Option<String> {
    let s = match value.get(key)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let unresolved = s.starts_with('$')
        && s.len() > 1
        && s[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    (!s.is_empty() && !unresolved).then_some(s)
}

/// A nested string, e.g. `pointer(v, "/data/service/summary")`.
pub(crate) fn text_at(value: &Value, pointer: &str) -> Option<String> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let parent = if parent.is_empty() {
        value
    } else {
        value.pointer(parent)?
    };
    text(parent, key)
}

/// Parses RFC 3339 or epoch seconds / milliseconds, as senders variously send them.
pub(crate) fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let n: i64 = raw.parse().ok()?;
    // Anything past the year 5138 in seconds is taken as milliseconds.
    if n > 100_000_000_000 {
        Utc.timestamp_millis_opt(n).single()
    } else {
        Utc.timestamp_opt(n, 0).single()
    }
}

/// A stable id derived from parts, for senders that send none of their own.
pub(crate) fn derived_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unresolved_template_variables_are_absent() {
        let v = json!({"a": "$ALERT_CYCLE_KEY", "b": " x ", "c": "", "d": 42, "e": "$5 off"});
        assert_eq!(text(&v, "a"), None);
        assert_eq!(text(&v, "b"), Some("x".into()));
        assert_eq!(text(&v, "c"), None);
        assert_eq!(text(&v, "d"), Some("42".into()));
        assert_eq!(text(&v, "e"), Some("$5 off".into()));
    }

    #[test]
    fn times_in_every_sender_format_parse() {
        let expected = Utc.with_ymd_and_hms(2024, 3, 5, 2, 11, 0).unwrap();
        assert_eq!(parse_time("2024-03-05T02:11:00Z"), Some(expected));
        assert_eq!(parse_time("1709604660"), Some(expected));
        assert_eq!(parse_time("1709604660000"), Some(expected));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn bodies_that_are_not_objects_are_named_as_malformed() {
        let delivery = Delivery {
            body: b"[1,2]",
            header_delivery_id: None,
            received_at: Utc::now(),
            keep_raw: false,
        };
        assert_eq!(
            parse(AlertSource::Datadog, &delivery),
            Err(IntakeError::Malformed(
                "datadog payload must be a JSON object".into()
            ))
        );
        let delivery = Delivery {
            body: b"{\"title\": ",
            ..delivery
        };
        assert!(matches!(
            parse(AlertSource::Datadog, &delivery),
            Err(IntakeError::InvalidJson(_))
        ));
    }
}
