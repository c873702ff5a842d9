-- Knowledge retrieved for an incident, one row per retrieve stage run; the newest is current.
CREATE TABLE retrievals (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    created_at  BIGINT NOT NULL,
    matches     TEXT NOT NULL
);
CREATE INDEX retrievals_by_incident ON retrievals (incident_id, created_at);
