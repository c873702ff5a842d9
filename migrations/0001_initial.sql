-- Incidents group alerts that share a dedup key while open. Times are Unix milliseconds.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    dedup_key   TEXT NOT NULL,
    source      TEXT NOT NULL,
    title       TEXT NOT NULL,
    service     TEXT,
    priority    TEXT,
    status      TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    alert_count BIGINT NOT NULL DEFAULT 0
);
-- At most one open incident per dedup key: concurrent deliveries cannot open two.
CREATE UNIQUE INDEX incidents_one_open_per_key ON incidents (dedup_key) WHERE status <> 'resolved';
CREATE INDEX incidents_by_key ON incidents (dedup_key, opened_at);
CREATE INDEX incidents_recent ON incidents (opened_at);

CREATE TABLE alerts (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    delivery_id   TEXT NOT NULL,
    incident_id   TEXT REFERENCES incidents (id),
    dedup_key     TEXT NOT NULL,
    transition    TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    title         TEXT NOT NULL,
    message       TEXT,
    priority      TEXT,
    service       TEXT,
    tags          TEXT NOT NULL,
    monitor_id    TEXT,
    monitor_query TEXT,
    metric        TEXT,
    link          TEXT,
    fired_at      BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    raw           TEXT NOT NULL,
    UNIQUE (source, delivery_id)
);
CREATE INDEX alerts_by_incident ON alerts (incident_id, received_at);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    incident_id      TEXT NOT NULL REFERENCES incidents (id),
    kind             TEXT NOT NULL CHECK (kind IN ('triage', 'update', 'resolve')),
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    run_at           BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (state, run_at);
CREATE INDEX jobs_by_incident ON jobs (incident_id, created_at);

CREATE TABLE stage_runs (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    stage       TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX stage_runs_by_incident ON stage_runs (incident_id, started_at);
