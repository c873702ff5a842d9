//! The progressive card: the incident's Slack message from the moment its triage starts,
//! before any collector answers — what fired, the owning team and escalation, the runbook and
//! past incident that match the alert text — then updated in place as each source answers, at
//! most once a second, until the analysed brief replaces it.
//!
//! The card runs beside the collect stage on its own task, never on the pipeline's path. The
//! message it posts is the incident's parent message (one outbox key for the card and the
//! brief), and a per-incident [`CardBoard`] slot orders its writes against the brief's: once
//! delivery has begun, the card never writes again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::collectors::SourceUpdate;
use crate::domain::{Alert, KnowledgeMatch, SourceReport, Targets};
use crate::signals::{self, Signal};

/// At most one update per message per this interval; updates in between are coalesced.
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// What the card knows before any source answers.
#[derive(Debug, Clone, PartialEq)]
pub struct CardHead {
    pub incident_id: String,
    pub title: String,
    pub priority: Option<String>,
    pub service: Option<String>,
    pub team: Option<String>,
    pub escalation: Option<String>,
    /// The best runbook for the alert text.
    pub runbook: Option<KnowledgeMatch>,
    /// The closest post-mortem, when it is close enough to count as a past incident.
    pub past_incident: Option<KnowledgeMatch>,
    pub incident_url: Option<String>,
}

impl CardHead {
    /// The head for `alert`, from its resolved targets and what retrieval found for its text.
    pub fn new(
        incident_id: &str,
        alert: &Alert,
        targets: &Targets,
        knowledge: &[KnowledgeMatch],
        incident_url: Option<String>,
    ) -> Self {
        let best = |keep: &dyn Fn(&KnowledgeMatch) -> bool| {
            knowledge
                .iter()
                .filter(|k| keep(k))
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .cloned()
        };
        Self {
            incident_id: incident_id.to_string(),
            title: alert.title.clone(),
            priority: alert.priority.clone(),
            service: targets.service.clone().or_else(|| alert.service.clone()),
            team: targets.team.clone(),
            escalation: targets.escalation.clone(),
            runbook: best(&|k| k.corpus == "runbooks" && k.score > 0.0),
            past_incident: best(&signals::is_past_incident),
            incident_url,
        }
    }
}

/// One source's line: still collecting, or what it reported.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceLine {
    Collecting,
    Reported {
        report: SourceReport,
        /// The summary of its most anomalous item.
        top: Option<String>,
    },
}

/// Where collection stands once it is over.
#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    Running,
    /// Done: the deterministic findings on the evidence, strongest first.
    Done(Vec<Signal>),
    /// The collect stage ended without a bundle (it failed and will be retried).
    Interrupted,
}

/// Everything the card shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub head: CardHead,
    /// In report order (by source name).
    pub sources: Vec<(String, SourceLine)>,
    pub collection: Collection,
}

impl Card {
    pub fn new(head: CardHead, sources: &[&str]) -> Self {
        Self {
            head,
            sources: sources
                .iter()
                .map(|s| (s.to_string(), SourceLine::Collecting))
                .collect(),
            collection: Collection::Running,
        }
    }

    /// Records a source's outcome; true when the card changed.
    pub fn apply(&mut self, update: SourceUpdate) -> bool {
        let source = update.report.source.clone();
        let line = SourceLine::Reported {
            report: update.report,
            top: update.top,
        };
        match self.sources.iter_mut().find(|(name, _)| *name == source) {
            Some((_, current)) if *current == line => false,
            Some((_, current)) => {
                *current = line;
                true
            }
            None => {
                self.sources.push((source, line));
                self.sources.sort_by(|a, b| a.0.cmp(&b.0));
                true
            }
        }
    }

    /// Whether the card has nothing more to learn.
    pub fn is_final(&self) -> bool {
        self.collection != Collection::Running
    }
}

/// The inputs the card task listens to: each source's outcome as it arrives, then the end of
/// collection.
pub struct CardFeed {
    pub sources: mpsc::UnboundedReceiver<SourceUpdate>,
    pub collected: oneshot::Receiver<Vec<Signal>>,
}

/// The collect stage's side of a [`CardFeed`].
pub struct CardSender {
    pub sources: mpsc::UnboundedSender<SourceUpdate>,
    pub collected: oneshot::Sender<Vec<Signal>>,
}

/// A connected sender and feed.
pub fn feed() -> (CardSender, CardFeed) {
    let (sources_tx, sources) = mpsc::unbounded_channel();
    let (collected_tx, collected) = oneshot::channel();
    (
        CardSender {
            sources: sources_tx,
            collected: collected_tx,
        },
        CardFeed { sources, collected },
    )
}

