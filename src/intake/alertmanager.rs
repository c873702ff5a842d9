//! Prometheus Alertmanager webhook receiver, payload version 4: one POST per notification of
//! an alert group, carrying every alert of the group.

use serde_json::Value;

use super::{Delivery, IntakeError, derived_id, parse_time, text};
use crate::domain::{Alert, AlertSource, Tag, Transition};

pub(super) fn parse(
    value: &Value,
    raw: String,
    delivery: &Delivery<'_>,
) -> Result<Vec<Alert>, IntakeError> {
    if value.get("alerts").is_none()
        && let Some(grouped) = common_only(value)
    {
        return parse(&grouped, raw, delivery);
    }
    let group_key = text(value, "groupKey")
        .ok_or_else(|| IntakeError::Malformed("alertmanager payload has no `groupKey`".into()))?;
    let alerts = value
        .get("alerts")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| IntakeError::Malformed("alertmanager payload has no `alerts`".into()))?;
    let common_annotations = value.get("commonAnnotations");

    alerts
        .iter()
        .enumerate()
        .map(|(index, alert)| {
            let labels = alert
                .get("labels")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    IntakeError::Malformed(format!("alertmanager alert {index} has no `labels`"))
                })?;
            let label = |key: &str| labels.get(key).and_then(Value::as_str).map(str::to_string);
            let annotation = |key: &str| {
                alert
                    .get("annotations")
                    .and_then(|a| text(a, key))
                    .or_else(|| common_annotations.and_then(|a| text(a, key)))
            };
            let status = text(alert, "status").unwrap_or_else(|| "firing".into());
            let starts_at = text(alert, "startsAt").unwrap_or_default();
            let fingerprint = text(alert, "fingerprint").unwrap_or_else(|| {
                let mut pairs: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                pairs.sort();
                derived_id(&[&pairs.join(",")])
            });

            let mut tags: Vec<Tag> = labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| Tag::new(k.clone(), v)))
                .collect();
            if let Some(annotations) = alert.get("annotations").and_then(Value::as_object) {
                tags.extend(annotations.iter().filter_map(|(k, v)| {
                    v.as_str().map(|v| Tag::new(format!("annotation.{k}"), v))
                }));
            }

            let alertname = label("alertname").unwrap_or_else(|| "alert".into());
            Ok(Alert {
                source: AlertSource::Alertmanager,
                delivery_id: derived_id(&[&group_key, &fingerprint, &status, &starts_at]),
                dedup_key: format!("alertmanager:{group_key}"),
                transition: match status.as_str() {
                    "firing" => Transition::Triggered,
                    "resolved" => Transition::Recovered,
                    _ => Transition::Other,
                },
                event_type: status,
                title: annotation("summary").unwrap_or_else(|| alertname.clone()),
                message: annotation("description"),
                priority: label("severity").or_else(|| label("priority")),
                service: label("service").or_else(|| label("job")),
                tags,
                monitor_id: Some(alertname),
                monitor_query: None,
                metric: None,
                link: text(alert, "generatorURL").or_else(|| text(value, "externalURL")),
                fired_at: parse_time(&starts_at).unwrap_or(delivery.received_at),
                raw: raw.clone(),
            })
        })
        .collect()
}

/// A Grafana-style notification that carries only the group's common labels and annotations
/// (`title`, `state`, `commonLabels`, `commonAnnotations`), read as a group of one alert.
fn common_only(value: &Value) -> Option<Value> {
    let labels = value.get("commonLabels")?.as_object()?;
    let mut annotations = value
        .get("commonAnnotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(title) = text(value, "title") {
        annotations.insert("summary".into(), Value::String(title));
    }
    let status = match text(value, "state")
        .or_else(|| text(value, "status"))
        .as_deref()
    {
        Some("ok" | "normal" | "resolved") => "resolved",
        _ => "firing",
    };
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    let group_key = text(value, "groupKey").unwrap_or_else(|| derived_id(&[&pairs.join(",")]));
    let mut alert =
        serde_json::json!({"labels": labels, "annotations": annotations, "status": status});
    for key in ["startsAt", "fingerprint", "generatorURL"] {
        if let Some(v) = value.get(key) {
            alert[key] = v.clone();
        }
    }
    Some(
        serde_json::json!({"groupKey": group_key, "alerts": [alert], "externalURL": value.get("externalURL")}),
    )
}
