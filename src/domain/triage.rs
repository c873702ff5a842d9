//! The triage vocabulary: the closed sets every layer speaks — how bad, how sure, and which
//! kind of root cause. The analyst's output schema is generated from these types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Severity {
    SEV1,
    SEV2,
    SEV3,
    SEV4,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Confidence {
    #[serde(rename = "LOW")]
    Low,
    #[serde(rename = "MEDIUM")]
    Medium,
    #[serde(rename = "HIGH")]
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }
}

/// The fixed root-cause taxonomy, so evaluation needs no judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    DeployRegression,
    ConfigChange,
    ResourceSaturation,
    DependencyFailure,
    TrafficSpike,
    DdosOrAbuse,
    InfrastructureFailure,
    DataGrowth,
    ScheduledJob,
    Network,
    CertificateOrAuth,
    /// The alert is noise, flapped, or the fault had already recovered: nothing to fix.
    NoFault,
    Unknown,
}

impl Category {
    /// The category `as_str` names (`resource_saturation`), as stored in front matter.
    pub fn named(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.into())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeployRegression => "deploy_regression",
            Self::ConfigChange => "config_change",
            Self::ResourceSaturation => "resource_saturation",
            Self::DependencyFailure => "dependency_failure",
            Self::TrafficSpike => "traffic_spike",
            Self::DdosOrAbuse => "ddos_or_abuse",
            Self::InfrastructureFailure => "infrastructure_failure",
            Self::DataGrowth => "data_growth",
            Self::ScheduledJob => "scheduled_job",
            Self::Network => "network",
            Self::CertificateOrAuth => "certificate_or_auth",
            Self::NoFault => "no_fault",
            Self::Unknown => "unknown",
        }
    }
}
