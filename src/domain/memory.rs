//! What a remembered incident says when it is recalled: the `incidents` corpus's
//! confirmation levels, the recall statement and recurrence count. The records themselves are
//! written by the `memory` module.

use chrono::{DateTime, Utc};

use super::KnowledgeMatch;

/// The corpus remembered incidents are indexed as.
pub const CORPUS: &str = "incidents";

/// The window in which a recalled cause counts as recurring ("3rd time in 14 days").
pub const RECURRENCE_DAYS: i64 = 14;

/// How people judged the brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Everyone who answered said "Correct".
    Confirmed,
    /// Someone said "Wrong" and wrote the real cause.
    Corrected,
    /// Nobody confirmed it (no feedback, "Partly", or "Wrong" without a cause).
    Unconfirmed,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Corrected => "corrected",
            Self::Unconfirmed => "unconfirmed",
        }
    }

    /// How much a recalled record weighs as a signal.
    pub fn weight(self) -> f64 {
        match self {
            Self::Confirmed | Self::Corrected => 0.8,
            Self::Unconfirmed => 0.5,
        }
    }

    pub fn of(k: &KnowledgeMatch) -> Self {
        match k.meta["confirmation"].as_str() {
            Some("confirmed") => Self::Confirmed,
            Some("corrected") => Self::Corrected,
            _ => Self::Unconfirmed,
        }
    }
}

/// What a recalled corrected record says its brief had wrongly blamed: (category, entity).
pub fn blamed(k: &KnowledgeMatch) -> Option<(&str, &str)> {
    if Confirmation::of(k) != Confirmation::Corrected {
        return None;
    }
    let category = k.meta["blamed_category"]
        .as_str()
        .filter(|c| !c.is_empty())?;
    let entity = k.meta["blamed_entity"].as_str().filter(|e| !e.is_empty())?;
    Some((category, entity))
}

/// What a recalled record says, for a signal or a check: "Same symptoms as incident 3f2a… on
/// 2026-10-02, corrected cause: redis-sessions failover".
pub fn recall_statement(k: &KnowledgeMatch) -> String {
    let id = k.meta["id"].as_str().unwrap_or(&k.id);
    let short: String = id.chars().take(8).collect();
    let date = k.meta["date"].as_str().unwrap_or("an earlier date");
    let mut text = format!(
        "Same symptoms as incident {short}… on {date} (score {:.2}), {} cause: {}",
        k.score,
        Confirmation::of(k).as_str(),
        k.meta["root_cause"].as_str().unwrap_or("not recorded")
    );
    if let Some(resolution) = k.meta["resolution"].as_str().filter(|r| !r.is_empty()) {
        text.push_str(&format!("; resolved by: {resolution}"));
    }
    text
}

/// How many times the recalled cause has been seen within `days` before `now`, counting this
/// incident: the recalled records (confirmed or corrected) with the same category and entity.
pub fn recurrences(
    k: &KnowledgeMatch,
    knowledge: &[KnowledgeMatch],
    now: DateTime<Utc>,
    days: i64,
) -> usize {
    let same = |other: &KnowledgeMatch| {
        other.corpus == CORPUS
            && !other.id.contains('#')
            && Confirmation::of(other) != Confirmation::Unconfirmed
            && other.meta["category"] == k.meta["category"]
            && other.meta["entity"] == k.meta["entity"]
            && other.meta["opened_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| now.signed_duration_since(t).num_days() <= days)
    };
    1 + knowledge.iter().filter(|o| same(o)).count()
}

/// "3rd" for 3.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_read_naturally() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22].map(ordinal).to_vec();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"
            ]
        );
    }

    fn record(id: &str, confirmation: &str, entity: &str, days_ago: i64) -> KnowledgeMatch {
        let opened = Utc::now() - chrono::Duration::days(days_ago);
        KnowledgeMatch {
            id: format!("incident.{id}"),
            corpus: CORPUS.into(),
            title: id.into(),
            source: None,
            score: 0.9,
            updated_at: None,
            text: String::new(),
            snippet: String::new(),
            meta: serde_json::json!({
                "id": id, "date": opened.format("%Y-%m-%d").to_string(),
                "opened_at": opened.to_rfc3339(), "confirmation": confirmation,
                "category": "dependency_failure", "entity": entity,
                "root_cause": "redis-sessions failover", "resolution": "promoted the replica",
            }),
        }
    }

    #[test]
    fn a_recalled_cause_counts_its_recent_recurrences_and_says_how_it_was_judged() {
        let now = Utc::now();
        let recalled = record("3f2a9c01-aaaa", "corrected", "redis-sessions", 3);
        let knowledge = vec![
            recalled.clone(),
            record("11111111-bbbb", "confirmed", "redis-sessions", 9),
            // Too old, another culprit, or never confirmed: not a recurrence.
            record("22222222-cccc", "confirmed", "redis-sessions", 40),
            record("33333333-dddd", "confirmed", "prod-db", 2),
            record("44444444-eeee", "unconfirmed", "redis-sessions", 1),
        ];
        assert_eq!(recurrences(&recalled, &knowledge, now, RECURRENCE_DAYS), 3);
        let statement = recall_statement(&recalled);
        assert!(
            statement.starts_with("Same symptoms as incident 3f2a9c01…"),
            "{statement}"
        );
        assert!(statement.contains("corrected cause: redis-sessions failover"));
        assert!(statement.contains("resolved by: promoted the replica"));
        assert_eq!(Confirmation::of(&knowledge[4]).weight(), 0.5);
        assert_eq!(Confirmation::of(&recalled).weight(), 0.8);
    }
}
