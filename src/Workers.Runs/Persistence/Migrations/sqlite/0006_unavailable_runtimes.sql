-- Runtimes a worker cannot offer, with what is missing and the help URL (JSON array), as its last heartbeat said.
ALTER TABLE workers ADD COLUMN unavailable TEXT;
