//! Delivery of briefs: Slack when configured (post, update in place, thread replies, resolve),
//! otherwise a text rendering in the log with the brief served by the API.

pub mod card;
pub mod datadog_event;
pub mod pagerduty;
pub mod slack;
pub mod slack_api;
pub mod write;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use self::card::{Card, CardBoard, CardFeed, CardHead, CardSlot, UPDATE_INTERVAL};
use self::datadog_event::DatadogEvents;
use self::pagerduty::PagerDutyClient;
use self::slack::{
    BriefView, SlackMessage, Tally, changes, render_brief, render_card, render_reply,
};
use self::slack_api::{SlackClient, SlackError};
use self::write::WriteError;
use crate::analysis::Brief;
use crate::config::{Secrets, Settings, SlackSettings};
use crate::domain::{
    Alert, AlertSource, IncidentDetail, IncidentStatus, JobKind, KnowledgeMatch, Severity,
    SourceStatus, StageError, StageOutcome, StageReport, Tag, Targets,
};
use crate::store::{ClaimedJob, Delivery, MessageClaim, Store};

/// What retrieval finds for the card, computed on the card's task.
pub type CardKnowledge = Pin<Box<dyn Future<Output = Vec<KnowledgeMatch>> + Send>>;

/// Everything a progressive card starts from.
pub struct CardRequest {
    pub incident_id: String,
    /// The alert the incident is about now.
    pub alert: Alert,
    pub targets: Targets,
    /// Every source the collection runs, in report order.
    pub sources: Vec<&'static str>,
    pub knowledge: CardKnowledge,
    pub feed: CardFeed,
}

