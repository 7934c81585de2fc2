#!/usr/bin/env bash
# Echoes its input back, with a few progress events on the way.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

input=$(cat)
emit_message "Attempt ${WORKERS_ATTEMPT:-1}: read ${#input} characters."
sleep 0.2
printf '{"type":"tool_started","tool":"echo","input":%s}\n' "$(json_string "$input")"
sleep 0.2
printf '{"type":"tool_completed","tool":"echo","output":%s,"isError":false}\n' "$(json_string "$input")"
emit_usage 1 "${#input}" "${#input}" 0
emit_result "$input"
