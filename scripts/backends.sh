#!/usr/bin/env bash
# Real backends for the e2e tests, without Docker: Jaeger v2 and an
# OpenTelemetry Collector, both run natively from one `jaeger` binary built
# from Jaeger's Go module (the binary is an OpenTelemetry Collector
# distribution: OTLP receiver, batch/memory_limiter, otlp/otlphttp/debug/
# prometheus exporters, jaeger_storage/jaeger_query extensions).
#
# Usage: scripts/backends.sh <command>
#   build            build the pinned jaeger binary into the cache (only if missing)
#   start            start Jaeger + collector on free 127.0.0.1 ports, wait until
#                    healthy, write $STATE_DIR/backends.env and backends.json
#   stop             stop both, wait for them to exit
#   stop-collector   stop only the collector
#   start-collector  start the collector again on the SAME ports
#   status           print backends.env if both are running (exit 1 otherwise)
#   validate         `jaeger validate` our configs, `docker-compose config -q`
#   bin              print the path of the jaeger binary
#
# Environment:
#   STATE_DIR              where logs, pids and backends.{env,json} go
#                          (default: <repo>/.cache/backends)
#   AGENTBUS_CACHE         binary cache (default: $HOME/.cache/agentbus)
#   JAEGER_BIN             use this jaeger binary instead of building one
#   BACKENDS_START_TIMEOUT seconds to wait for health (default 90)
#   COLLECTOR_DEBUG_VERBOSITY, COLLECTOR_TRACES_EXPORTERS, ... are passed
#   through to the collector (see collector/otel-collector-config.yaml).
set -euo pipefail

# Jaeger's Go module has no /v2 suffix, so the v2.x tags are not Go versions:
# the proxy serves the parallel v1.x tags. v1.76.0 is Jaeger v2.13.0
# (2025-12-03; OpenTelemetry Collector v0.140). Newer v2 releases exist only
# as commits, and the module proxy reachable here refuses every pseudo-version
# of them, so v1.76.0 is the newest buildable pin.
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_MODULE_VERSION=v1.76.0
JAEGER_V2_VERSION=v2.13.0

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTBUS_CACHE="${AGENTBUS_CACHE:-$HOME/.cache/agentbus}"
JAEGER_BIN="${JAEGER_BIN:-$AGENTBUS_CACHE/jaeger-$JAEGER_MODULE_VERSION/jaeger}"
STATE_DIR="${STATE_DIR:-$REPO_ROOT/.cache/backends}"
START_TIMEOUT="${BACKENDS_START_TIMEOUT:-90}"
JAEGER_CONFIG="$REPO_ROOT/scripts/jaeger-test-config.yaml"
COLLECTOR_CONFIG="$REPO_ROOT/collector/otel-collector-config.yaml"
ENV_FILE="$STATE_DIR/backends.env"
JSON_FILE="$STATE_DIR/backends.json"

