//! Delivery of briefs: Slack when configured (post, update in place, thread replies, resolve),
//! otherwise a text rendering in the log with the brief served by the API.

pub mod slack;
pub mod slack_api;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use self::slack::{
    BriefView, SlackMessage, Tally, changes, render_brief, render_first_look, render_reply,
};
use self::slack_api::{SlackClient, SlackError};
use crate::analysis::Brief;
use crate::config::{Secrets, SlackSettings};
use crate::domain::{
    EvidenceBundle, IncidentDetail, IncidentStatus, JobKind, Severity, StageError, StageOutcome,
    StageReport,
};
use crate::signals::Signal;
use crate::store::{ClaimedJob, Delivery, MessageClaim, Store};

pub struct Notifier {
    store: Arc<dyn Store>,
    slack: Option<SlackClient>,
    settings: SlackSettings,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Notifier {
    pub fn from_settings(
        settings: &SlackSettings,
        secrets: &Secrets,
        store: Arc<dyn Store>,
    ) -> Self {
        let has_channel = !settings.default_channel.is_empty() || !settings.routes.is_empty();
        let slack = secrets
            .slack_bot_token
            .clone()
            .filter(|_| has_channel)
            .map(|token| {
                SlackClient::new(
                    &settings.api_base,
                    token,
                    Duration::from_secs(settings.timeout_secs),
                )
            });
        Self {
            store,
            slack,
            settings: settings.clone(),
        }
    }

    pub fn slack(&self) -> Option<&SlackClient> {
        self.slack.as_ref()
    }

    /// The channel for an incident: the first route whose service, team and severity match.
    pub fn route(
        &self,
        service: Option<&str>,
        team: Option<&str>,
        severity: Option<Severity>,
    ) -> Option<String> {
        self.settings
            .routes
            .iter()
            .find(|r| {
                r.service.as_deref().is_none_or(|s| Some(s) == service)
                    && r.team.as_deref().is_none_or(|t| Some(t) == team)
                    && r.min_severity
                        .is_none_or(|min| severity.is_some_and(|s| s <= min))
            })
            .map(|r| r.channel.clone())
            .or_else(|| Some(self.settings.default_channel.clone()).filter(|c| !c.is_empty()))
    }

    fn incident_url(&self, incident_id: &str) -> Option<String> {
        (!self.settings.public_url.is_empty()).then(|| {
            format!(
                "{}/incidents/{incident_id}",
                self.settings.public_url.trim_end_matches('/')
            )
        })
    }

    /// Posts the first-look card once evidence is in. Never fails the caller: a problem is
    /// returned as text for the stage timeline.
    pub async fn first_look(
        &self,
        job: &ClaimedJob,
        bundle: &EvidenceBundle,
        signals: &[Signal],
    ) -> Option<String> {
        let slack = self
            .slack
            .as_ref()
            .filter(|_| self.settings.first_look && job.kind == JobKind::Triage)?;
        let detail = match self.store.incident(&job.incident_id).await {
            Ok(Some(detail)) => detail,
            _ => return Some("first look skipped: incident unreadable".into()),
        };
        if matches!(self.store.slack_parent(&job.incident_id).await, Ok(Some(_))) {
            return None;
        }
        let channel = self.route(
            detail.incident.service.as_deref(),
            bundle.targets.team.as_deref(),
            None,
        )?;
        let message = render_first_look(
            &detail.incident,
            bundle,
            signals,
            self.incident_url(&detail.incident.id).as_deref(),
        );
        match self.post_parent(slack, &detail, &channel, &message).await {
            Ok(()) => Some(format!("first look posted to {channel}")),
            Err(error) => Some(format!("first look not posted: {error}")),
        }
    }

    /// Posts the incident's parent message once, whichever job and attempt gets there first
    /// (the first look, a retry of the deliver stage, a job reclaimed from a dead worker): the
    /// outbox key is the incident's, and an attempt that finds an earlier claim looks for the
    /// message in the channel and updates it rather than posting again.
    async fn post_parent(
        &self,
        slack: &SlackClient,
        detail: &IncidentDetail,
        channel: &str,
        message: &SlackMessage,
    ) -> Result<(), SlackError> {
        let incident_id = &detail.incident.id;
        let key = format!("{incident_id}:parent");
        let found = match self.claim(&key, incident_id).await {
            MessageClaim::First => None,
            MessageClaim::Sent(ts) => Some(ts),
            MessageClaim::Pending => {
                let oldest = detail.incident.opened_at / 1000 - 60;
                slack.find_posted(channel, incident_id, oldest).await?
            }
        };
        let ts = match found {
            Some(ts) => {
                slack.update(channel, &ts, message).await?;
                ts
            }
            None => {
                slack
                    .post(channel, message, None, incident_id, &key)
                    .await?
            }
        };
        self.sent(&key, &ts).await;
        self.remember_parent(incident_id, channel, &ts).await;
        Ok(())
    }

    /// Posts a thread reply once per `key`: an earlier claim means an earlier attempt may
    /// have posted it, so the thread is searched first.
    async fn reply_once(
        &self,
        slack: &SlackClient,
        incident_id: &str,
        channel: &str,
        thread_ts: &str,
        key: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let found = match self.claim(key, incident_id).await {
            MessageClaim::First => None,
            MessageClaim::Sent(ts) => Some(ts),
            MessageClaim::Pending => slack.find_reply(channel, thread_ts, key).await?,
        };
        let ts = match found {
            Some(ts) => ts,
            None => {
                slack
                    .post(
                        channel,
                        &render_reply(text),
                        Some(thread_ts),
                        incident_id,
                        key,
                    )
                    .await?
            }
        };
        self.sent(key, &ts).await;
        Ok(())
    }

    /// The outbox's answer for `key`; with the store unreadable, treated as a retry so Slack
    /// is searched before anything is posted.
    async fn claim(&self, key: &str, incident_id: &str) -> MessageClaim {
        self.store
            .claim_message(key, incident_id, now_ms())
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, key, "outbox unreadable; searching Slack before posting");
                MessageClaim::Pending
            })
    }

    async fn sent(&self, key: &str, ts: &str) {
        if let Err(error) = self.store.message_sent(key, ts, now_ms()).await {
            tracing::warn!(%error, key, "message sent but not recorded in the outbox");
        }
    }

    async fn remember_parent(&self, incident_id: &str, channel: &str, ts: &str) {
        if let Err(error) = self
            .store
            .set_slack_parent(incident_id, channel, ts, now_ms())
            .await
        {
            tracing::error!(%error, "posted to Slack but could not store the message ts");
        }
    }

    /// The deliver stage.
    pub async fn deliver(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let detail = self
            .store
            .incident(&job.incident_id)
            .await
            .map_err(|e| StageError::caused_by("could not read the incident", e))?
            .ok_or_else(|| StageError::new("the incident vanished"))?;
        let brief = match detail.brief.clone() {
            Some(json) => match Brief::from_stored(&job.incident_id, json) {
                Ok(brief) => Some(brief),
                Err(error) => {
                    return Ok(StageReport {
                        outcome: StageOutcome::Failed,
                        detail: Some(format!("not delivered: {error}")),
                    });
                }
            },
            None => None,
        };
        let Some(slack) = &self.slack else {
            if let Some(brief) = &brief {
                tracing::info!(incident.id = %job.incident_id, "brief (Slack not configured):\n{}", brief.to_text());
            }
            return Ok(StageReport::ok(
                "Slack not configured: brief printed to the log and served by the API",
            ));
        };
        let severity = brief.as_ref().map(|b| b.triage.severity);
        let team = detail
            .evidence
            .as_ref()
            .and_then(|e| e.targets.team.clone());
        let parent = self
            .store
            .slack_parent(&job.incident_id)
            .await
            .map_err(|e| StageError::caused_by("could not read the Slack parent message", e))?;
        let Some(channel) = parent.as_ref().map(|(c, _)| c.clone()).or_else(|| {
            self.route(
                detail.incident.service.as_deref(),
                team.as_deref(),
                severity,
            )
        }) else {
            return Ok(StageReport::skipped(
                "no Slack channel routes this incident",
            ));
        };
        let result = self
            .send(slack, job, &detail, brief.as_ref(), &channel, parent)
            .await;
        let delivery = |sent: bool, detail_text: Option<String>| Delivery {
            key: format!("{}:{}", job.id, job.kind.as_str()),
            incident_id: job.incident_id.clone(),
            channel: channel.clone(),
            kind: job.kind.as_str().into(),
            sent,
            detail: detail_text,
        };
        match result {
            Ok(done) => {
                let _ = self
                    .store
                    .record_delivery(&delivery(true, Some(done.clone())), now_ms())
                    .await;
                Ok(StageReport::ok(done))
            }
            Err(SlackError::Fatal(reason)) => {
                let text = format!("Slack delivery failed: {reason} (not retried)");
                let _ = self
                    .store
                    .record_delivery(&delivery(false, Some(text.clone())), now_ms())
                    .await;
                Ok(StageReport {
                    outcome: StageOutcome::Failed,
                    detail: Some(text),
                })
            }
            Err(error) => Err(StageError::caused_by("Slack delivery failed", error)),
        }
    }

    async fn send(
        &self,
        slack: &SlackClient,
        job: &ClaimedJob,
        detail: &IncidentDetail,
        brief: Option<&Brief>,
        channel: &str,
        parent: Option<(String, String)>,
    ) -> Result<String, SlackError> {
        let incident = &detail.incident;
        let tally = self.tally(&incident.id).await;
        let resolved_after = (incident.status == IncidentStatus::Resolved)
            .then(|| {
                incident
                    .resolved_at
                    .map(|r| chrono::Duration::milliseconds(r - incident.opened_at))
            })
            .flatten();
        let stage_ms: Vec<(String, i64)> = detail
            .stages
            .iter()
            .filter(|s| s.job_id == job.id)
            .filter_map(|s| Some((s.stage.as_str().to_string(), s.ended_at? - s.started_at)))
            .collect();
        let url = self.incident_url(&incident.id);
        let message = brief.map(|brief| {
            render_brief(&BriefView {
                incident,
                brief,
                bundle: detail.evidence.as_ref(),
                knowledge: &detail.knowledge,
                resolved_after,
                tally,
                incident_url: url.clone(),
                stage_ms,
                now: Utc::now(),
            })
        });
        let reply_key = format!("{}:reply", job.id);
        match (job.kind, message) {
            (JobKind::Triage, Some(message)) => match parent {
                Some((channel, ts)) => slack
                    .update(&channel, &ts, &message)
                    .await
                    .map(|_| format!("brief updated in {channel}")),
                None => self
                    .post_parent(slack, detail, channel, &message)
                    .await
                    .map(|_| format!("brief posted to {channel}")),
            },
            (JobKind::Update, Some(message)) => {
                let Some((channel, ts)) = parent else {
                    return self
                        .post_parent(slack, detail, channel, &message)
                        .await
                        .map(|_| format!("brief posted to {channel}"));
                };
                slack.update(&channel, &ts, &message).await?;
                if let Some(current) = brief {
                    let previous: Option<Brief> = self
                        .store
                        .recent_briefs(&incident.id, 2)
                        .await
                        .ok()
                        .and_then(|b| b.get(1).cloned())
                        .and_then(|b| Brief::from_stored(&incident.id, b).ok());
                    let text = changes(previous.as_ref(), current, incident.alert_count);
                    self.reply_once(slack, &incident.id, &channel, &ts, &reply_key, &text)
                        .await?;
                }
                Ok(format!("brief updated and re-trigger noted in {channel}"))
            }
            (JobKind::Resolve, message) => {
                let Some((channel, ts)) = parent else {
                    return Ok("resolved before any brief was posted".into());
                };
                if let Some(message) = message {
                    slack.update(&channel, &ts, &message).await?;
                }
                let duration = resolved_after.map_or("an unknown time".into(), |d| {
                    format!("{} min", d.num_minutes().max(0))
                });
                self.reply_once(
                    slack,
                    &incident.id,
                    &channel,
                    &ts,
                    &reply_key,
                    &format!("Resolved after {duration}."),
                )
                .await?;
                Ok(format!("marked RESOLVED in {channel}"))
            }
            (_, None) => Ok("no brief to deliver".into()),
        }
    }

    pub async fn tally(&self, incident_id: &str) -> Tally {
        let (correct, partly, wrong) = self
            .store
            .feedback_tally(incident_id)
            .await
            .unwrap_or_default();
        Tally {
            correct: correct as u32,
            partly: partly as u32,
            wrong: wrong as u32,
        }
    }

    /// Re-renders the parent message (after feedback), if there is one.
    pub async fn refresh(&self, incident_id: &str) -> Result<(), String> {
        let Some(slack) = &self.slack else {
            return Ok(());
        };
        let Some((channel, ts)) = self
            .store
            .slack_parent(incident_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let Some(detail) = self
            .store
            .incident(incident_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let Some(brief) = detail
            .brief
            .clone()
            .and_then(|b| Brief::from_stored(incident_id, b).ok())
        else {
            return Ok(());
        };
        let incident = &detail.incident;
        let message = render_brief(&BriefView {
            incident,
            brief: &brief,
            bundle: detail.evidence.as_ref(),
            knowledge: &detail.knowledge,
            resolved_after: (incident.status == IncidentStatus::Resolved)
                .then(|| {
                    incident
                        .resolved_at
                        .map(|r| chrono::Duration::milliseconds(r - incident.opened_at))
                })
                .flatten(),
            tally: self.tally(incident_id).await,
            incident_url: self.incident_url(incident_id),
            stage_ms: Vec::new(),
            now: Utc::now(),
        });
        slack
            .update(&channel, &ts, &message)
            .await
            .map_err(|e| e.to_string())
    }
}
