use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AlertSource, EvidenceBundle, KnowledgeMatch, Transition, UnixMillis};

/// Defines a closed string-backed enum with `as_str`, `ALL` and `FromStr`, so the names
/// stored in the database and shown in the API are written exactly once.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", stringify!($name), " `{}`"), s))
            }
        }
    };
}

named_enum!(
    /// Where an incident stands.
    IncidentStatus {
        Open => "open",
        Acknowledged => "acknowledged",
        Resolved => "resolved",
    }
);

named_enum!(
    /// The pipeline stages, in the order a triage runs them.
    Stage {
        Collect => "collect",
        Retrieve => "retrieve",
        Analyze => "analyze",
        Deliver => "deliver",
    }
);

named_enum!(
    /// Why a job exists. Each kind runs a fixed list of stages.
    JobKind {
        Triage => "triage",
        Update => "update",
        Resolve => "resolve",
    }
);

named_enum!(
    /// A job's place in its lifecycle. `Dead` is the visible dead-letter state.
    JobState {
        Queued => "queued",
        Running => "running",
        Done => "done",
        Dead => "dead",
    }
);

named_enum!(
    /// How a stage ended (`abandoned`: its worker died or hung and the job was reclaimed).
    StageOutcome {
        Running => "running",
        Ok => "ok",
        Skipped => "skipped",
        Failed => "failed",
        Abandoned => "abandoned",
    }
);

impl JobKind {
    /// The stages this kind of job runs, in order.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Self::Triage | Self::Update => &[
                Stage::Collect,
                Stage::Retrieve,
                Stage::Analyze,
                Stage::Deliver,
            ],
            Self::Resolve => &[Stage::Deliver],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub dedup_key: String,
    pub source: AlertSource,
    pub title: String,
    pub service: Option<String>,
    pub priority: Option<String>,
    pub status: IncidentStatus,
    pub opened_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub resolved_at: Option<UnixMillis>,
    pub alert_count: i64,
}

/// One stored alert as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: String,
    pub source: AlertSource,
    pub delivery_id: String,
    pub transition: Transition,
    pub event_type: String,
    pub title: String,
    pub message: Option<String>,
    pub priority: Option<String>,
    pub service: Option<String>,
    pub tags: serde_json::Value,
    pub link: Option<String>,
    pub fired_at: UnixMillis,
    pub received_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub attempts: i64,
    pub run_at: UnixMillis,
    pub last_error: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    pub job_id: String,
    pub stage: Stage,
    pub attempt: i64,
    pub started_at: UnixMillis,
    pub ended_at: Option<UnixMillis>,
    pub outcome: StageOutcome,
    pub detail: Option<String>,
}

/// An incident with everything that happened to it: the API's detail view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub alerts: Vec<AlertRecord>,
    pub jobs: Vec<JobRecord>,
    pub stages: Vec<StageRun>,
    /// The latest evidence bundle, once collected.
    pub evidence: Option<EvidenceBundle>,
    /// The latest analysed brief, once analysed.
    pub brief: Option<serde_json::Value>,
    /// The knowledge most recently retrieved for it.
    pub knowledge: Vec<KnowledgeMatch>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(*stage));
        }
        assert!("bogus".parse::<JobState>().is_err());
        assert_eq!(JobKind::Resolve.stages(), &[Stage::Deliver]);
    }
}
