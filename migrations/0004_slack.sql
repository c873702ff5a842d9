-- The Slack message that carries an incident's brief (updated in place; replies thread under it).
CREATE TABLE slack_messages (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    posted_at   BIGINT NOT NULL
);

-- Outbox of Slack deliveries, keyed by job and kind, so a retried job never sends twice.
CREATE TABLE deliveries (
    key         TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    channel     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sent', 'failed')),
    detail      TEXT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX deliveries_by_incident ON deliveries (incident_id, updated_at);

-- Who said the brief was right, partly right or wrong; one verdict per person per incident.
CREATE TABLE feedback (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    user_id     TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('correct', 'partly', 'wrong')),
    note        TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
