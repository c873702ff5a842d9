//! What intake stores is safe to store, show and send: every text field of an alert is
//! redacted with the same rules as the evidence (secrets and personal data out before anything
//! is stored, logged, shown or posted), NUL characters are replaced (PostgreSQL text cannot hold
//! them, SQLite can: both stores must accept the same input), and identifiers too long for a
//! unique index are replaced by a digest of themselves, so grouping and idempotency still hold.

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::Alert;
use crate::redact::{redact, redact_value};

/// Identifiers longer than this (bytes) are stored as `sha256:<hex>` of themselves: a btree
/// index row in PostgreSQL holds about 2.7 KB, and no sender's id comes near this.
pub const MAX_ID_BYTES: usize = 256;

/// Text fields longer than this (bytes) are cut, on a character boundary, with a marker.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// What replaces a NUL character.
const NUL_REPLACEMENT: char = '\u{FFFD}';

/// Cleans one alert's fields as it leaves the parser (its body is [`stored_body`]).
pub fn sanitize(alert: &mut Alert) {
    alert.delivery_id = identifier(&alert.delivery_id);
    alert.dedup_key = identifier(&alert.dedup_key);
    alert.monitor_id = alert.monitor_id.as_deref().map(identifier);
    alert.event_type = text(&alert.event_type);
    alert.title = text(&alert.title);
    for field in [
        &mut alert.message,
        &mut alert.priority,
        &mut alert.service,
        &mut alert.monitor_query,
        &mut alert.metric,
        &mut alert.link,
    ] {
        if let Some(value) = field.as_deref() {
            *field = Some(text(value));
        }
    }
    for tag in &mut alert.tags {
        tag.key = text(&tag.key);
        tag.value = text(&tag.value);
    }
}

/// The body as stored: exactly as received with `keep_raw` (`intake.keep_raw`; NULs escaped,
/// since PostgreSQL text cannot hold them), otherwise the parsed JSON with every string
/// redacted and NUL-free.
pub fn stored_body(value: &Value, body: &[u8], keep_raw: bool) -> String {
    if keep_raw {
        return String::from_utf8_lossy(body).replace('\0', "\\u0000");
    }
    let mut value = value.clone();
    redact_value(&mut value);
    strip_nul(&mut value);
    serde_json::to_string(&value).unwrap_or_default()
}

/// A stored text field: redacted, NULs replaced, cut to [`MAX_TEXT_BYTES`].
pub fn text(value: &str) -> String {
    let clean = without_nul(redact(value));
    if clean.len() <= MAX_TEXT_BYTES {
        return clean.into_owned();
    }
    let mut end = MAX_TEXT_BYTES;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut at {MAX_TEXT_BYTES} bytes]", &clean[..end])
}

/// A stored identifier: redacted and NUL-free; replaced by its digest when too long to index.
pub fn identifier(value: &str) -> String {
    let clean = without_nul(redact(value));
    if clean.len() <= MAX_ID_BYTES {
        return clean.into_owned();
    }
    format!("sha256:{}", hex::encode(Sha256::digest(clean.as_bytes())))
}

fn without_nul(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', &NUL_REPLACEMENT.to_string()))
    } else {
        value
    }
}

fn strip_nul(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', &NUL_REPLACEMENT.to_string()),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                strip_nul(&mut item);
                map.insert(key.replace('\0', &NUL_REPLACEMENT.to_string()), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_text_fields_are_redacted_at_the_door() {
        let title = text("db down: postgres://app:hunter2@db:5432 key AKIAABCDEFGHIJKLMNOP");
        assert!(
            !title.contains("hunter2") && !title.contains("AKIAABCDEFGHIJKLMNOP"),
            "{title}"
        );
        assert!(title.contains("[REDACTED"), "{title}");
    }

    #[test]
    fn nul_characters_are_replaced_everywhere() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(identifier("k\0"), "k\u{FFFD}");
        let body = b"{\"t\":\"x\\u0000y\"}";
        let value: Value = serde_json::from_slice(body).unwrap();
        assert!(!stored_body(&value, body, false).contains("\\u0000"));
    }

    #[test]
    fn long_identifiers_become_a_stable_digest() {
        let long = "k".repeat(5000);
        let id = identifier(&long);
        assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
        assert_eq!(id, identifier(&long), "the same key groups the same way");
        assert_eq!(identifier("short"), "short");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let cut = text(&long);
        assert!(cut.len() < MAX_TEXT_BYTES + 40, "{}", cut.len());
        assert!(cut.ends_with("bytes]"));
    }
}
