//! The scenario format (documented in `tests/scenarios/README.md`): one directory per
//! scenario with `scenario.toml`, the alert payload as its sender posts it, `evidence.json`
//! (an evidence bundle snapshot), optional `knowledge/` and optional `llm_response.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::Category;
use crate::domain::{AlertSource, EvidenceBundle};

/// `scenario.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub description: String,
    /// The sender: `datadog`, `pagerduty` or `alertmanager`.
    pub source: AlertSource,
    /// The payload file, relative to the scenario directory.
    #[serde(default = "default_alert_file")]
    pub alert: String,
    /// Exported from the store and not yet confirmed by a person: listed, never scored.
    #[serde(default)]
    pub needs_review: bool,
    pub expected: Expected,
}

fn default_alert_file() -> String {
    "alert.json".into()
}

/// What a right brief says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The root-cause category; a list where two are defensible (a database out of storage is
    /// data growth or resource saturation).
    pub category: Categories,
    /// The entity at fault; several spellings may be accepted.
    pub entity: OneOrMany,
    /// Evidence ids a good brief cites.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Knowledge chunk ids that should be retrieved (top-k per corpus).
    #[serde(default)]
    pub knowledge: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn all(&self) -> Vec<&str> {
        match self {
            Self::One(one) => vec![one.as_str()],
            Self::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }

    /// Any accepted spelling, compared in the canonical entity grammar
    /// ([`crate::domain::entity`]): `paygate`, `service/paygate` and ` Service/PayGate ` are one.
    pub fn matches(&self, entity: &str) -> bool {
        self.all()
            .iter()
            .any(|e| crate::domain::entity::same(e, entity))
    }
}

/// One category, or every category accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Categories {
    One(Category),
    Many(Vec<Category>),
}

impl Categories {
    pub fn all(&self) -> Vec<Category> {
        match self {
            Self::One(one) => vec![*one],
            Self::Many(many) => many.clone(),
        }
    }

    pub fn matches(&self, category: Category) -> bool {
        self.all().contains(&category)
    }

    /// `data_growth|resource_saturation`.
    pub fn label(&self) -> String {
        self.all()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// One scenario read from disk.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
    pub file: ScenarioFile,
    pub payload: Vec<u8>,
    /// The snapshot's targets are kept when it has them; otherwise they are resolved from
    /// the alert as the live pipeline does (`pipeline::stages::complete_targets`).
    pub evidence: EvidenceBundle,
    /// The canned `submit_triage` arguments, if the scenario has them.
    pub llm_response: Option<serde_json::Value>,
}

impl Scenario {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        let read =
            |file: &str| std::fs::read(dir.join(file)).map_err(|e| format!("{name}/{file}: {e}"));
        let toml = String::from_utf8(read("scenario.toml")?)
            .map_err(|e| format!("{name}/scenario.toml: {e}"))?;
        let file: ScenarioFile =
            toml::from_str(&toml).map_err(|e| format!("{name}/scenario.toml: {e}"))?;
        let payload = read(&file.alert)?;
        let evidence_json: serde_json::Value = serde_json::from_slice(&read("evidence.json")?)
            .map_err(|e| format!("{name}/evidence.json: {e}"))?;
        let evidence: EvidenceBundle = serde_json::from_value(evidence_json)
            .map_err(|e| format!("{name}/evidence.json is not an evidence bundle: {e}"))?;
        let llm_response = match std::fs::read(dir.join("llm_response.json")) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{name}/llm_response.json: {e}"))?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            file,
            payload,
            evidence,
            llm_response,
        })
    }

    /// The scenario's own knowledge directory, if it has one.
    pub fn knowledge_dir(&self) -> Option<PathBuf> {
        let dir = self.dir.join("knowledge");
        dir.is_dir().then_some(dir)
    }
}

/// Every scenario under `root` (directories holding a `scenario.toml`), sorted by name.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}
