#!/usr/bin/env bash
# `make bench`: runs the benchmarks and writes bench/report (results.json,
# REPORT.md, latency.png). Installs what it needs from Debian's packages the
# first time (wrk, Go, Go kit 0.10) and builds the Go programs offline.
#
#   BENCH_ROUNDS=5    transport rounds (every server measured once per round)
#   BENCH_TRANSPORT_SECONDS=3  seconds per transport measurement
#   BENCH_SECONDS=5   seconds per step through the stack
#   BENCH_STACK=auto  auto: run the stack part when `make up`'s stack is healthy;
#                     1: require it; 0: skip it
#   BENCH_TRACING_TOGGLE=1  0: skip the stack's tracing-off run (it recreates
#                     the kitcore services)
#   BENCH_PROFILE=0   1: also profile the kitcore servers under load (py-spy)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
OUT=build/bench
RESULTS=$OUT/results
STEP_SECONDS=${BENCH_SECONDS:-5}
TRANSPORT_SECONDS=${BENCH_TRANSPORT_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-5}
STACK=${BENCH_STACK:-auto}
export PYTHONPATH=${PYTHONPATH:-services:build/gen}

install_tools() {
  local need=()
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v go >/dev/null 2>&1 || need+=(golang-go)
  [ -d /usr/share/gocode/src/github.com/go-kit/kit ] || need+=(golang-github-go-kit-kit-dev)
  [ -d /usr/share/gocode/src/github.com/prometheus/client_golang ] \
    || need+=(golang-github-prometheus-client-golang-dev)
  [ -d /usr/share/gocode/src/google.golang.org/grpc ] || need+=(golang-google-grpc-dev)
  [ ${#need[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${need[*]} (install them with your package manager)" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
}

# Go in GOPATH mode against Debian's packaged sources: no module proxy, no network.
go_build() {
  local out=$1 src=$2
  if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -name '*.go')" ]; then
    echo "building $out"
    CGO_ENABLED=0 GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off \
      GOCACHE="$PWD/$OUT/gocache" go build -o "$out" "./$src"
  fi
}

install_tools
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.txt
go_build "$OUT/gokitbench" bench/gokit
go_build "$OUT/loadgen" bench/loadgen

echo "== load on the machine before the run"
uptime
ps -eo pcpu,rss,comm --sort=-pcpu | head -6

echo "== middleware cost per call (bench/bench_middleware.py)"
$PY bench/bench_middleware.py | tee "$RESULTS/middleware.txt"

echo "== client cost per call: HTTP clients, the shelf read's SQL (bench/bench_clients.py)"
$PY bench/bench_clients.py | tee "$RESULTS/clients.txt"

echo "== transport cost: kitcore vs Flask/grpcio, Go kit vs net/http"
$PY bench/bench_transport.py --seconds "$TRANSPORT_SECONDS" --rounds "$ROUNDS" \
  --out "$RESULTS/transport.json"

if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  echo "== profiles of the kitcore servers under load (py-spy)"
  $PY bench/profile_servers.py --out "$RESULTS/profile.json"
fi

if [ "$STACK" != 0 ]; then
  echo "== through the stack"
  stack_args=(--seconds "$STEP_SECONDS" --out "$RESULTS/stack.json")
  [ "$STACK" = 1 ] && stack_args+=(--require)
  [ "${BENCH_TRACING_TOGGLE:-1}" = 0 ] && stack_args+=(--no-tracing-toggle)
  $PY bench/bench_stack.py "${stack_args[@]}"
fi

echo "== report"
$PY bench/report.py --results "$RESULTS" --out bench/report
# The figures in docs/benchmarks.md come from the report just written.
$PY bench/docs_figures.py
