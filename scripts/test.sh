#!/usr/bin/env bash
# Runs every test in Workers.sln on a Debian machine, as root.
#
#   bash scripts/test.sh                 # install/start RabbitMQ + PostgreSQL if needed, build, test
#   RABBITMQ_URL=amqp://u:p@host:5672/ POSTGRES_URL='Host=...;Username=...;Password=...' bash scripts/test.sh
#
# Idempotent: on a machine where everything is installed and running it only checks, then builds and tests.
# A service whose URL is already set in the environment is used as given and neither installed nor started.
#
# Environment read:
#   RABBITMQ_URL             AMQP URL of a broker (default: local rabbitmq-server, amqp://guest:guest@127.0.0.1:5672/)
#   RABBITMQ_MANAGEMENT_URL  its management API with credentials (default: http://guest:guest@127.0.0.1:15672/)
#   POSTGRES_URL             Npgsql connection string of a server where the user may CREATE DATABASE
#   TEST_CONFIGURATION       Release (default) or Debug
#   TEST_FILTER              passed to `dotnet test --filter` (e.g. 'FullyQualifiedName~Runs')
#   TEST_HANG_TIMEOUT        a single test running longer than this is killed and reported (default 15m)
#   TEST_OUTPUT_LINES        lines of a failed test's captured output shown on the console (default 150; all in the log)
# Output: service and build logs go to artifacts/test-logs/, TRX results to artifacts/test-results/; the last line
# is "N passed, N failed[, N skipped]". Exits non-zero if a test failed, none ran, or anything before failed.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

configuration=${TEST_CONFIGURATION:-Release}
log_dir="$repo_root/artifacts/test-logs"
results_dir="$repo_root/artifacts/test-results"
mkdir -p "$log_dir"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a noisy command with its output in a log file; on failure shows the log's tail and stops.
quietly() {
  local name=$1; shift
  local log="$log_dir/$name.log"
  if ! "$@" >"$log" 2>&1; then
    printf 'error: "%s" failed; last lines of %s:\n' "$*" "$log" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

# Polls a command until it succeeds or the timeout (seconds) passes.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${timeout}s (logs: $log_dir, /var/log/rabbitmq, /var/log/postgresql)"
    sleep 1
  done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root: run as root, or set RABBITMQ_URL and POSTGRES_URL to services you run yourself"
}
command -v dotnet >/dev/null 2>&1 || die "the .NET SDK (see global.json) is not installed: dotnet not found on PATH"

use_local_rabbit=false
use_local_postgres=false
[ -n "${RABBITMQ_URL:-}" ] || use_local_rabbit=true
[ -n "${POSTGRES_URL:-}" ] || use_local_postgres=true

setup_started=$SECONDS

