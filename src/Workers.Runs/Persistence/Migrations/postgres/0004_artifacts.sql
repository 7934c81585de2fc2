-- What the last accepted attempt left in its workspace (RunArtifacts as JSON): files changed, diff summary, commands, hand-off.
ALTER TABLE runs ADD COLUMN artifacts text;
