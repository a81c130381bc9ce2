#!/usr/bin/env bash
# A Ray cluster of several nodes on this one machine: a head and worker nodes, each a
# `ray start --block` in a process group of its own, so one node can be stopped alone —
# the way a cluster loses a machine — and nothing else Ray on the machine is touched
# (this script never runs `ray stop`, which would stop every Ray here: a `make run`, a
# test session).
#
#   cluster/local.sh up [--dir DIR] [--port 6380] [--dashboard-port 8265] [--workers 1]
#                       [--head-cpus 4] [--worker-cpus 4] [--object-store-mb 1024]
#   source DIR/env    # RAY_ADDRESS, PULSE_RAY_ADDRESS, PULSE_JOBS_URL, the cluster's token
#   PULSE_DATA_DIR=DIR/pulse pulse serve
#   cluster/local.sh stop-worker 1 [--dir DIR]   # stop one worker node (SIGTERM, then KILL)
#   cluster/local.sh status [--dir DIR]
#   cluster/local.sh down [--dir DIR]       # stop every node, remove Ray's session files
#
# The head's GCS port defaults to 6380: Redis often holds Ray's default, 6379. Worker
# nodes get the label pulse-node=worker-N (the head pulse-node=head), and every node's
# own ports (dashboard agent, metrics, workers) are picked free, so nodes do not collide
# with each other or with another Ray on the machine. The cluster has a token of its own
# (DIR/auth_token, Ray's token auth). RAY_* variables exported before `up` reach every
# node (e.g. RAY_SERVE_THROUGHPUT_OPTIMIZED=1).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv_bin="$here/../.venv/bin"
RAY="${RAY:-$([ -x "$venv_bin/ray" ] && echo "$venv_bin/ray" || echo ray)}"
PYTHON="${PYTHON:-$([ -x "$venv_bin/python" ] && echo "$venv_bin/python" || echo python3)}"

dir=".pulse/cluster" port=6380 dashboard_port=8265 workers=1 head_cpus=4 worker_cpus=4
object_store_mb=1024
grace_s=15 start_timeout_s=120

usage() {
  local code="${1:-0}"
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" \
    >&$((code ? 2 : 1))
  exit "$code"
}
die() { echo "local.sh: $*" >&2; exit 1; }

command="${1:-}"; [ -n "$command" ] || usage 1; shift
index=""
if [ "$command" = "stop-worker" ]; then
  index="${1:-}"
  [[ "$index" =~ ^[0-9]+$ ]] || die "stop-worker needs the worker's number (stop-worker 1)"
  shift
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2" ;;
    --port) port="$2" ;;
    --dashboard-port) dashboard_port="$2" ;;
    --workers) workers="$2" ;;
    --head-cpus) head_cpus="$2" ;;
    --worker-cpus) worker_cpus="$2" ;;
    --object-store-mb) object_store_mb="$2" ;;
    -h|--help) usage 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift 2
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs one node in the background as the leader of a new process group; records its pid.
start_node() {
  local name="$1"; shift
  setsid "$RAY" start --block --disable-usage-stats --temp-dir "$(cat "$dir/temp-dir")" \
    --min-worker-port 0 --max-worker-port 0 --object-store-memory $((object_store_mb << 20)) \
    --dashboard-agent-listen-port "$(free_port)" --metrics-export-port "$(free_port)" \
    --labels "pulse-node=$name" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

wait_started() {
  local name="$1" deadline=$((SECONDS + start_timeout_s))
  until grep -q "Ray runtime started" "$dir/$name.log" 2>/dev/null; do
    kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || die "$name exited: $(tail -5 "$dir/$name.log")"
    [ $SECONDS -lt $deadline ] || die "$name did not start in ${start_timeout_s}s ($dir/$name.log)"
    sleep 0.5
  done
}

# SIGTERM to the node's whole process group (raylet, agents, its workers): the raylet
# tells the GCS it is leaving, so the cluster reacts at once; KILL what is left after
# the grace. Returns once no process of the group is left.
stop_node() {
  local name="$1" pid
  [ -f "$dir/$name.pid" ] || return 0
  pid="$(cat "$dir/$name.pid")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq $((grace_s * 2))); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  while kill -0 -- "-$pid" 2>/dev/null; do sleep 0.2; done
  rm -f "$dir/$name.pid"
  echo "stopped $name"
}

nodes() { for f in "$dir"/*.pid; do [ -e "$f" ] && basename "$f" .pid; done; }

down() {
  for name in $(nodes | grep -v '^head$'); do stop_node "$name"; done
  stop_node head
  [ ! -f "$dir/temp-dir" ] || rm -rf "$(cat "$dir/temp-dir")"
  rm -f "$dir/env" "$dir/temp-dir" "$dir/auth_token"
}

case "$command" in
  up)
    [ -z "$(nodes)" ] || die "a cluster is already up in $dir (local.sh down --dir $dir)"
    # Ray's session files (logs, sockets); unix socket paths must fit in ~107 bytes.
    echo "${TMPDIR:-/tmp}/pulse-ray-$port" >"$dir/temp-dir"
    # A token of the cluster's own, given to every node explicitly: left to itself a
    # head enables token auth when ~/.ray/auth_token exists (any local ray.init() makes
    # one) while a joining node does not, and the worker is refused.
    (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32), end="")' \
      >"$dir/auth_token")
    export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$dir/auth_token"
    unset RAY_AUTH_TOKEN
    trap 'echo "local.sh: up failed; stopping what started" >&2; down' EXIT
    start_node head --head --port "$port" --num-cpus "$head_cpus" \
      --include-dashboard true --dashboard-host 127.0.0.1 --dashboard-port "$dashboard_port" \
      --ray-client-server-port "$(free_port)"
    wait_started head
    for i in $(seq "$workers"); do
      # One log monitor per machine (the head's), or every log line reaches drivers twice.
      start_node "worker-$i" --address "127.0.0.1:$port" --num-cpus "$worker_cpus" \
        --include-log-monitor false
    done
    for i in $(seq "$workers"); do wait_started "worker-$i"; done
    trap - EXIT
    cat >"$dir/env" <<EOF
export RAY_ADDRESS=127.0.0.1:$port
export PULSE_RAY_ADDRESS=127.0.0.1:$port
export PULSE_JOBS_URL=http://127.0.0.1:$dashboard_port
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH=$dir/auth_token
EOF
    echo "Ray head on 127.0.0.1:$port (dashboard http://127.0.0.1:$dashboard_port), $workers worker node(s)."
    echo "source $dir/env to point pulse and ray at it; logs in $dir/*.log"
    ;;
  stop-worker)
    [ -f "$dir/worker-$index.pid" ] || die "no worker-$index in $dir"
    stop_node "worker-$index"
    ;;
  status)
    for name in $(nodes); do
      if kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then echo "$name up"; else echo "$name down"; fi
    done
    ;;
  down) down ;;
  *) usage 1 ;;
esac
