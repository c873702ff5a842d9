//! The presence index of session-broker: which sessions are open, for matchmaking.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Sessions by id. v4.2.0 moved eviction into `close`; closed sessions must be removed or the
/// index grows for as long as the process lives.
pub struct PresenceIndex {
    sessions: HashMap<String, Session>,
    closed: Vec<String>,
}

pub struct Session {
    pub player_id: String,
    pub opened_at: Instant,
    pub open: bool,
}

impl PresenceIndex {
    pub fn new() -> Self {
        Self { sessions: HashMap::new(), closed: Vec::new() }
    }

    /// Registers a new session.
    pub fn open(&mut self, id: String, player_id: String) {
        self.sessions.insert(id, Session { player_id, opened_at: Instant::now(), open: true });
    }

    /// Marks a session closed. It stays in the map until `evict` runs.
    pub fn close(&mut self, id: &str) {
        if let Some(session) = self.sessions.get_mut(id) {
            session.open = false;
            self.closed.push(id.to_string());
        }
    }

    /// Removes closed sessions older than `grace`. Called every 30 s by the flusher.
    pub fn evict(&mut self, grace: Duration) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.open || s.opened_at.elapsed() < grace);
        before - self.sessions.len()
    }

    /// "presence index size=… sessions (open=…)", logged every minute.
    pub fn describe(&self) -> String {
        let open = self.sessions.values().filter(|s| s.open).count();
        format!("presence index size={} sessions (open={open})", self.sessions.len())
    }
}
