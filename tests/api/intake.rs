//! Parsing of captured sender payloads into normalised alerts.

use chrono::Utc;
use triaged::domain::{AlertSource, Transition};
use triaged::intake::{Delivery, parse};

use crate::helpers::fixture;

fn parse_fixture(
    source: AlertSource,
    name: &str,
    header_id: Option<&str>,
) -> Vec<triaged::domain::Alert> {
    let body = fixture(name);
    parse(
        source,
        &Delivery {
            body: body.as_bytes(),
            header_delivery_id: header_id,
            received_at: Utc::now(),
            keep_raw: true,
        },
    )
    .expect("fixture parses")
}

#[test]
fn pagerduty_incidents_carry_service_priority_urgency_and_teams() {
    let alert = &parse_fixture(
        AlertSource::Pagerduty,
        "pagerduty_incident_triggered.json",
        None,
    )[0];
    assert_eq!(
        alert.delivery_id, "01DVUHO7TEFQ3XSA9JB8OCLNN6",
        "falls back to the event id"
    );
    assert_eq!(alert.transition, Transition::Triggered);
    assert_eq!(alert.priority.as_deref(), Some("P1"));
    assert_eq!(alert.tag("urgency"), Some("high"));
    assert_eq!(alert.tag("team"), Some("Payments"));
    assert_eq!(
        alert.link.as_deref(),
        Some("https://acme.pagerduty.com/incidents/Q2F7NOV3Y6PJ0A")
    );
    assert_eq!(alert.fired_at.to_rfc3339(), "2026-11-21T02:11:30+00:00");
}

#[test]
fn datadog_tags_and_scope_become_tags_and_the_query_is_kept() {
    let alert = &parse_fixture(AlertSource::Datadog, "datadog_triggered.json", None)[0];
    assert_eq!(
        alert.tag("dbinstanceidentifier"),
        Some("prod-postgres-primary")
    );
    assert_eq!(alert.tag("team"), Some("payments"));
    assert_eq!(alert.tag("host"), None, "unresolved $HOSTNAME is absent");
    assert_eq!(alert.metric.as_deref(), Some("aws.rds.cpuutilization"));
    assert!(
        alert
            .monitor_query
            .as_deref()
            .unwrap()
            .contains("avg:aws.rds.cpuutilization")
    );
    assert_eq!(alert.priority.as_deref(), Some("P1"));
    assert_eq!(alert.monitor_id.as_deref(), Some("88123401"));
}

#[test]
fn alertmanager_alerts_keep_labels_and_annotations_and_have_distinct_delivery_ids() {
    let alerts = parse_fixture(AlertSource::Alertmanager, "alertmanager_group.json", None);
    assert_eq!(alerts.len(), 2);
    assert_ne!(alerts[0].delivery_id, alerts[1].delivery_id);
    assert_eq!(alerts[0].dedup_key, alerts[1].dedup_key);
    assert_eq!(alerts[0].tag("namespace"), Some("production"));
    assert_eq!(alerts[0].tag("deployment"), Some("game-api"));
    assert_eq!(
        alerts[0].tag("annotation.runbook_url"),
        Some("https://runbooks.example.com/KubePodCrashLooping")
    );
    assert_eq!(alerts[0].service.as_deref(), Some("game-api"));
    assert!(
        alerts[0]
            .message
            .as_deref()
            .unwrap()
            .contains("restarting 2.5 times")
    );
}
