-- Attempts handed back by a draining worker: they do not count against max_attempts.
ALTER TABLE runs ADD COLUMN released_attempts INTEGER NOT NULL DEFAULT 0;