log() { printf 'backends: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- build
cmd_build() {
  if [[ -x "$JAEGER_BIN" ]]; then
    log "jaeger binary present: $JAEGER_BIN"
    return 0
  fi
  command -v go >/dev/null || die "go is not installed (needed to build $JAEGER_MODULE)"
  local dir
  dir="$(dirname "$JAEGER_BIN")"
  mkdir -p "$dir"
  local work
  work="$(mktemp -d "$AGENTBUS_CACHE/build.XXXXXX")"
  log "building $JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION (Jaeger $JAEGER_V2_VERSION); takes ~10 min on 2 cores"
  local start=$SECONDS
  (
    cd "$work"
    # `go install pkg@version` is refused: jaeger's go.mod has a replace
    # directive. Build it as a tool of a throwaway module instead.
    export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
    go mod init agentbus.local/jaeger-build >/dev/null 2>&1
    go get -tool "$JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION"
    go build -p "${BUILD_PARALLELISM:-2}" -trimpath \
      -ldflags "-s -w -X $JAEGER_MODULE/internal/version.latestVersion=$JAEGER_V2_VERSION" \
      -o "$work/jaeger" "$JAEGER_MODULE/cmd/jaeger"
  ) || { rm -rf "$work"; die "build failed"; }
  mv -f "$work/jaeger" "$JAEGER_BIN"
  rm -rf "$work"
  log "built $JAEGER_BIN in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- helpers
free_ports() { # free_ports N -> N distinct free TCP ports on 127.0.0.1, one a line
  local n="$1"
  if command -v node >/dev/null; then
    node -e '
      const net = require("node:net");
      const n = Number(process.argv[1]); const servers = [];
      (async () => {
        for (let i = 0; i < n; i++) {
          const s = net.createServer();
          await new Promise((res, rej) => { s.once("error", rej); s.listen(0, "127.0.0.1", res); });
          servers.push(s);
        }
        console.log(servers.map((s) => s.address().port).join("\n"));
        for (const s of servers) s.close();
      })().catch((e) => { console.error(e); process.exit(1); });
    ' "$n"
  else
    python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
  fi
}

alive() { # alive PID: running and not a zombie
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  local state
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)"
  [[ "$state" != Z && "$state" != X ]]
}

kill_wait() { # kill_wait PID NAME
  local pid="$1" name="$2" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || { log "$name (pid $pid) stopped"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) did not stop in 10s, killing"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
  die "$name (pid $pid) survived SIGKILL"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

fail_start() { # fail_start NAME LOGFILE MESSAGE
  log "$1 failed to start: $3"
  log "---- last lines of $2 ----"
  tail -n 40 "$2" >&2 || true
  log "----"
  cmd_stop || true
  exit 1
}

wait_healthy() { # wait_healthy NAME PID LOGFILE URL...
  local name="$1" pid="$2" logfile="$3"; shift 3
  local deadline=$((SECONDS + START_TIMEOUT)) url ok
  while :; do
    alive "$pid" || fail_start "$name" "$logfile" "process exited"
    ok=1
    for url in "$@"; do http_ok "$url" || { ok=0; break; }; done
    [[ $ok == 1 ]] && return 0
    ((SECONDS < deadline)) || fail_start "$name" "$logfile" "not healthy after ${START_TIMEOUT}s ($url)"
    sleep 0.2
  done
}

load_state() {
  [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE (run start first)"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
}

write_state() {
  local tmp="$ENV_FILE.tmp"
  cat >"$tmp" <<EOF
STATE_DIR=$STATE_DIR
JAEGER_BIN=$JAEGER_BIN
JAEGER_VERSION=$JAEGER_V2_VERSION
JAEGER_PID=$JAEGER_PID
COLLECTOR_PID=$COLLECTOR_PID
JAEGER_QUERY_URL=http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT
JAEGER_QUERY_GRPC_ENDPOINT=127.0.0.1:$JAEGER_QUERY_GRPC_PORT
JAEGER_OTLP_GRPC_ENDPOINT=127.0.0.1:$JAEGER_OTLP_GRPC_PORT
JAEGER_OTLP_HTTP_ENDPOINT=http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT
OTLP_HTTP_ENDPOINT=http://127.0.0.1:$COLLECTOR_OTLP_HTTP_PORT
OTLP_GRPC_ENDPOINT=http://127.0.0.1:$COLLECTOR_OTLP_GRPC_PORT
PROMETHEUS_METRICS_URL=http://127.0.0.1:$COLLECTOR_PROMETHEUS_PORT/metrics
COLLECTOR_HEALTH_URL=http://127.0.0.1:$COLLECTOR_HEALTH_PORT/
JAEGER_QUERY_HTTP_PORT=$JAEGER_QUERY_HTTP_PORT
JAEGER_QUERY_GRPC_PORT=$JAEGER_QUERY_GRPC_PORT
JAEGER_OTLP_GRPC_PORT=$JAEGER_OTLP_GRPC_PORT
JAEGER_OTLP_HTTP_PORT=$JAEGER_OTLP_HTTP_PORT
COLLECTOR_OTLP_GRPC_PORT=$COLLECTOR_OTLP_GRPC_PORT
COLLECTOR_OTLP_HTTP_PORT=$COLLECTOR_OTLP_HTTP_PORT
COLLECTOR_PROMETHEUS_PORT=$COLLECTOR_PROMETHEUS_PORT
COLLECTOR_HEALTH_PORT=$COLLECTOR_HEALTH_PORT
EOF
  mv -f "$tmp" "$ENV_FILE"
  # JSON: numbers for pids/ports, strings for the rest (values have no quotes).
  local first=1 key value
  {
    printf '{\n'
    while IFS='=' read -r key value; do
      [[ $first == 1 ]] || printf ',\n'
      first=0
      if [[ "$value" =~ ^[0-9]+$ ]]; then
        printf '  "%s": %s' "$key" "$value"
      else
        printf '  "%s": "%s"' "$key" "$value"
      fi
    done <"$ENV_FILE"
    printf '\n}\n'
  } >"$JSON_FILE.tmp"
  mv -f "$JSON_FILE.tmp" "$JSON_FILE"
}

launch_collector() {
  local logfile="$STATE_DIR/collector.log"
  COLLECTOR_OTLP_GRPC_ENDPOINT="127.0.0.1:$COLLECTOR_OTLP_GRPC_PORT" \
  COLLECTOR_OTLP_HTTP_ENDPOINT="127.0.0.1:$COLLECTOR_OTLP_HTTP_PORT" \
  COLLECTOR_JAEGER_ENDPOINT="127.0.0.1:$JAEGER_OTLP_GRPC_PORT" \
  COLLECTOR_PROMETHEUS_ENDPOINT="127.0.0.1:$COLLECTOR_PROMETHEUS_PORT" \
  COLLECTOR_HEALTH_ENDPOINT="127.0.0.1:$COLLECTOR_HEALTH_PORT" \
    nohup "$JAEGER_BIN" --config "$COLLECTOR_CONFIG" </dev/null >>"$logfile" 2>&1 &
  COLLECTOR_PID=$!
  echo "$COLLECTOR_PID" >"$STATE_DIR/collector.pid"
  wait_healthy collector "$COLLECTOR_PID" "$logfile" \
    "http://127.0.0.1:$COLLECTOR_HEALTH_PORT/" \
    "http://127.0.0.1:$COLLECTOR_PROMETHEUS_PORT/metrics"
  log "collector up (pid $COLLECTOR_PID): OTLP http://127.0.0.1:$COLLECTOR_OTLP_HTTP_PORT grpc 127.0.0.1:$COLLECTOR_OTLP_GRPC_PORT"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  if [[ -f "$ENV_FILE" ]]; then
    local JAEGER_PID="" COLLECTOR_PID=""
    # shellcheck disable=SC1090
    source "$ENV_FILE"
    if alive "$JAEGER_PID" || alive "$COLLECTOR_PID"; then
      die "already running (see $ENV_FILE); run stop first"
    fi
  fi
  command -v curl >/dev/null || die "curl is required"
  [[ -x "$JAEGER_BIN" ]] || cmd_build
  mkdir -p "$STATE_DIR"
  rm -f "$ENV_FILE" "$JSON_FILE" "$STATE_DIR"/*.pid
  : >"$STATE_DIR/jaeger.log"
  : >"$STATE_DIR/collector.log"

  local ports
  mapfile -t ports < <(free_ports 8)
  [[ ${#ports[@]} == 8 ]] || die "could not pick free ports"
  JAEGER_QUERY_HTTP_PORT=${ports[0]}
  JAEGER_QUERY_GRPC_PORT=${ports[1]}
  JAEGER_OTLP_GRPC_PORT=${ports[2]}
  JAEGER_OTLP_HTTP_PORT=${ports[3]}
  COLLECTOR_OTLP_GRPC_PORT=${ports[4]}
  COLLECTOR_OTLP_HTTP_PORT=${ports[5]}
  COLLECTOR_PROMETHEUS_PORT=${ports[6]}
  COLLECTOR_HEALTH_PORT=${ports[7]}
  JAEGER_PID="" COLLECTOR_PID=""

  local jlog="$STATE_DIR/jaeger.log"
  JAEGER_QUERY_HTTP_ENDPOINT="127.0.0.1:$JAEGER_QUERY_HTTP_PORT" \
  JAEGER_QUERY_GRPC_ENDPOINT="127.0.0.1:$JAEGER_QUERY_GRPC_PORT" \
  JAEGER_OTLP_GRPC_ENDPOINT="127.0.0.1:$JAEGER_OTLP_GRPC_PORT" \
  JAEGER_OTLP_HTTP_ENDPOINT="127.0.0.1:$JAEGER_OTLP_HTTP_PORT" \
    nohup "$JAEGER_BIN" --config "$JAEGER_CONFIG" </dev/null >>"$jlog" 2>&1 &
  JAEGER_PID=$!
  echo "$JAEGER_PID" >"$STATE_DIR/jaeger.pid"
  # The pid files let `stop` clean up even if we die before writing the env file.
  wait_healthy jaeger "$JAEGER_PID" "$jlog" \
    "http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT/api/services"
  log "jaeger up (pid $JAEGER_PID): query http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT"

  launch_collector
  write_state
  log "state: $ENV_FILE, $JSON_FILE"
  cat "$ENV_FILE"
}

cmd_stop() {
  local JAEGER_PID="" COLLECTOR_PID=""
  [[ -f "$STATE_DIR/collector.pid" ]] && COLLECTOR_PID="$(cat "$STATE_DIR/collector.pid")"
  [[ -f "$STATE_DIR/jaeger.pid" ]] && JAEGER_PID="$(cat "$STATE_DIR/jaeger.pid")"
  kill_wait "$COLLECTOR_PID" collector
  kill_wait "$JAEGER_PID" jaeger
  rm -f "$STATE_DIR"/*.pid
}

cmd_stop_collector() {
  load_state
  kill_wait "$COLLECTOR_PID" collector
}

cmd_start_collector() {
  load_state
  alive "$JAEGER_PID" || die "jaeger (pid $JAEGER_PID) is not running"
  if alive "$COLLECTOR_PID"; then
    log "collector already running (pid $COLLECTOR_PID)"
    return 0
  fi
  launch_collector
  write_state
}

cmd_status() {
  load_state
  alive "$JAEGER_PID" || die "jaeger (pid $JAEGER_PID) is not running"
  alive "$COLLECTOR_PID" || die "collector (pid $COLLECTOR_PID) is not running"
  cat "$ENV_FILE"
}

cmd_validate() {
  [[ -x "$JAEGER_BIN" ]] || cmd_build
  log "jaeger validate $COLLECTOR_CONFIG"
  "$JAEGER_BIN" validate --config "$COLLECTOR_CONFIG"
  log "jaeger validate $JAEGER_CONFIG"
  "$JAEGER_BIN" validate --config "$JAEGER_CONFIG"
  log "docker-compose config -q"
  if command -v docker-compose >/dev/null; then
    (cd "$REPO_ROOT" && docker-compose -f docker-compose.yml config -q)
  elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
    (cd "$REPO_ROOT" && docker compose -f docker-compose.yml config -q)
  else
    die "neither docker-compose nor docker compose is installed"
  fi
  log "configs valid"
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  stop-collector) cmd_stop_collector ;;
  start-collector) cmd_start_collector ;;
  status) cmd_status ;;
  validate) cmd_validate ;;
  bin) echo "$JAEGER_BIN" ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