impl CardFeed {
    /// The next change to the card; `None` once collection is over and every update is in.
    pub async fn next(&mut self, card: &mut Card) -> Option<bool> {
        if card.is_final() {
            return None;
        }
        match self.sources.recv().await {
            Some(update) => Some(card.apply(update)),
            // Every source has reported; wait for the end of collection.
            None => {
                card.collection = match (&mut self.collected).await {
                    Ok(findings) => Collection::Done(findings),
                    Err(_) => Collection::Interrupted,
                };
                Some(true)
            }
        }
    }

    /// Applies whatever has already arrived without waiting; true when the card changed.
    pub fn drain(&mut self, card: &mut Card) -> bool {
        let mut changed = false;
        while let Ok(update) = self.sources.try_recv() {
            changed |= card.apply(update);
        }
        changed
    }
}

/// Orders the card's writes against the brief's, per incident, within this process.
#[derive(Default)]
pub struct CardBoard {
    slots: Mutex<HashMap<String, Arc<CardSlot>>>,
}

#[derive(Default)]
pub struct CardSlot {
    write: tokio::sync::Mutex<()>,
    superseded: AtomicBool,
}

impl CardSlot {
    /// The card's turn to write: `None` once the brief has taken the message over. Hold the
    /// guard for the whole write.
    pub async fn card_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let guard = self.write.lock().await;
        (!self.superseded.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Delivery's hold on the message: waits for a card write in flight.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write.lock().await
    }
}

impl CardBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CardSlot>>> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new card's slot for `incident_id`, made before its task starts.
    pub fn open(&self, incident_id: &str) -> Arc<CardSlot> {
        let slot = Arc::new(CardSlot::default());
        self.lock()
            .insert(incident_id.to_string(), Arc::clone(&slot));
        slot
    }

    /// The card has finished: its slot goes (unless a newer card took the id).
    pub fn close(&self, incident_id: &str, slot: &Arc<CardSlot>) {
        let mut slots = self.lock();
        if slots.get(incident_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(incident_id);
        }
    }

    /// Delivery takes the message over: no card write follows. Hold the returned slot's
    /// [`hold`](CardSlot::hold) guard while delivering, so a card write in flight ends first.
    pub fn brief_turn(&self, incident_id: &str) -> Option<Arc<CardSlot>> {
        let slot = self.lock().get(incident_id).cloned()?;
        slot.superseded.store(true, Ordering::SeqCst);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SourceStatus;

    fn head() -> CardHead {
        CardHead {
            incident_id: "i-1".into(),
            title: "checkout-api p99 above 2s".into(),
            priority: Some("P2".into()),
            service: Some("checkout-api".into()),
            team: Some("payments".into()),
            escalation: None,
            runbook: None,
            past_incident: None,
            incident_url: None,
        }
    }

    fn update(source: &str, status: SourceStatus, top: Option<&str>) -> SourceUpdate {
        SourceUpdate {
            report: SourceReport {
                source: source.into(),
                status,
                message: None,
                elapsed_ms: 10,
                items: usize::from(top.is_some()),
            },
            top: top.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn the_feed_fills_the_card_then_ends_with_the_findings_or_an_interruption() {
        let (sender, mut inputs) = feed();
        let mut card = Card::new(head(), &["aws", "datadog"]);
        sender
            .sources
            .send(update("datadog", SourceStatus::Ok, Some("p99 4.2 s")))
            .unwrap();
        assert!(
            inputs.drain(&mut card),
            "an arrived update changes the card"
        );
        assert!(!inputs.drain(&mut card), "nothing new");
        let repeat = update("datadog", SourceStatus::Ok, Some("p99 4.2 s"));
        assert!(!card.apply(repeat), "the same outcome twice is no change");
        assert_eq!(
            card.sources[0].1,
            SourceLine::Collecting,
            "aws still collecting"
        );
        sender
            .sources
            .send(update("aws", SourceStatus::Timeout, None))
            .unwrap();
        drop(sender.sources);
        sender.collected.send(Vec::new()).unwrap();
        assert_eq!(inputs.next(&mut card).await, Some(true));
        assert_eq!(inputs.next(&mut card).await, Some(true), "collection over");
        assert_eq!(card.collection, Collection::Done(Vec::new()));
        assert_eq!(inputs.next(&mut card).await, None);

        let (sender, mut inputs) = feed();
        let mut card = Card::new(head(), &["aws"]);
        drop(sender);
        assert_eq!(inputs.next(&mut card).await, Some(true));
        assert_eq!(card.collection, Collection::Interrupted);
    }

    #[tokio::test]
    async fn once_the_brief_takes_the_message_the_card_never_writes_again() {
        let board = CardBoard::default();
        let slot = board.open("i-1");
        assert!(slot.card_turn().await.is_some());
        let brief = board.brief_turn("i-1").expect("the card's slot");
        let hold = brief.hold().await;
        drop(hold);
        assert!(slot.card_turn().await.is_none(), "superseded");
        board.close("i-1", &slot);
        assert!(board.brief_turn("i-1").is_none(), "the slot is gone");
    }
}
