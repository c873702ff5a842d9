//! Incident memory through a running daemon: an incident that resolves with "Wrong" feedback
//! naming the real cause is remembered with that cause, and the next similar incident on the
//! same service recalls it and cites it.

use std::time::Duration;

use serde_json::{Value, json};
use triaged::analysis::Brief;

use crate::helpers::*;

const SIGNING_SECRET: &str = "slack-signing-secret";

/// Posts the sample Datadog alert for `cycle` with `transition`; the incident once every job
/// is done.
async fn alert(app: &TestApp, delivery: &str, cycle: &str, transition: &str) -> String {
    let mut payload: Value = serde_json::from_str(&fixture("datadog_triggered.json")).unwrap();
    payload["id"] = json!(delivery);
    payload["alert_cycle_key"] = json!(cycle);
    payload["transition"] = json!(transition);
    let response = app.post_datadog(&payload.to_string()).await;
    app.settle(response).await.0
}

#[tokio::test]
async fn a_corrected_incident_is_recalled_with_the_corrected_cause_by_the_next_one() {
    let mut secrets = test_secrets();
    secrets.slack_signing_secret = Some(SIGNING_SECRET.to_string().into());
    let app = spawn_app_with_pipeline(
        move |s| {
            sample_knowledge(s);
            s.slack.public_url = "https://triaged.example.com".into();
        },
        secrets,
    )
    .await;

    let first = alert(&app, "d-1", "cycle-a", "Triggered").await;
    let wrong = json!({
        "type": "view_submission",
        "user": {"id": "U2"},
        "view": {"callback_id": "feedback_wrong", "private_metadata": first,
                 "state": {"values": {"real_cause": {"value": {"type": "plain_text_input",
                    "value": "redis-sessions failover: the cache primary was replaced; promoting the replica fixed it"}}}}}
    });
    assert_eq!(
        interact(&app, &wrong, SIGNING_SECRET, 0).await.status(),
        200
    );
    alert(&app, "d-2", "cycle-a", "Recovered").await;
    let record = app.dir.path().join(format!("memory/{first}.md"));
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&record).unwrap_or_default();
        if text.contains("confirmation: corrected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("redis-sessions failover") && text.contains("confirmation: corrected"),
        "remembered with the corrected cause: {text}"
    );
    // The wrong brief stated no cause (nothing answered here), so the record blames none.
    let detail = app.incident(&first).await;
    let wrong_brief = Brief::from_stored(&first, detail.brief.clone().unwrap()).unwrap();
    assert_eq!(
        wrong_brief.triage.root_cause.category,
        triaged::domain::Category::Unknown
    );
    assert!(text.contains("blamed_category: null"), "{text}");

    // The same alert in a new cycle: a new incident on the same service.
    let second = alert(&app, "d-3", "cycle-b", "Triggered").await;
    assert_ne!(second, first);
    let detail = app.incident(&second).await;
    let remembered = format!("incident.{first}");
    assert!(
        detail.knowledge.iter().any(|k| k.id == remembered),
        "retrieval found the remembered incident: {:#?}",
        detail
            .knowledge
            .iter()
            .map(|k| (&k.id, k.score))
            .collect::<Vec<_>>()
    );
    let brief = Brief::from_stored(&second, detail.brief.clone().unwrap()).unwrap();
    let recall = brief
        .signals
        .iter()
        .find(|s| s.knowledge_ids.contains(&remembered))
        .unwrap_or_else(|| {
            panic!(
                "no signal cites the remembered incident: {:#?}",
                brief.signals
            )
        });
    assert!(
        recall
            .statement
            .contains("corrected cause: redis-sessions failover"),
        "{}",
        recall.statement
    );
    let page = app
        .client
        .get(format!("{}/incidents/{second}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"/incidents/{first}\"")),
        "the page links the remembered incident"
    );
    assert!(page.contains("corrected cause: redis-sessions failover"));
}
