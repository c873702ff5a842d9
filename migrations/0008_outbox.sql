-- Every outbound Slack message, claimed before it is sent. A retry, a reclaimed job or a post
-- whose reply was lost finds the claim and looks the message up instead of sending it again.
CREATE TABLE outbox (
    key         TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
    ts          TEXT,
    updated_at  BIGINT NOT NULL
);
