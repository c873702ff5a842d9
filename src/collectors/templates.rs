//! Log templates: one message with a request id, a trace id, a number, an address or a quoted
//! value in it is one template, not hundreds of one-line groups. Used by every collector that
//! reads logs (Datadog log search, Kubernetes container logs).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

/// The message's first line with its variable parts masked: UUIDs, IP addresses (and ports),
/// quoted values, durations, hex, `key=value` values and `…id: value` ids, tokens mixing
/// letters and digits, numbers.
pub fn template(message: &str) -> String {
    static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                "<uuid>",
            ),
            (r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b", "<ip>"),
            (r#""[^"]*""#, "\"<str>\""),
            (r"'[^']*'", "'<str>'"),
            (r"\b\d+(\.\d+)?(ns|us|µs|ms|s|m|h)\b", "<dur>"),
            (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
            (r"\b[0-9a-fA-F]{8,}\b", "<hex>"),
            (r"\b([A-Za-z_][A-Za-z0-9_.-]*)=[^\s,;)]+", "$1=<v>"),
            (
                r"(?i)\b([a-z_]*(id|trace|span|request|session|token)):\s*[^\s,;)]+",
                "$1: <id>",
            ),
            (
                r"\b[A-Za-z_-]*\d[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*\b",
                "<id>",
            ),
            (
                r"\b[A-Za-z_-]*[A-Za-z][A-Za-z_-]*\d[A-Za-z0-9_-]*\b",
                "<id>",
            ),
            (r"\d+(\.\d+)?", "<n>"),
        ]
        .into_iter()
        .map(|(pattern, mask)| (Regex::new(pattern).expect("valid mask"), mask))
        .collect()
    });
    let mut line = message.lines().next().unwrap_or("").trim().to_string();
    for (regex, mask) in MASKS.iter() {
        line = regex.replace_all(&line, *mask).into_owned();
    }
    line.chars().take(200).collect()
}

/// Messages of one template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateGroup {
    pub template: String,
    pub count: usize,
    pub after_onset: usize,
    /// The latest message of the template, as logged.
    pub example: String,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Groups messages (newest first, each with its time) by template, largest group first.
pub fn group<'a>(
    messages: impl IntoIterator<Item = (&'a str, Option<DateTime<Utc>>)>,
    onset: Option<DateTime<Utc>>,
) -> Vec<TemplateGroup> {
    let mut groups: BTreeMap<String, TemplateGroup> = BTreeMap::new();
    for (message, at) in messages {
        let message = message.trim();
        if message.is_empty() {
            continue;
        }
        let key = template(message);
        let group = groups.entry(key.clone()).or_insert_with(|| TemplateGroup {
            template: key,
            count: 0,
            after_onset: 0,
            example: message.chars().take(300).collect(),
            last_seen: at,
        });
        group.count += 1;
        group.after_onset += usize::from(matches!((at, onset), (Some(t), Some(o)) if t >= o));
    }
    let mut ranked: Vec<TemplateGroup> = groups.into_values().collect();
    ranked.sort_by(|a, b| b.count.cmp(&a.count).then(a.template.cmp(&b.template)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_with_ids_is_one_template() {
        let messages = [
            "carrier POST /v2/labels failed: context deadline exceeded req_id=Zk3Qp9 carrier=DHX",
            "carrier POST /v2/labels failed: context deadline exceeded req_id=Rw7Tn2 carrier=NPX",
            "carrier POST /v2/labels failed: context deadline exceeded req_id=a81f99 carrier=DHX",
        ];
        let groups = group(messages.iter().map(|m| (*m, None)), None);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].count, 3);
        assert_eq!(groups[0].example, messages[0]);
    }

    #[test]
    fn variable_parts_are_masked() {
        assert_eq!(
            template(
                "lookup db.internal on 10.0.0.10:53: read udp 10.1.2.3:41234->10.0.0.10:53: i/o timeout"
            ),
            "lookup db.internal on <ip>: read udp <ip>-><ip>: i/o timeout"
        );
        assert_eq!(
            template("timeout after 5000ms acquiring connection 17 for user 'alice'"),
            template("timeout after 300ms acquiring connection 4 for user 'bob'")
        );
        assert_eq!(
            template("trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 failed"),
            "trace_id=<v> span <hex> failed"
        );
        assert_eq!(
            template("order 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b not found"),
            "order <uuid> not found"
        );
        // Words stay words: the template still says what failed.
        assert_eq!(
            template("payment declined: insufficient funds"),
            "payment declined: insufficient funds"
        );
    }
}
