-- The saga-state table: one row per run, the monitoring source. Times are Unix milliseconds (UTC).
CREATE TABLE runs (
    run_id              TEXT PRIMARY KEY,
    current_state       TEXT    NOT NULL,
    version             INTEGER NOT NULL,
    agent               TEXT    NOT NULL,
    runtime             TEXT    NOT NULL,
    priority            INTEGER NOT NULL,
    input               TEXT    NOT NULL,
    tenant              TEXT,
    labels              TEXT,
    agent_spec          TEXT,
    attempt             INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    dispatch_count      INTEGER NOT NULL,
    redispatch_at       INTEGER,
    worker_id           TEXT,
    worker_address      TEXT,
    lease_id            TEXT,
    lease_expires_at    INTEGER,
    claim_id            TEXT,
    submitted_at        INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    next_attempt_at     INTEGER,
    cancel_requested_at INTEGER,
    updated_at          INTEGER NOT NULL,
    due_at              INTEGER,
    output              TEXT,
    last_error          TEXT,
    error_kind          TEXT,
    steps               INTEGER NOT NULL DEFAULT 0,
    tool_calls          INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    cost_usd            TEXT    NOT NULL DEFAULT '0'
);

CREATE INDEX runs_submitted ON runs (submitted_at DESC, run_id DESC);
CREATE INDEX runs_state_submitted ON runs (current_state, submitted_at DESC, run_id DESC);
CREATE INDEX runs_agent ON runs (agent, submitted_at DESC);
CREATE INDEX runs_due ON runs (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE workers (
    worker_id     TEXT PRIMARY KEY,
    host_name     TEXT    NOT NULL,
    runtimes      TEXT    NOT NULL,
    slots         INTEGER NOT NULL,
    active_runs   INTEGER NOT NULL,
    draining      INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);
