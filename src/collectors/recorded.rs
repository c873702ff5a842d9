//! Recorded evidence: bundles captured earlier (`triaged collect --json`, or a scenario's
//! `evidence.json`) served back through the live pipeline for the alert whose onset they were
//! recorded at. For game days, training and the demo; off unless `collectors.recorded` lists
//! files or directories. The report names the file each bundle came from.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{CollectError, Collected, Collector, Registered};
use crate::catalog::Targets;
use crate::config::Settings;
use crate::domain::{EvidenceBundle, Window};

pub struct RecordedCollector {
    bundles: Vec<(PathBuf, EvidenceBundle)>,
}

impl RecordedCollector {
    /// `None` when nothing is configured (the collector is then not listed at all).
    pub fn register(settings: &Settings) -> Option<Registered> {
        if settings.collectors.recorded.is_empty() {
            return None;
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for path in &settings.collectors.recorded {
            if path.exists() {
                find_bundles(path, &mut files);
            } else {
                problems.push(format!("{}: not found", path.display()));
            }
        }
        let mut bundles = Vec::new();
        for file in files {
            match std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            {
                Ok(bundle) => bundles.push((file, bundle)),
                Err(error) => problems.push(format!("{}: {error}", file.display())),
            }
        }
        if bundles.is_empty() {
            return Some(Registered::NotConfigured {
                name: "recorded",
                reason: format!("no readable evidence bundle ({})", problems.join("; ")),
            });
        }
        for problem in problems {
            tracing::warn!(problem, "skipping a recorded evidence bundle");
        }
        Some(Registered::Ready(std::sync::Arc::new(Self { bundles })))
    }
}

/// `path` itself when it is a file, else every `evidence.json` below it.
fn find_bundles(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let mut files = Vec::new();
    crate::knowledge::collect_files(path, &mut files);
    out.extend(
        files
            .into_iter()
            .filter(|f| f.file_name().is_some_and(|n| n == "evidence.json")),
    );
}

#[async_trait]
impl Collector for RecordedCollector {
    fn name(&self) -> &'static str {
        "recorded"
    }

    async fn collect(
        &self,
        _targets: &Targets,
        window: &Window,
    ) -> Result<Collected, CollectError> {
        let Some((file, bundle)) = self
            .bundles
            .iter()
            .find(|(_, b)| b.window.onset == window.onset)
        else {
            return Err(CollectError(format!(
                "no recorded bundle has the onset {}",
                window.onset.to_rfc3339()
            )));
        };
        Ok(Collected {
            items: bundle.items.clone(),
            warnings: vec![format!("replayed from {}", file.display())],
        })
    }
}
