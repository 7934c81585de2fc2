-- The saga-state table: one row per run, the monitoring source.
CREATE TABLE runs (
    run_id              uuid PRIMARY KEY,
    current_state       text        NOT NULL,
    version             integer     NOT NULL,
    agent               text        NOT NULL,
    runtime             text        NOT NULL,
    priority            integer     NOT NULL,
    input               text        NOT NULL,
    tenant              text,
    labels              text,
    agent_spec          text,
    attempt             integer     NOT NULL,
    max_attempts        integer     NOT NULL,
    dispatch_count      integer     NOT NULL,
    redispatch_at       timestamptz,
    worker_id           text,
    worker_address      text,
    lease_id            uuid,
    lease_expires_at    timestamptz,
    claim_id            uuid,
    submitted_at        timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz,
    next_attempt_at     timestamptz,
    cancel_requested_at timestamptz,
    updated_at          timestamptz NOT NULL,
    due_at              timestamptz,
    output              text,
    last_error          text,
    error_kind          text,
    steps               integer     NOT NULL DEFAULT 0,
    tool_calls          integer     NOT NULL DEFAULT 0,
    input_tokens        bigint      NOT NULL DEFAULT 0,
    output_tokens       bigint      NOT NULL DEFAULT 0,
    cost_usd            numeric(18, 6) NOT NULL DEFAULT 0
);

-- Listing newest first, optionally by state; keyset paging on (submitted_at, run_id).
CREATE INDEX runs_submitted ON runs (submitted_at DESC, run_id DESC);
CREATE INDEX runs_state_submitted ON runs (current_state, submitted_at DESC, run_id DESC);
CREATE INDEX runs_agent ON runs (agent, submitted_at DESC);
CREATE INDEX runs_tenant ON runs (tenant, submitted_at DESC) WHERE tenant IS NOT NULL;
-- The sweeper's work list: only live runs have a due time.
CREATE INDEX runs_due ON runs (due_at) WHERE due_at IS NOT NULL;

-- The worker registry, refreshed by every heartbeat.
CREATE TABLE workers (
    worker_id     text PRIMARY KEY,
    host_name     text        NOT NULL,
    runtimes      text        NOT NULL,
    slots         integer     NOT NULL,
    active_runs   integer     NOT NULL,
    draining      boolean     NOT NULL,
    started_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
