-- The event log of every attempt (what the agent did), and the newest checkpoint per run (where a retry resumes).
CREATE TABLE run_events (
    run_id    uuid        NOT NULL,
    attempt   integer     NOT NULL,
    sequence  bigint      NOT NULL,
    at        timestamptz NOT NULL,
    type      text        NOT NULL,
    text      text,
    tool      text,
    call_id   text,
    is_error  boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, attempt, sequence)
);

CREATE TABLE run_checkpoints (
    run_id    uuid PRIMARY KEY,
    attempt   integer     NOT NULL,
    step      integer     NOT NULL,
    state     text        NOT NULL,
    saved_at  timestamptz NOT NULL
);
