#!/usr/bin/env bash
# Sleeps for the number of seconds given as input (default 10), one usage event per second, then succeeds.
# For cancellation and crash tests: cancel it, kill its worker, or let it run past a timeout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

input=$(cat)
seconds=${input//[[:space:]]/}
seconds=${seconds:-10}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  emit_error "Input must be a whole number of seconds, got '$input'." false
  exit 1
fi

emit_message "Sleeping for $seconds s."
for ((i = 1; i <= seconds; i++)); do
  sleep 1
  emit_usage 1 0 0 0
done
unit=seconds
((seconds == 1)) && unit=second
emit_result "Slept for $seconds $unit."
