-- Analysed briefs, one per analyze stage run; the newest is the incident's current brief.
CREATE TABLE briefs (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    created_at  BIGINT NOT NULL,
    analyst     TEXT NOT NULL,
    brief       TEXT NOT NULL
);
CREATE INDEX briefs_by_incident ON briefs (incident_id, created_at);
