#!/usr/bin/env bash
# Fails the first attempt (non-zero exit, which the process runtime treats as retryable), succeeds on later ones.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

input=$(cat)
if [[ ${WORKERS_ATTEMPT:-1} == 1 ]]; then
  echo "flaky: failing attempt 1 on purpose" >&2
  exit 3
fi
emit_result "Succeeded on attempt $WORKERS_ATTEMPT: $input"
