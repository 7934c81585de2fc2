-- Retry policy and timeouts resolved at admission (request > agent > fleet default), and the clocks they run on.
ALTER TABLE runs
    ADD COLUMN retry_initial_delay_ms bigint,
    ADD COLUMN retry_max_delay_ms     bigint,
    ADD COLUMN non_retryable_errors   text,
    ADD COLUMN schedule_to_start_ms   bigint,
    ADD COLUMN start_to_close_ms      bigint,
    ADD COLUMN schedule_to_close_ms   bigint,
    ADD COLUMN stall_timeout_ms       bigint,
    ADD COLUMN retry_on_stall         boolean NOT NULL DEFAULT false,
    -- When the current attempt entered the queue (schedule-to-start runs from here).
    ADD COLUMN queued_at              timestamptz,
    -- When the current attempt's lease was granted (start-to-close runs from here).
    ADD COLUMN attempt_started_at     timestamptz,
    -- Agent events seen so far in the current attempt, and when it stalls unless that number grows.
    ADD COLUMN progress               bigint NOT NULL DEFAULT 0,
    ADD COLUMN stall_deadline_at      timestamptz,
    -- The earliest timeout of the current state (derived, written for lease renewal to keep due_at right).
    ADD COLUMN deadline_at            timestamptz;
