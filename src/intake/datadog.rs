//! Datadog monitor webhooks, in the recommended template shipped in
//! `config/datadog-webhook-template.json`. Every value arrives as a string; unresolved
//! variables arrive literally and are treated as absent.

use serde_json::Value;

use super::{Delivery, IntakeError, derived_id, parse_time, text};
use crate::domain::{Alert, AlertSource, Tag, Transition};

pub(super) fn parse(
    value: &Value,
    raw: String,
    delivery: &Delivery<'_>,
) -> Result<Alert, IntakeError> {
    let title = text(value, "title")
        .or_else(|| text(value, "event_title"))
        .ok_or_else(|| IntakeError::Malformed("datadog payload has no `title`".into()))?;
    let monitor_id = text(value, "alert_id");
    let event_type = text(value, "transition").unwrap_or_else(|| "unknown".into());
    let transition = transition(&event_type);

    let scope = text(value, "scope");
    let mut tags: Vec<Tag> = text(value, "tags")
        .iter()
        .flat_map(|t| t.split(',').filter_map(Tag::parse).collect::<Vec<_>>())
        .collect();
    for tag in scope
        .iter()
        .flat_map(|s| s.split(',').filter_map(Tag::parse))
    {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if let Some(host) = text(value, "hostname")
        && !tags.iter().any(|t| t.key == "host")
    {
        tags.push(Tag::new("host", host));
    }

    // A monitor cycle (trigger → recovery) is the natural incident. Without the cycle key,
    // fall back to monitor + scope, so each group of a multi-alert monitor stays separate.
    let dedup_key = match (&monitor_id, text(value, "alert_cycle_key")) {
        (Some(id), Some(cycle)) => format!("datadog:{id}:{cycle}"),
        (Some(id), None) => format!("datadog:{id}:{}", scope.as_deref().unwrap_or("*")),
        (None, _) => format!(
            "datadog:title:{}",
            derived_id(&[&title, scope.as_deref().unwrap_or("")])
        ),
    };
    let delivery_id = text(value, "id").unwrap_or_else(|| derived_id(&[&raw]));
    let fired_at = text(value, "date")
        .or_else(|| text(value, "last_updated"))
        .and_then(|t| parse_time(&t))
        .unwrap_or(delivery.received_at);
    let service = tags
        .iter()
        .find(|t| t.key == "service" && !t.value.is_empty())
        .map(|t| t.value.clone());

    Ok(Alert {
        source: AlertSource::Datadog,
        delivery_id,
        dedup_key,
        transition,
        event_type,
        title,
        message: text(value, "message").or_else(|| text(value, "body")),
        priority: text(value, "priority"),
        service,
        tags,
        monitor_id,
        monitor_query: text(value, "query"),
        metric: text(value, "metric"),
        link: text(value, "link"),
        fired_at,
        raw,
    })
}

/// `$ALERT_TRANSITION` values as Datadog documents them. `Renotify` repeats a state already
/// reported, so it joins the incident without new work.
fn transition(event_type: &str) -> Transition {
    match event_type
        .to_ascii_lowercase()
        .replace(['-', '_'], " ")
        .as_str()
    {
        "triggered" => Transition::Triggered,
        "re triggered" => Transition::Retriggered,
        "warn" | "re warn" => Transition::Warn,
        "no data" | "re no data" => Transition::NoData,
        "recovered" => Transition::Recovered,
        _ => Transition::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_transition_maps() {
        for (raw, expected) in [
            ("Triggered", Transition::Triggered),
            ("Re-Triggered", Transition::Retriggered),
            ("Warn", Transition::Warn),
            ("Re-Warn", Transition::Warn),
            ("No Data", Transition::NoData),
            ("Re-No Data", Transition::NoData),
            ("Recovered", Transition::Recovered),
            ("Renotify", Transition::Other),
            ("Muted", Transition::Other),
        ] {
            assert_eq!(transition(raw), expected, "{raw}");
        }
    }
}
