#!/usr/bin/env bash
# Where `voicetrace serve` spends its CPU under the ingest benchmark's load: perf samples the
# receiver (pinned to one CPU, as in scripts/bench-ingest.sh) while voicetrace-loadgen sends it
# requests of BATCH spans as fast as it accepts them, and inferno draws the flame graph (an SVG
# that opens in a browser: hover a frame for its share, click to zoom; frames narrower than a
# pixel are left out, which keeps it near 200 KB).
#
# Usage: scripts/profile-ingest.sh [BATCH] [OUT]
#   BATCH  spans per request (default 512)
#   OUT    the SVG (default docs/ingest-profile-BATCH.svg); the folded stacks are kept beside
#          it in target/ (ingest-profile-BATCH.folded) for grep and diff
# Environment: DURATION (s, default 10), CALLS (default 200), TURNS (default 6), CONNECTIONS
#   (default 4), FREQ (samples per second, default 499), RECV_CPU (0), GEN_CPU (1).
# Needs perf (Debian: linux-perf) and inferno (`cargo install inferno`).
set -euo pipefail
cd "$(dirname "$0")/.."

BATCH=${1:-512}
OUT=${2:-docs/ingest-profile-$BATCH.svg}
DURATION=${DURATION:-10}
CALLS=${CALLS:-200}
TURNS=${TURNS:-6}
CONNECTIONS=${CONNECTIONS:-4}
FREQ=${FREQ:-499}
RECV_CPU=${RECV_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-target}

for tool in perf inferno-collapse-perf inferno-flamegraph taskset; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (perf: linux-perf; inferno: cargo install inferno)" >&2; exit 1; }
done

echo "building (release): voicetrace, voicetrace-loadgen" >&2
cargo build --release --quiet --features loadgen --bin voicetrace --bin voicetrace-loadgen

WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/data"
taskset -c "$RECV_CPU" "$TARGET/release/voicetrace" serve --otlp-grpc-addr "127.0.0.1:$port" \
  --otlp-http-addr 127.0.0.1:0 --api-addr - --data-dir "$WORK/data" \
  --sink "jsonl:$WORK/calls.jsonl" --grace-ms 200 --idle-timeout-ms 3600000 \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
deadline=$((SECONDS + 30))
until grep -q '^voicetrace listening' "$WORK/serve.out"; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "voicetrace serve did not start" >&2; exit 1; }
  sleep 0.05
done

# DWARF call graphs: the release profile keeps line tables (debug = 1) but no frame pointers.
perf record -q -F "$FREQ" --call-graph dwarf,32768 -p "$PID" -o "$WORK/perf.data" 2>"$WORK/perf.err" &
PERF=$!
taskset -c "$GEN_CPU" "$TARGET/release/voicetrace-loadgen" --protocol grpc \
  --endpoint "http://127.0.0.1:$port" --calls "$CALLS" --turns "$TURNS" \
  --connections "$CONNECTIONS" --batch "$BATCH" --duration "$DURATION" >"$WORK/loadgen.out"
tail -n 1 "$WORK/loadgen.out" >&2
kill -INT "$PERF"
wait "$PERF" || true

mkdir -p "$(dirname "$OUT")" "$TARGET"
folded="$TARGET/ingest-profile-$BATCH.folded"
perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf >"$folded"
inferno-flamegraph --title "voicetrace serve, OTLP/gRPC requests of $BATCH spans ($CALLS calls open x $TURNS turns, $DURATION s)" \
  --width 1600 --minwidth 1 <"$folded" >"$OUT"
echo "wrote $OUT ($(wc -l <"$folded") distinct stacks in $folded)" >&2
