# Helpers for the example agents: emit protocol events (docs/process-protocol.md) as JSON lines on stdout.

# json_string TEXT: TEXT as a JSON string literal, quotes included.
json_string() {
  local s
  # Control characters other than tab, newline and carriage return have no short escape; drop them.
  s=$(printf '%s' "$1" | tr -d '\000-\010\013\014\016-\037')
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}

emit_message() { printf '{"type":"message","text":%s}\n' "$(json_string "$1")"; }
emit_usage() { printf '{"type":"usage","steps":%d,"inputTokens":%d,"outputTokens":%d,"costUsd":%s}\n' "$1" "$2" "$3" "$4"; }
emit_result() { printf '{"type":"result","output":%s}\n' "$(json_string "$1")"; }
emit_error() { printf '{"type":"error","message":%s,"retryable":%s}\n' "$(json_string "$1")" "$2"; }
