#!/usr/bin/env bash
# Always fails with a non-retryable error: the run ends Failed after one attempt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cat >/dev/null
emit_message "About to fail on purpose."
emit_error "The fail agent always fails; this is not a bug." false
exit 1
