//! Redaction of secrets and personal data in untrusted text (log lines, event messages, alert
//! text). Applied to every collected string before it is stored, prompted or posted.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Each rule: what it finds and what replaces it. Order matters: private keys and URLs
/// first, so later rules do not cut them in half.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let rule = |pattern: &str, replacement: &'static str| {
        (
            Regex::new(pattern).expect("redaction patterns are valid"),
            replacement,
        )
    };
    vec![
        rule(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
            "[REDACTED PRIVATE KEY]",
        ),
        // user:password@ in any URL.
        rule(
            r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@",
            "$1:[REDACTED]@",
        ),
        rule(
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
            "[REDACTED JWT]",
        ),
        rule(
            r"(?i)\b(bearer|token)\s+[A-Za-z0-9\-._~+/]{12,}=*",
            "$1 [REDACTED]",
        ),
        rule(
            r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b",
            "[REDACTED AWS KEY]",
        ),
        rule(
            r#"(?i)\b(aws_secret_access_key|secret_access_key|password|passwd|pwd|secret|api[_-]?key|access[_-]?token|client[_-]?secret)(\s*[=:]\s*|"\s*:\s*")[^\s,;&"']+"#,
            "$1$2[REDACTED]",
        ),
        rule(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", "[REDACTED TOKEN]"),
        rule(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", "[REDACTED TOKEN]"),
        rule(r"\bsk-[A-Za-z0-9_-]{20,}\b", "[REDACTED TOKEN]"),
        rule(
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
            "[REDACTED EMAIL]",
        ),
    ]
});

/// Returns `text` with every secret and email replaced; borrows when there is nothing to do.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for (pattern, replacement) in RULES.iter() {
        if pattern.is_match(&out) {
            out = Cow::Owned(pattern.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}

/// Redacts every string inside a JSON value, keys included.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = redact(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                redact_value(&mut item);
                map.insert(redact(&key).into_owned(), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_secrets_are_removed() {
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
            ),
            (
                "Authorization: Bearer abcdefghijklmnop1234",
                "abcdefghijklmnop1234",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "eyJhbGci",
            ),
            ("dsn postgres://app:hunter2@db.internal:5432/app", "hunter2"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "MIIEow",
            ),
            (
                "user jane.doe@example.com failed login",
                "jane.doe@example.com",
            ),
            (r#"{"password": "s3cr3t!"}"#, "s3cr3t!"),
            ("password=s3cr3t& next", "s3cr3t"),
        ];
        for (text, secret) in cases {
            let clean = redact(text);
            assert!(!clean.contains(secret), "{text} → {clean}");
            assert!(clean.contains("[REDACTED"), "{clean}");
        }
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        let text = "connection pool exhausted: 100/100 in use, waited 5000 ms";
        assert!(matches!(redact(text), Cow::Borrowed(_)));
        let url = "https://app.datadoghq.com/monitors/1";
        assert_eq!(redact(url), url);
    }

    #[test]
    fn json_values_are_redacted_deeply() {
        let mut value =
            serde_json::json!({"logs": [{"line": "token AKIAIOSFODNN7EXAMPLE"}], "n": 3});
        redact_value(&mut value);
        assert!(!value.to_string().contains("AKIA"));
        assert_eq!(value["n"], 3);
    }
}
