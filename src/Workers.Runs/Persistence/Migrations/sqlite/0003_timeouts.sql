-- Retry policy and timeouts resolved at admission (request > agent > fleet default), and the clocks they run on.
ALTER TABLE runs ADD COLUMN retry_initial_delay_ms INTEGER;
ALTER TABLE runs ADD COLUMN retry_max_delay_ms INTEGER;
ALTER TABLE runs ADD COLUMN non_retryable_errors TEXT;
ALTER TABLE runs ADD COLUMN schedule_to_start_ms INTEGER;
ALTER TABLE runs ADD COLUMN start_to_close_ms INTEGER;
ALTER TABLE runs ADD COLUMN schedule_to_close_ms INTEGER;
ALTER TABLE runs ADD COLUMN stall_timeout_ms INTEGER;
ALTER TABLE runs ADD COLUMN retry_on_stall INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN queued_at INTEGER;
ALTER TABLE runs ADD COLUMN attempt_started_at INTEGER;
ALTER TABLE runs ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stall_deadline_at INTEGER;
ALTER TABLE runs ADD COLUMN deadline_at INTEGER;
