-- The event log of every attempt (what the agent did), and the newest checkpoint per run (where a retry resumes).
CREATE TABLE run_events (
    run_id    TEXT    NOT NULL,
    attempt   INTEGER NOT NULL,
    sequence  INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    type      TEXT    NOT NULL,
    text      TEXT,
    tool      TEXT,
    call_id   TEXT,
    is_error  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, attempt, sequence)
);

CREATE TABLE run_checkpoints (
    run_id    TEXT PRIMARY KEY,
    attempt   INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    saved_at  INTEGER NOT NULL
);
