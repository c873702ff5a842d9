//! The metric catalogue (`schema` corpus): one chunk per metric with what it means, its normal
//! range and the service that owns it, so a query about "replica lag" also finds the metric
//! name to look at and what "too high" means. YAML, JSON or TOML:
//!
//! ```yaml
//! metrics:
//!   - name: aws.rds.replica_lag
//!     meaning: Seconds a read replica is behind its primary.
//!     unit: seconds
//!     normal: below 1 s; above 30 s reads are stale
//!     service: player-profile
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::chunk::{Chunk, hash};

#[derive(Debug, Deserialize)]
struct Catalogue {
    metrics: Vec<Metric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metric {
    name: String,
    meaning: String,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    normal: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

pub fn chunks(path: &Path, text: &str) -> Result<Vec<Chunk>, String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let catalogue: Catalogue = match extension {
        "json" => serde_json::from_str(text).map_err(|e| e.to_string())?,
        "toml" => toml::from_str(text).map_err(|e| e.to_string())?,
        _ => serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?,
    };
    let mut out = Vec::new();
    for metric in catalogue.metrics {
        let line = text
            .lines()
            .position(|l| l.contains(&metric.name))
            .map_or(1, |i| i + 1);
        let mut body = format!(
            "{}\n{}\n{}",
            metric.name,
            metric.name.replace(['.', '_'], " "),
            metric.meaning
        );
        if let Some(unit) = &metric.unit {
            body.push_str(&format!("\nunit: {unit}"));
        }
        if let Some(normal) = &metric.normal {
            body.push_str(&format!("\nnormal: {normal}"));
        }
        if let Some(service) = &metric.service {
            body.push_str(&format!("\nowned by: {service}"));
        }
        if !metric.tags.is_empty() {
            body.push_str(&format!("\ntags: {}", metric.tags.join(", ")));
        }
        let title = format!("metric {}", metric.name);
        out.push(Chunk {
            hash: hash(&format!("{title}\n{body}")),
            id: format!("schema.{}", metric.name),
            corpus: "schema".into(),
            title,
            source: path.display().to_string(),
            section: vec![metric.name.clone()],
            line,
            text: body,
            meta: json!({
                "metric": metric.name, "unit": metric.unit, "normal": metric.normal,
                "service": metric.service, "source": metric.source,
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_per_metric_with_meaning_range_and_owner() {
        let text = "metrics:\n  - name: aws.rds.replica_lag\n    meaning: Seconds a replica is behind.\n    unit: seconds\n    normal: below 1 s\n    service: player-profile\n  - name: kafka.consumer_lag\n    meaning: Messages not yet consumed.\n";
        let chunks = chunks(Path::new("metrics.yaml"), text).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].id, "schema.aws.rds.replica_lag");
        assert!(chunks[0].text.contains("normal: below 1 s"));
        assert_eq!(chunks[0].meta["service"], "player-profile");
        assert_eq!(chunks[1].line, 7);
        assert!(super::chunks(Path::new("m.yaml"), "metrics: 3").is_err());
    }
}
