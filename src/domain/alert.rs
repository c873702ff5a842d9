use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which sender delivered an alert. A closed set: each has its own parser and auth scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSource {
    Datadog,
    Pagerduty,
    Alertmanager,
}

impl AlertSource {
    pub const ALL: [AlertSource; 3] = [Self::Datadog, Self::Pagerduty, Self::Alertmanager];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datadog => "datadog",
            Self::Pagerduty => "pagerduty",
            Self::Alertmanager => "alertmanager",
        }
    }
}

impl fmt::Display for AlertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or_else(|| {
                format!("unknown alert source `{s}` (expected datadog, pagerduty or alertmanager)")
            })
    }
}

/// What the sender says happened to the alert, normalised across senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Triggered,
    Retriggered,
    Warn,
    NoData,
    Acknowledged,
    Recovered,
    Resolved,
    /// Anything else the sender emits (annotations, priority changes, renotifications,
    /// event types added after this was written). Stored, never rejected.
    Other,
}

impl Transition {
    pub const ALL: [Transition; 8] = [
        Self::Triggered,
        Self::Retriggered,
        Self::Warn,
        Self::NoData,
        Self::Acknowledged,
        Self::Recovered,
        Self::Resolved,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Retriggered => "retriggered",
            Self::Warn => "warn",
            Self::NoData => "no_data",
            Self::Acknowledged => "acknowledged",
            Self::Recovered => "recovered",
            Self::Resolved => "resolved",
            Self::Other => "other",
        }
    }

    /// The monitor is (still) in a bad state and someone should look.
    pub fn is_firing(self) -> bool {
        matches!(
            self,
            Self::Triggered | Self::Retriggered | Self::Warn | Self::NoData
        )
    }

    /// The condition is over: the incident can be closed.
    pub fn is_resolving(self) -> bool {
        matches!(self, Self::Recovered | Self::Resolved)
    }
}

impl FromStr for Transition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown transition `{s}`"))
    }
}

/// One `key:value` tag or label. Tags without a value (Datadog allows them) have an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Parses `key:value` (splitting on the first colon) or a bare `key`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        Some(match raw.split_once(':') {
            Some((key, value)) => Self::new(key.trim(), value.trim()),
            None => Self::new(raw, ""),
        })
    }
}

/// A normalised alert: everything past intake works on this, never on a sender's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub source: AlertSource,
    /// The sender's id for this delivery; a retry carries the same id and is stored once.
    pub delivery_id: String,
    /// Alerts with the same key inside an open incident join that incident.
    pub dedup_key: String,
    pub transition: Transition,
    /// The sender's own name for the event (`incident.triggered`, `Re-Triggered`, `firing`).
    pub event_type: String,
    pub title: String,
    pub message: Option<String>,
    pub priority: Option<String>,
    pub service: Option<String>,
    pub tags: Vec<Tag>,
    pub monitor_id: Option<String>,
    pub monitor_query: Option<String>,
    pub metric: Option<String>,
    pub link: Option<String>,
    pub fired_at: DateTime<Utc>,
    /// The delivery body exactly as received.
    pub raw: String,
}

impl Alert {
    /// The alert an incident is about now: its newest firing alert, else its newest.
    pub fn current(alerts: &[Alert]) -> Option<&Alert> {
        alerts
            .iter()
            .rev()
            .find(|a| a.transition.is_firing())
            .or(alerts.last())
    }

    /// The first value of a tag, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|tag| tag.key == key)
            .map(|tag| tag.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_the_first_colon_and_allow_bare_keys() {
        assert_eq!(
            Tag::parse(" url:https://x:1 "),
            Some(Tag::new("url", "https://x:1"))
        );
        assert_eq!(Tag::parse("canary"), Some(Tag::new("canary", "")));
        assert_eq!(Tag::parse("  "), None);
    }

    #[test]
    fn transitions_round_trip_through_their_names() {
        for t in Transition::ALL {
            assert_eq!(t.as_str().parse::<Transition>(), Ok(t));
        }
        assert!(Transition::Warn.is_firing());
        assert!(Transition::Recovered.is_resolving());
        assert!(!Transition::Other.is_firing() && !Transition::Other.is_resolving());
    }
}