# ---- 1. Debian packages (apt-get update only when something is missing) -----------------------------------
missing=()
if $use_local_rabbit && [ ! -x /usr/sbin/rabbitmq-server ]; then missing+=(rabbitmq-server); fi
if $use_local_postgres && ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then missing+=(postgresql); fi
if [ -f tests/producers/node/package.json ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# Workers clone run workspaces with git; the workspace tests build their repositories with it.
command -v git >/dev/null 2>&1 || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
  need_root "installing ${missing[*]}"
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  quietly apt-update apt-get update -qq
  quietly apt-install apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---- 2. RabbitMQ ----------------------------------------------------------------------------------------------
if $use_local_rabbit; then
  need_root "starting the local RabbitMQ"
  if ! tcp_open 127.0.0.1 5672 || ! rabbitmqctl -q status >/dev/null 2>&1; then
    # Enabled while stopped (--offline only writes enabled_plugins), the plugin starts with the node.
    grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins \
      || quietly rabbitmq-plugins rabbitmq-plugins --offline enable rabbitmq_management
    say "starting rabbitmq-server"
    quietly rabbitmq-start service rabbitmq-server start
  fi
  wait_for "RabbitMQ (rabbitmqctl await_startup)" 120 timeout 10 rabbitmqctl -q await_startup
  # A node that was already running (or still booting from the package's own start) may lack the plugin: enabling
  # it online is idempotent.
  tcp_open 127.0.0.1 15672 || quietly rabbitmq-plugins rabbitmq-plugins enable rabbitmq_management
  wait_for "the RabbitMQ management API on port 15672" 60 tcp_open 127.0.0.1 15672
  export RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672/"
  export RABBITMQ_MANAGEMENT_URL=${RABBITMQ_MANAGEMENT_URL:-http://guest:guest@127.0.0.1:15672/}
else
  say "using RABBITMQ_URL from the environment"
  export RABBITMQ_MANAGEMENT_URL=${RABBITMQ_MANAGEMENT_URL:-http://guest:guest@127.0.0.1:15672/}
fi

# ---- 3. PostgreSQL --------------------------------------------------------------------------------------------
if $use_local_postgres; then
  need_root "starting the local PostgreSQL"
  # The Debian package creates a cluster; recreate one if it was dropped.
  if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    quietly pg-createcluster pg_createcluster "$pg_version" main
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting postgresql"
    quietly postgresql-start service postgresql start
  fi
  wait_for "PostgreSQL (pg_isready on 127.0.0.1:5432)" 60 pg_isready -q -h 127.0.0.1 -p 5432
  # ALTER as well as CREATE so a role left with another password or without CREATEDB is put right.
  quietly postgres-role runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt -d postgres -c "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'workers') THEN
        CREATE ROLE workers LOGIN CREATEDB PASSWORD 'workers';
      ELSE
        ALTER ROLE workers LOGIN CREATEDB PASSWORD 'workers';
      END IF;
    END \$\$;"
  export POSTGRES_URL="Host=127.0.0.1;Port=5432;Username=workers;Password=workers;Database=postgres"
else
  say "using POSTGRES_URL from the environment"
fi

# ---- 4. Node producer's packages ----------------------------------------------------------------------------
if [ -f tests/producers/node/package.json ]; then
  if [ ! -d tests/producers/node/node_modules ] || [ tests/producers/node/package.json -nt tests/producers/node/node_modules ]; then
    say "npm install (tests/producers/node)"
    (cd tests/producers/node && quietly npm-install npm install --no-audit --no-fund)
    touch tests/producers/node/node_modules
  fi
fi

say "services ready in $((SECONDS - setup_started))s"

# ---- 5. Build and test ----------------------------------------------------------------------------------------
say "dotnet build Workers.sln -c $configuration"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! dotnet build Workers.sln -c "$configuration" -nologo -v q -clp:"NoSummary;ErrorsOnly" >"$log_dir/build.log" 2>&1; then
  grep -E ': (error|warning) ' "$log_dir/build.log" | sort -u | head -n 60 >&2 || tail -n 60 "$log_dir/build.log" >&2
  die "build failed (full log: $log_dir/build.log)"
fi

rm -rf "$results_dir"
say "dotnet test Workers.sln -c $configuration"
test_args=(
  test Workers.sln -c "$configuration" --no-build --nologo
  --results-directory "$results_dir"
  # One TRX per test assembly; the default names are timestamps, made unique by the logger ([1], [2], ...).
  --logger trx
  --logger "console;verbosity=normal"
  --blame-hang-timeout "${TEST_HANG_TIMEOUT:-15m}" --blame-hang-dump-type none
)
[ -z "${TEST_FILTER:-}" ] || test_args+=(--filter "$TEST_FILTER")
set +e  # a failing test run must still reach the summary
dotnet "${test_args[@]}" 2>&1 | tee "$log_dir/test.log" | awk -v max="${TEST_OUTPUT_LINES:-150}" -v logfile="$log_dir/test.log" '
  # The full output is in the log. The console keeps per-test results and failures, and only the last max lines
  # of the output captured from one failed test (a test that echoes a child process can write thousands).
  function flush_block(   i, first) {
    if (n > max) printf "  ... %d earlier lines in %s\n", n - max, logfile
    first = n > max ? n - max + 1 : 1
    for (i = first; i <= n; i++) print buf[i % max]
    n = 0; inblock = 0
  }
  /^\[xUnit\.net / || /^Data collector / || /^A total of [0-9]+ test files matched/ || /^Additionally, path to test adapters/ || /^Test run for / || /^Results File: / || /^ Total time: / || /^[[:space:]]*$/ { next }
  inblock && (/^  (Passed|Failed|Skipped) / || /^Test Run / || /^  (Error Message|Stack Trace):/) { flush_block() }
  /^  Standard (Output|Error) Messages:/ { print; inblock = 1; n = 0; next }
  inblock { buf[++n % max] = $0; next }
  { print; fflush() }
  END { if (inblock) flush_block() }'
test_rc=${PIPESTATUS[0]}
set -e
find "$results_dir" -mindepth 1 -type d -empty -delete 2>/dev/null || true

# ---- 6. Summary from the TRX files ----------------------------------------------------------------------------
summary_rc=0
python3 "$repo_root/scripts/trx-summary.py" "$results_dir" || summary_rc=$?
if [ "$test_rc" -ne 0 ] && [ "$summary_rc" -eq 0 ]; then
  echo "error: dotnet test exited with $test_rc although no test failed (see $log_dir/test.log)" >&2
  exit "$test_rc"
fi
exit "$summary_rc"
