-- The worker whose expired lease a claim took over, so the reclaim can be logged and the
-- stage runs it left open closed as abandoned.
ALTER TABLE jobs ADD COLUMN reclaimed_from TEXT;
