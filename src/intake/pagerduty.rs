//! PagerDuty V3 webhook subscriptions: one event per POST,
//! `{"event":{id, event_type, resource_type, occurred_at, agent, client, data}}`.

use serde_json::Value;

use super::{Delivery, IntakeError, parse_time, text, text_at};
use crate::domain::{Alert, AlertSource, Tag, Transition};

pub(super) fn parse(
    value: &Value,
    raw: String,
    delivery: &Delivery<'_>,
) -> Result<Alert, IntakeError> {
    let event = value
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| IntakeError::Malformed("pagerduty payload has no `event` object".into()))?;
    let event_type = text(event, "event_type")
        .ok_or_else(|| IntakeError::Malformed("pagerduty event has no `event_type`".into()))?;
    let event_id = text(event, "id");
    let delivery_id = delivery
        .header_delivery_id
        .map(str::to_string)
        .or_else(|| event_id.clone())
        .ok_or_else(|| {
            IntakeError::Malformed("pagerduty event has no `id` and no X-Webhook-Id header".into())
        })?;
    let resource_type = text(event, "resource_type").unwrap_or_else(|| "unknown".into());
    let data = event.get("data").cloned().unwrap_or(Value::Null);
    let resource_id = text(&data, "id");

    // Incident events group by PagerDuty incident id; other resources by their own id.
    let dedup_key = match (&resource_id, resource_type.as_str()) {
        (Some(id), "incident") => format!("pagerduty:{id}"),
        (Some(id), other) => format!("pagerduty:{other}:{id}"),
        (None, other) => format!(
            "pagerduty:{other}:{}",
            event_id.as_deref().unwrap_or(&delivery_id)
        ),
    };

    let service = text_at(&data, "/service/summary");
    let priority = text_at(&data, "/priority/summary").or_else(|| text(&data, "urgency"));
    let mut tags = Vec::new();
    let mut push = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            tags.push(Tag::new(key, v));
        }
    };
    push("service", service.clone());
    push("pagerduty_service_id", text_at(&data, "/service/id"));
    push("priority", text_at(&data, "/priority/summary"));
    push("urgency", text(&data, "urgency"));
    push(
        "escalation_policy",
        text_at(&data, "/escalation_policy/summary"),
    );
    push("incident_number", text(&data, "number"));
    push("incident_key", text(&data, "incident_key"));
    for team in data
        .get("teams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push("team", text(team, "summary"));
    }

    let fired_at = text(&data, "created_at")
        .or_else(|| text(event, "occurred_at"))
        .and_then(|t| parse_time(&t))
        .unwrap_or(delivery.received_at);

    Ok(Alert {
        source: AlertSource::Pagerduty,
        delivery_id,
        dedup_key,
        transition: transition(&event_type),
        title: text(&data, "title")
            .or_else(|| text(&data, "summary"))
            .unwrap_or_else(|| event_type.clone()),
        event_type,
        message: text_at(&data, "/body/details").or_else(|| text(&data, "description")),
        priority,
        service,
        tags,
        monitor_id: resource_id,
        monitor_query: None,
        metric: None,
        link: text(&data, "html_url"),
        fired_at,
        raw,
    })
}

/// Incident event types as PagerDuty documents them. Anything else (annotated,
/// priority_updated, responder events, types added later) is stored as `Other`.
fn transition(event_type: &str) -> Transition {
    match event_type {
        "incident.triggered" => Transition::Triggered,
        "incident.reopened" => Transition::Retriggered,
        "incident.acknowledged" => Transition::Acknowledged,
        "incident.resolved" => Transition::Resolved,
        _ => Transition::Other,
    }
}
