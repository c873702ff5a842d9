-- Evaluation scorecards (`triaged eval`), newest shown on /eval.
CREATE TABLE eval_runs (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    analyst    TEXT NOT NULL,
    scorecard  TEXT NOT NULL
);
CREATE INDEX eval_runs_by_time ON eval_runs (created_at);