pub struct Notifier {
    store: Arc<dyn Store>,
    slack: Option<SlackClient>,
    settings: SlackSettings,
    cards: CardBoard,
    pagerduty: Option<PagerDutyClient>,
    /// Set once PagerDuty refused the token (401/403): reported once, not retried.
    pagerduty_refused: std::sync::OnceLock<String>,
    datadog_events: Option<DatadogEvents>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Notifier {
    pub fn from_settings(all: &Settings, secrets: &Secrets, store: Arc<dyn Store>) -> Self {
        let settings = &all.slack;
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
            cards: CardBoard::default(),
            pagerduty: PagerDutyClient::from_settings(&all.pagerduty, secrets),
            pagerduty_refused: std::sync::OnceLock::new(),
            datadog_events: DatadogEvents::from_settings(all, secrets),
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

    /// Whether `job` gets a progressive card: a first triage, with Slack set up and the card on.
    pub fn wants_card(&self, job: &ClaimedJob) -> bool {
        self.slack.is_some() && self.settings.first_look && job.kind == JobKind::Triage
    }

    /// Starts the progressive card for a triage job on its own task, off the pipeline's path:
    /// it posts at once (retrieval for the alert text needs no collector) and follows `feed`.
    pub fn start_card(self: &Arc<Self>, request: CardRequest) {
        let slot = self.cards.open(&request.incident_id);
        let notifier = Arc::clone(self);
        let incident_id = request.incident_id.clone();
        tokio::spawn(async move {
            let outcome = notifier.run_card(request, &slot).await;
            match outcome {
                Ok(done) => tracing::info!(incident.id = %incident_id, "card: {done}"),
                Err(error) => {
                    tracing::warn!(incident.id = %incident_id, %error, "card not posted or not updated")
                }
            }
            notifier.cards.close(&incident_id, &slot);
        });
    }

    async fn run_card(&self, request: CardRequest, slot: &CardSlot) -> Result<String, SlackError> {
        let CardRequest {
            incident_id,
            alert,
            targets,
            sources,
            knowledge,
            mut feed,
        } = request;
        let incident_id = incident_id.as_str();
        let Some(slack) = &self.slack else {
            return Ok("Slack not configured".into());
        };
        let detail = match self.store.incident(incident_id).await {
            Ok(Some(detail)) => detail,
            _ => return Ok("skipped: incident unreadable".into()),
        };
        if matches!(self.store.slack_parent(incident_id).await, Ok(Some(_))) {
            return Ok("skipped: the incident already has a message".into());
        }
        let Some(channel) = self.route(
            detail.incident.service.as_deref(),
            targets.team.as_deref(),
            None,
        ) else {
            return Ok("skipped: no Slack channel routes this incident".into());
        };
        let knowledge = knowledge.await;
        let head = CardHead::new(
            incident_id,
            &alert,
            &targets,
            &knowledge,
            self.incident_url(incident_id),
        );
        let mut card = Card::new(head, &sources);
        feed.drain(&mut card);
        let ts = {
            let Some(_turn) = slot.card_turn().await else {
                return Ok("skipped: the brief came first".into());
            };
            self.post_parent(slack, &detail, &channel, &render_card(&card))
                .await?
        };
        let since_open = (now_ms() - detail.incident.opened_at).max(0) as f64 / 1000.0;
        metrics::histogram!("triaged_card_seconds").record(since_open);
        let mut last_write = Instant::now();
        let (mut dirty, mut updates) = (false, 0);
        loop {
            if dirty && (card.is_final() || Instant::now() >= last_write + UPDATE_INTERVAL) {
                tokio::time::sleep_until(last_write + UPDATE_INTERVAL).await;
                let Some(_turn) = slot.card_turn().await else {
                    return Ok(format!(
                        "posted to {channel}, {updates} updates, then replaced by the brief"
                    ));
                };
                slack.update(&channel, &ts, &render_card(&card)).await?;
                last_write = Instant::now();
                dirty = false;
                updates += 1;
                continue;
            }
            let change = if dirty {
                tokio::select! {
                    change = feed.next(&mut card) => change,
                    _ = tokio::time::sleep_until(last_write + UPDATE_INTERVAL) => Some(false),
                }
            } else {
                feed.next(&mut card).await
            };
            match change {
                Some(changed) => dirty |= changed,
                None => break,
            }
        }
        Ok(format!(
            "posted to {channel} after {since_open:.2} s, {updates} updates"
        ))
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
    ) -> Result<String, SlackError> {
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
        Ok(ts)
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

    /// The deliver stage. A card still running for the incident stops here: its write in
    /// flight ends first, and it never writes again.
    pub async fn deliver(&self, job: &ClaimedJob) -> Result<StageReport, StageError> {
        let card = self.cards.brief_turn(&job.incident_id);
        let _hold = match &card {
            Some(slot) => Some(slot.hold().await),
            None => None,
        };
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
        let slack = self.deliver_slack(job, &detail, brief.as_ref()).await;
        let written = self.write_back(job, &detail, brief.as_ref()).await;
        let (mut outcome, mut lines, mut retry) = match slack {
            Ok(report) => (
                report.outcome,
                report.detail.into_iter().collect(),
                Vec::new(),
            ),
            Err(error) => (StageOutcome::Failed, Vec::new(), vec![error.chain()]),
        };
        for result in written {
            match result {
                Ok(text) => {
                    if outcome == StageOutcome::Skipped {
                        outcome = StageOutcome::Ok;
                    }
                    lines.push(text);
                }
                Err(WriteError::Retryable(reason)) => retry.push(reason),
                Err(fatal) => {
                    outcome = StageOutcome::Failed;
                    lines.push(fatal.to_string());
                }
            }
        }
        if !retry.is_empty() {
            lines.extend(retry);
            return Err(StageError::new(format!(
                "delivery incomplete, retried: {}",
                lines.join("; ")
            )));
        }
        Ok(StageReport {
            outcome,
            detail: Some(lines.join("; ")),
        })
    }

    /// The Slack half of delivery: post, update, thread or resolve the parent message.
    async fn deliver_slack(
        &self,
        job: &ClaimedJob,
        detail: &IncidentDetail,
        brief: Option<&Brief>,
    ) -> Result<StageReport, StageError> {
        let Some(slack) = &self.slack else {
            if let Some(brief) = brief {
                tracing::info!(incident.id = %job.incident_id, "brief (Slack not configured):\n{}", brief.to_text());
            }
            return Ok(StageReport::ok(
                "Slack not configured: brief printed to the log and served by the API",
            ));
        };
        let severity = brief.map(|b| b.triage.severity);
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
        let result = self.send(slack, job, detail, brief, &channel, parent).await;
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
                    let previous = self.previous_brief(&incident.id).await;
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

    /// The brief before the newest one, for what changed on a re-trigger.
    async fn previous_brief(&self, incident_id: &str) -> Option<Brief> {
        self.store
            .recent_briefs(incident_id, 2)
            .await
            .ok()
            .and_then(|b| b.get(1).cloned())
            .and_then(|b| Brief::from_stored(incident_id, b).ok())
    }

    /// The write-backs beside Slack, each on its own outbox key: a PagerDuty note (and status
    /// update) for incidents that came from PagerDuty, a Datadog event for those that came from
    /// a Datadog monitor.
    async fn write_back(
        &self,
        job: &ClaimedJob,
        detail: &IncidentDetail,
        brief: Option<&Brief>,
    ) -> Vec<Result<String, WriteError>> {
        let Some(brief) = brief else {
            return Vec::new();
        };
        if job.kind == JobKind::Resolve {
            return Vec::new();
        }
        let mut results = Vec::new();
        if let Some(pd) = &self.pagerduty
            && detail.incident.source == AlertSource::Pagerduty
            && let Some(pd_incident) = pagerduty::incident_id(&detail.incident.dedup_key)
        {
            if let Some(reason) = self.pagerduty_refused.get() {
                results.push(Ok(format!(
                    "PagerDuty note skipped: the token was refused earlier ({reason})"
                )));
            } else {
                let result = self
                    .pagerduty_note(pd, job, detail, brief, pd_incident)
                    .await;
                if let Err(error) = &result
                    && error.is_refusal()
                {
                    let _ = self.pagerduty_refused.set(error.to_string());
                }
                results.push(result);
                if job.kind == JobKind::Triage && self.pagerduty_refused.get().is_none() {
                    results.push(self.status_update(pd, job, brief, pd_incident).await);
                }
            }
        }
        if let Some(events) = &self.datadog_events
            && detail.incident.source == AlertSource::Datadog
        {
            results.push(self.datadog_event(events, job, detail, brief).await);
        }
        results
    }

    async fn pagerduty_note(
        &self,
        pd: &PagerDutyClient,
        job: &ClaimedJob,
        detail: &IncidentDetail,
        brief: &Brief,
        pd_incident: &str,
    ) -> Result<String, WriteError> {
        let key = format!("{}:pagerduty_note", job.id);
        let url = self.incident_url(&detail.incident.id);
        let content = if job.kind == JobKind::Update {
            let previous = self.previous_brief(&detail.incident.id).await;
            let text = changes(previous.as_ref(), brief, detail.incident.alert_count);
            pagerduty::change_note(&text, url.as_deref(), &key)
        } else {
            let missing: Vec<String> = detail
                .evidence
                .iter()
                .flat_map(|e| &e.reports)
                .filter(|r| r.status != SourceStatus::Ok)
                .map(|r| r.describe())
                .collect();
            pagerduty::brief_note(brief, &missing, url.as_deref(), &key)
        };
        let marker = pagerduty::marker(&key);
        let result = self
            .write_once(
                &key,
                &detail.incident.id,
                pd.find_note(pd_incident, &marker),
                pd.add_note(pd_incident, &content),
            )
            .await;
        self.record_write(
            &key,
            detail,
            &format!("pagerduty:{pd_incident}"),
            "pagerduty_note",
            &result,
        )
        .await;
        result.map(|id| format!("PagerDuty note {id} on {pd_incident}"))
    }

    /// The brief's status update draft: stored, and sent only when
    /// `pagerduty.post_status_updates` is on.
    async fn status_update(
        &self,
        pd: &PagerDutyClient,
        job: &ClaimedJob,
        brief: &Brief,
        pd_incident: &str,
    ) -> Result<String, WriteError> {
        let draft = &brief.triage.status_page_draft;
        let message = format!("{}\n\n{}", draft.title, draft.body);
        let key = format!("{}:pagerduty_status_update", job.id);
        let channel = format!("pagerduty:{pd_incident}");
        if !pd.post_status_updates {
            let _ = self
                .store
                .record_delivery(
                    &Delivery {
                        key,
                        incident_id: job.incident_id.clone(),
                        channel,
                        kind: "pagerduty_status_update_draft".into(),
                        sent: false,
                        detail: Some(format!("draft, not sent: {message}")),
                    },
                    now_ms(),
                )
                .await;
            return Ok(
                "PagerDuty status update drafted (pagerduty.post_status_updates is off)".into(),
            );
        }
        // A status update cannot be looked up: one an earlier attempt may have sent is not
        // sent again.
        let result = self
            .write_once(
                &key,
                &job.incident_id,
                async { Ok(Some("sent by an earlier attempt".to_string())) },
                pd.post_status_update(pd_incident, &message),
            )
            .await;
        result.map(|id| format!("PagerDuty status update {id} sent"))
    }

    async fn datadog_event(
        &self,
        events: &DatadogEvents,
        job: &ClaimedJob,
        detail: &IncidentDetail,
        brief: &Brief,
    ) -> Result<String, WriteError> {
        let key = format!("{}:datadog_event", job.id);
        let tag = format!("triaged_ref:{}", job.id);
        let mut tags: Vec<String> = detail
            .alerts
            .iter()
            .rev()
            .filter_map(|a| serde_json::from_value::<Vec<Tag>>(a.tags.clone()).ok())
            .find(|tags| !tags.is_empty())
            .map(|tags| {
                tags.iter()
                    .map(|t| format!("{}:{}", t.key, t.value))
                    .collect()
            })
            .unwrap_or_default();
        tags.retain(|t| !t.starts_with("triaged_ref:"));
        tags.truncate(25);
        tags.push("source:triaged".into());
        tags.push(tag.clone());
        let rc = &brief.triage.root_cause;
        let title = format!(
            "triaged: {} {} ({})",
            rc.category.as_str(),
            rc.entity,
            rc.confidence.as_str()
        );
        let mut text = format!("{}\n\n{}", brief.triage.summary, rc.statement);
        if let Some(url) = self.incident_url(&detail.incident.id) {
            text.push_str(&format!("\n\nFull brief: {url}"));
        }
        let since = detail.incident.opened_at / 1000 - 60;
        let result = self
            .write_once(
                &key,
                &detail.incident.id,
                events.find(&tag, since),
                events.post(&title, &text, &tags, &detail.incident.id),
            )
            .await;
        self.record_write(&key, detail, "datadog:events", "datadog_event", &result)
            .await;
        result.map(|id| format!("Datadog event {id} posted"))
    }

    /// Sends a write-back once per `key`: a claim an earlier attempt left pending (its reply
    /// may have been lost) runs `find` first and sends with `send` only when nothing is found.
    async fn write_once(
        &self,
        key: &str,
        incident_id: &str,
        find: impl Future<Output = Result<Option<String>, WriteError>>,
        send: impl Future<Output = Result<String, WriteError>>,
    ) -> Result<String, WriteError> {
        let found = match self.claim(key, incident_id).await {
            MessageClaim::First => None,
            MessageClaim::Sent(id) => return Ok(id),
            MessageClaim::Pending => find.await?,
        };
        let id = match found {
            Some(id) => id,
            None => send.await?,
        };
        self.sent(key, &id).await;
        Ok(id)
    }

    /// Records a write-back's outcome where the incident page lists deliveries.
    async fn record_write(
        &self,
        key: &str,
        detail: &IncidentDetail,
        channel: &str,
        kind: &str,
        result: &Result<String, WriteError>,
    ) {
        let delivery = Delivery {
            key: key.to_string(),
            incident_id: detail.incident.id.clone(),
            channel: channel.to_string(),
            kind: kind.to_string(),
            sent: result.is_ok(),
            detail: Some(match result {
                Ok(id) => format!("sent ({id})"),
                Err(error) => error.to_string(),
            }),
        };
        if let Err(error) = self.store.record_delivery(&delivery, now_ms()).await {
            tracing::warn!(%error, key, "write-back done but not recorded");
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
