-- Since when a worker's mailbox has been down (it takes no work meanwhile), as its last heartbeat said; null while it is up.
ALTER TABLE workers ADD COLUMN mailbox_down_since INTEGER;
