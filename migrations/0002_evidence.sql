-- Evidence bundles: what the collectors saw for an incident, one per collect stage run.
-- Replay and evaluation run on these.
CREATE TABLE evidence_bundles (
    id           TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    job_id       TEXT NOT NULL REFERENCES jobs (id),
    collected_at BIGINT NOT NULL,
    bundle       TEXT NOT NULL
);
CREATE INDEX evidence_bundles_by_incident ON evidence_bundles (incident_id, collected_at);
