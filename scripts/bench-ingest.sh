#!/usr/bin/env bash
# Ingest benchmark: rotel (`--exporter blackhole`: decode and drop) against `voicetrace serve`
# (decode, assemble, analyse, store in SQLite, write the jsonl sink), under the same load from
# the same generator (`voicetrace-loadgen`, tools/loadgen/), in one run on this machine.
#
# Each receiver is pinned to one CPU and the generator to another (taskset), so the receiver's
# CPU time is its own. For each load (LOADS: 200 calls open × 6 turns, then 1000 × 20) and each
# batch size (512 and 8 spans per request) it runs rotel, voicetrace and voicetrace
# `--no-journal` as fast as each accepts, and prints spans per CPU-second of the receiver (spans
# accepted / (utime + stime) from /proc/PID/stat, counted from after start-up until everything
# sent is processed: for voicetrace, until every call log is in the jsonl sink), the
# voicetrace/rotel ratio, the journal's cost (with / without) and the receiver's peak RSS
# (VmHWM). Then it offers voicetrace half the load it accepted (LATENCY_LOAD), paced, and
# reports the call-log latency (root span end → call log stored, p50 / p99 / max, from the
# store): at capacity a latency is the time spent queued in front of a saturated receiver. It
# also measures memory per buffered span: with a grace period longer than the run, every call
# stays in memory; (VmRSS after − VmRSS before) / spans.
#
# Usage: scripts/bench-ingest.sh [--only rotel|voicetrace] [--journal-cost | --postgres] [--write]
#   --journal-cost  only voicetrace with its span journal against voicetrace `--no-journal`
#                   (what making "accepted" durable costs), for CALLS × TURNS
#   --postgres      instead of rotel against voicetrace: voicetrace on its SQLite store against
#                   one receiver on a PostgreSQL store, then three receivers on one PostgreSQL
#                   (the load split by call between three generators, as the Collector's
#                   loadbalancing exporter splits it by trace id). A throwaway cluster (Debian's
#                   postgresql, default settings: each commit synced) runs on the receivers' CPU;
#                   its CPU time is reported beside theirs, and spans per CPU-second count both.
#   --write   replace the results tables in BENCHMARKS.md (one per load; the journal table with
#             --journal-cost, the PostgreSQL one with --postgres)
# Environment: DURATION (s, default 10), LOADS (default "200x6 1000x20"; CALLS and/or TURNS set
#   instead mean that one load, and are the load of --journal-cost and --postgres: default 200
#   × 6), CONNECTIONS (default 4), BATCHES (default "512 8"), LATENCY_LOAD (default 0.5),
#   RECV_CPU (0), GEN_CPU (1), BUFFERED_SPANS (default 150000), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=""
WRITE=0
JOURNAL_COST=0
POSTGRES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="$2"; shift 2 ;;
    --journal-cost) JOURNAL_COST=1; shift ;;
    --postgres) POSTGRES=1; shift ;;
    --write) WRITE=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

DURATION=${DURATION:-10}
# The default mode's loads, CALLS×TURNS each: the default one and 1000 calls open of 20 turns,
# or only CALLS×TURNS when either is set.
if [ -z "${LOADS:-}" ]; then
  if [ -n "${CALLS:-}${TURNS:-}" ]; then LOADS="${CALLS:-200}x${TURNS:-6}"; else LOADS="200x6 1000x20"; fi
fi
CALLS=${CALLS:-200}
TURNS=${TURNS:-6}
CONNECTIONS=${CONNECTIONS:-4}
BATCHES=${BATCHES:-"512 8"}
RECV_CPU=${RECV_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
# The receivers' grace after a root (the call-log latency target is this + 50 ms).
GRACE_MS=200
# The latency run's offered load, as a fraction of what voicetrace accepted at capacity.
LATENCY_LOAD=${LATENCY_LOAD:-0.5}
# Below the receiver's default bound on calls held at once (10 000 calls of ~22 spans).
BUFFERED_SPANS=${BUFFERED_SPANS:-150000}
TARGET=${CARGO_TARGET_DIR:-target}
CLK_TCK=$(getconf CLK_TCK)

command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (receiver and generator pinned apart)" >&2; exit 1; }

ROTEL=$(scripts/setup-test-env.sh | sed -n 's/^rotel: //p')
echo "building (release): voicetrace-loadgen${ONLY:+ only for $ONLY}, voicetrace" >&2
if [ "$ONLY" = rotel ]; then
  # The generator needs neither side of the crate: rotel alone builds without the receiver.
  cargo build --release --quiet --no-default-features --features loadgen --bin voicetrace-loadgen
else
  cargo build --release --quiet --features loadgen --bin voicetrace --bin voicetrace-loadgen
fi
VOICETRACE="$TARGET/release/voicetrace"
LOADGEN="$TARGET/release/voicetrace-loadgen"

WORK=$(mktemp -d)
RECEIVER_PID=""
cleanup() {
  if [ -n "$RECEIVER_PID" ] && kill -0 "$RECEIVER_PID" 2>/dev/null; then
    kill "$RECEIVER_PID" 2>/dev/null || true
    wait "$RECEIVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# CPU seconds (user + system) of a process, from /proc/PID/stat fields 14 and 15 (after the
# `(comm)` field, which may hold spaces).
cpu_seconds() {
  local rest
  rest=$(sed 's/^.*) //' "/proc/$1/stat")
  # shellcheck disable=SC2086
  set -- $rest
  # After "(comm) ": field 3 is state, so utime and stime are fields 12 and 13 here.
  echo "scale=3; (${12} + ${13}) / $CLK_TCK" | bc
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

wait_port() {
  local deadline=$((SECONDS + 20))
  until (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "nothing listens on port $1" >&2; exit 1; }
    sleep 0.05
  done
}

start_rotel() {
  local grpc=$1 http
  http=$(free_port)
  taskset -c "$RECV_CPU" "$ROTEL" start --exporter blackhole \
    --otlp-grpc-endpoint "127.0.0.1:$grpc" --otlp-http-endpoint "127.0.0.1:$http" \
    --pid-file "$WORK/rotel.pid" --log-file "$WORK/rotel.log" >"$WORK/rotel.out" 2>&1 &
  RECEIVER_PID=$!
  wait_port "$grpc"
}

# start_voicetrace GRPC_PORT GRACE_MS [FLAGS...]: starts serve, waits for its listening line.
start_voicetrace() {
  local grpc=$1 grace=$2
  shift 2
  rm -rf "$WORK/data" "$WORK/calls.jsonl"
  mkdir -p "$WORK/data"
  : >"$WORK/serve.out"
  taskset -c "$RECV_CPU" "$VOICETRACE" serve --otlp-grpc-addr "127.0.0.1:$grpc" \
    --otlp-http-addr 127.0.0.1:0 --api-addr - --data-dir "$WORK/data" \
    --sink "jsonl:$WORK/calls.jsonl" --grace-ms "$grace" --idle-timeout-ms 3600000 "$@" \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
  RECEIVER_PID=$!
  local deadline=$((SECONDS + 30))
  until grep -q '^voicetrace listening' "$WORK/serve.out"; do
    kill -0 "$RECEIVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "voicetrace serve did not start" >&2; exit 1; }
    sleep 0.05
  done
}

stop_receiver() {
  kill "$RECEIVER_PID" 2>/dev/null || true
  wait "$RECEIVER_PID" 2>/dev/null || true
  RECEIVER_PID=""
}

# run_loadgen PORT BATCH ARGS...: prints the loadgen_result line.
run_loadgen() {
  local port=$1 batch=$2
  shift 2
  taskset -c "$GEN_CPU" "$LOADGEN" --protocol grpc --endpoint "http://127.0.0.1:$port" \
    --calls "$CALLS" --turns "$TURNS" --connections "$CONNECTIONS" --batch "$batch" "$@" \
    >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" || { cat "$WORK/loadgen.out" "$WORK/loadgen.err" >&2; exit 1; }
  tail -n 1 "$WORK/loadgen.out"
}
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# Waits until the jsonl sink holds N call logs (voicetrace has assembled and stored every call).
# Gives up when no new call log arrives for 60 s.
wait_call_logs() {
  local want=$1 deadline=$((SECONDS + 60)) have=0 last=0
  while :; do
    have=$( (cat "$WORK"/calls*.jsonl | wc -l) 2>/dev/null || echo 0)
    [ "$have" -ge "$want" ] && return 0
    if [ "$have" -gt "$last" ]; then last=$have; deadline=$((SECONDS + 60)); fi
    if [ $SECONDS -ge $deadline ]; then
      echo "only $have of $want call logs, none new for 60 s; voicetrace's last errors:" >&2
      grep -v ' INFO ' "$WORK/serve.err" | tail -n 5 >&2
      return 1
    fi
    sleep 0.1
  done
}

declare -A RESULT SENT
ROWS=()

# Call-log latency of the voicetrace run just measured: for every first revision, the time from
# the call's root span end (`endedAt`; loadgen ends a root when its batch is sent) to the call log
# being stored (`stored_at_ms`), read from the store. Prints "p50 / p99 / max" in ms. It includes
# the grace after the root (--grace-ms 200 here) by design.
call_log_latency() {
  if [ -n "${PG_URL:-}" ]; then
    psql -qAtF ' ' "$PG_URL" -c "SELECT stored_at_ms, body::json->>'endedAt' FROM call_logs WHERE revision = 1" >"$WORK/stored.txt"
  else
    python3 - "$WORK/data/voicetrace.db" >"$WORK/stored.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for stored, ended in db.execute(
        "SELECT stored_at_ms, json_extract(body, '$.endedAt') FROM call_logs WHERE revision = 1"):
    print(stored, ended)
EOF
  fi
  python3 - "$WORK/stored.txt" <<'EOF'
import datetime, sys
lat = []
for line in open(sys.argv[1]):
    stored, ended = line.split()
    end = datetime.datetime.fromisoformat(ended.replace("Z", "+00:00")).timestamp() * 1000
    lat.append(int(stored) - end)
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"{pick(0.5):.0f} / {pick(0.99):.0f} / {lat[-1]:.0f}" if lat else "-")
EOF
}

bench() {
  local receiver=$1 batch=$2 port cpu0 cpu1 cpu_load line spans calls hwm rate load_rate latency
  port=$(free_port)
  case "$receiver" in
    rotel) start_rotel "$port" ;;
    voicetrace) start_voicetrace "$port" "$GRACE_MS" ;;
    voicetrace-no-journal) start_voicetrace "$port" "$GRACE_MS" --no-journal ;;
  esac
  cpu0=$(cpu_seconds "$RECEIVER_PID")
  line=$(run_loadgen "$port" "$batch" --duration "$DURATION")
  # CPU while the load ran (decoding, assembly, and whatever storing kept up): the rest is the
  # backlog of finishing and storing call logs.
  cpu_load=$(cpu_seconds "$RECEIVER_PID")
  spans=$(field spans_ok "$line")
  calls=$(field calls "$line")
  if [ "$receiver" != rotel ]; then
    wait_call_logs "$calls"
  else
    sleep 0.5 # rotel's batch timeout (200 ms): its blackhole has seen everything
  fi
  cpu1=$(cpu_seconds "$RECEIVER_PID")
  hwm=$(status_kib "$RECEIVER_PID" VmHWM)
  latency="-"
  [ "$receiver" = rotel ] || latency=$(call_log_latency)
  stop_receiver
  rate=$(echo "scale=0; $spans / ($cpu1 - $cpu0)" | bc)
  load_rate=$(echo "scale=0; $spans / ($cpu_load - $cpu0)" | bc)
  RESULT[$receiver,$batch]=$rate
  SENT[$receiver,$batch]=$(field spans_per_s "$line")
  printf '%-10s batch %-4s %9s spans (%6s calls) %8.2f CPU-s  %9s spans/CPU-s  sent at %8s spans/s  peak RSS %6d MiB  call-log latency p50/p99/max %s ms  retried %s failed %s\n' \
    "$receiver" "$batch" "$spans" "$calls" "$(echo "$cpu1 - $cpu0" | bc)" "$rate" \
    "$(field spans_per_s "$line")" $((hwm / 1024)) "$latency" "$(field retried "$line")" "$(field failed_requests "$line")" >&2
  ROWS+=("| $receiver | $batch | $spans | $calls | $(echo "$cpu1 - $cpu0" | bc) | **$rate** | $load_rate | $(field spans_per_s "$line") | $((hwm / 1024)) | $latency |")
}

# Call-log latency below capacity: the same load offered at LATENCY_LOAD (a fraction) of the
# spans per second voicetrace accepted in its throughput run at this batch size, paced by the
# generator (open loop), for DURATION seconds. At capacity the latency is the time spent in the
# queues in front of a saturated receiver (Little's law), whatever the grace; this run shows
# what a call waits with headroom left. Fills LATENCY[batch] with "p50 / p99 / max" in ms.
declare -A LATENCY
bench_latency() {
  local batch=$1 port line rate calls
  rate=$(echo "scale=0; ${SENT[voicetrace,$batch]} * $LATENCY_LOAD / 1" | bc)
  port=$(free_port)
  start_voicetrace "$port" "$GRACE_MS"
  line=$(run_loadgen "$port" "$batch" --duration "$DURATION" --rate "$rate")
  calls=$(field calls "$line")
  wait_call_logs "$calls"
  LATENCY[$batch]=$(call_log_latency)
  stop_receiver
  echo "voicetrace batch $batch at $rate spans/s offered ($LATENCY_LOAD of capacity): $calls calls, call-log latency p50/p99/max ${LATENCY[$batch]} ms (grace $GRACE_MS ms)" >&2
}

# Memory per buffered span: nothing finishes during the run (grace of an hour).
buffered_memory() {
  local port rss0 rss1 line spans
  port=$(free_port)
  start_voicetrace "$port" 3600000
  sleep 0.5
  rss0=$(status_kib "$RECEIVER_PID" VmRSS)
  line=$(run_loadgen "$port" 512 --spans "$BUFFERED_SPANS")
  spans=$(field spans_ok "$line")
  sleep 1 # let assembly drain its ingest queue
  rss1=$(status_kib "$RECEIVER_PID" VmRSS)
  stop_receiver
  PER_SPAN=$(( (rss1 - rss0) * 1024 / spans ))
  echo "voicetrace buffered $spans spans: RSS $((rss0 / 1024)) → $((rss1 / 1024)) MiB = $PER_SPAN bytes per buffered span" >&2
}

# --journal-cost: the same load into voicetrace with and without its journal.
if [ "$JOURNAL_COST" = 1 ]; then
  for batch in $BATCHES; do
    for receiver in voicetrace voicetrace-no-journal; do
      bench "$receiver" "$batch"
    done
  done
  HEADER="| receiver | batch | spans | calls | receiver CPU-s | spans per CPU-s | spans per CPU-s while loaded | ingest spans/s (generator) | peak RSS MiB | call-log latency p50 / p99 / max ms |"
  RATIOS=""
  for batch in $BATCHES; do
    r=$(printf '%.3f' "$(echo "scale=4; ${RESULT[voicetrace,$batch]} / ${RESULT[voicetrace-no-journal,$batch]}" | bc)")
    RATIOS+="- batch $batch: spans per CPU-second with the journal / without = **${r}x**"$'\n'
  done
  {
    echo "<!-- bench-journal:begin -->"
    echo "Measured $(date -u +%Y-%m-%d) at voicetrace \`$(git describe --always --dirty)\` on $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), ${DURATION} s per run, $CALLS calls open at once × $TURNS turns, $CONNECTIONS gRPC connections."
    echo
    echo "$HEADER"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    printf '%s' "$RATIOS"
    echo "<!-- bench-journal:end -->"
  } >"$WORK/table.md"
  echo
  cat "$WORK/table.md"
  if [ "$WRITE" = 1 ]; then
    python3 - "$WORK/table.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read().rstrip("\n")
text = open("BENCHMARKS.md").read()
new = re.sub(r"<!-- bench-journal:begin -->.*?<!-- bench-journal:end -->", lambda _: table, text, flags=re.S)
open("BENCHMARKS.md", "w").write(new)
EOF
    echo "BENCHMARKS.md updated" >&2
  fi
  exit 0
fi

# --postgres: the SQLite store against one and three receivers on one PostgreSQL.
PG_BIN=""
AS=()
start_postgres() {
  local dir
  for dir in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then PG_BIN=$dir; fi
  done
  [ -n "$PG_BIN" ] || { echo "no PostgreSQL (initdb, pg_ctl): run scripts/setup-test-env.sh" >&2; exit 1; }
  PG_PORT=$(free_port)
  mkdir -p "$WORK/pg"
  # initdb refuses root: the cluster belongs to Debian's postgres user then.
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK" "$WORK/pg"; AS=(runuser -u postgres --); fi
  "${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >/dev/null
  "${AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
  PG_ROOT="postgres://postgres@127.0.0.1:$PG_PORT"
}
stop_postgres() {
  if [ -n "$PG_BIN" ]; then
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  fi
}
# CPU seconds of every process of the cluster (server and connections): its processes are the
# ones whose command line names the cluster's directory or that descend from its server.
pg_cpu() {
  local total=0 pid server
  server=$(head -n 1 "$WORK/pg/data/postmaster.pid")
  for pid in "$server" $(pgrep -P "$server" || true); do
    [ -r "/proc/$pid/stat" ] && total=$(echo "$total + $(cpu_seconds "$pid")" | bc)
  done
  echo "$total"
}

# bench_pg BATCH N: N receivers on a fresh database, the load split between N generators.
bench_pg() {
  local batch=$1 n=$2 db i cpu0 cpu1 pg0 pg1 spans=0 calls=0 sent=0 line hwm=0 rate latency name rcpu pgcpu
  local -a ports=() pids=() gens=()
  db="bench_${batch}_$n"
  psql -q "$PG_ROOT/postgres" -c "CREATE DATABASE $db" >/dev/null
  PG_URL="$PG_ROOT/$db"
  rm -rf "$WORK"/data* "$WORK"/calls*.jsonl
  for i in $(seq 1 "$n"); do
    ports[i]=$(free_port)
    mkdir -p "$WORK/data$i"
    : >"$WORK/serve$i.out"
    taskset -c "$RECV_CPU" "$VOICETRACE" serve --otlp-grpc-addr "127.0.0.1:${ports[i]}" \
      --otlp-http-addr 127.0.0.1:0 --api-addr - --data-dir "$WORK/data$i" --store "$PG_URL" \
      --sink "jsonl:$WORK/calls$i.jsonl" --grace-ms 200 --idle-timeout-ms 3600000 \
      >"$WORK/serve$i.out" 2>"$WORK/serve$i.err" &
    pids[i]=$!
  done
  for i in $(seq 1 "$n"); do
    local deadline=$((SECONDS + 30))
    until grep -q '^voicetrace listening' "$WORK/serve$i.out"; do
      kill -0 "${pids[i]}" 2>/dev/null || { cat "$WORK/serve$i.err" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { echo "voicetrace serve did not start" >&2; exit 1; }
      sleep 0.05
    done
  done
  cpu0=0; for i in $(seq 1 "$n"); do cpu0=$(echo "$cpu0 + $(cpu_seconds "${pids[i]}")" | bc); done
  pg0=$(pg_cpu)
  for i in $(seq 1 "$n"); do
    taskset -c "$GEN_CPU" "$LOADGEN" --protocol grpc --endpoint "http://127.0.0.1:${ports[i]}" \
      --calls $((CALLS / n)) --turns "$TURNS" --connections "$CONNECTIONS" --batch "$batch" \
      --duration "$DURATION" >"$WORK/loadgen$i.out" 2>"$WORK/loadgen$i.err" &
    gens[i]=$!
  done
  for i in $(seq 1 "$n"); do
    wait "${gens[i]}" || { cat "$WORK/loadgen$i.out" "$WORK/loadgen$i.err" >&2; exit 1; }
    line=$(tail -n 1 "$WORK/loadgen$i.out")
    spans=$((spans + $(field spans_ok "$line")))
    calls=$((calls + $(field calls "$line")))
    sent=$(echo "$sent + $(field spans_per_s "$line")" | bc)
  done
  wait_call_logs "$calls"
  cpu1=0
  for i in $(seq 1 "$n"); do
    cpu1=$(echo "$cpu1 + $(cpu_seconds "${pids[i]}")" | bc)
    hwm=$((hwm + $(status_kib "${pids[i]}" VmHWM)))
  done
  pg1=$(pg_cpu)
  latency=$(call_log_latency)
  for i in $(seq 1 "$n"); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  PG_URL=""
  name="voicetrace-pg×$n"
  rcpu=$(echo "$cpu1 - $cpu0" | bc)
  pgcpu=$(echo "$pg1 - $pg0" | bc)
  rate=$(echo "scale=0; $spans / ($rcpu + $pgcpu)" | bc)
  RESULT[$name,$batch]=$rate
  printf '%-16s batch %-4s %9s spans (%6s calls) receivers %8.2f CPU-s  postgres %8.2f CPU-s  %9s spans/CPU-s  call-log latency p50/p99/max %s ms\n' \
    "$name" "$batch" "$spans" "$calls" "$rcpu" "$pgcpu" "$rate" "$latency" >&2
  ROWS+=("| $name | $batch | $spans | $calls | $rcpu | $pgcpu | **$rate** | - | $sent | $((hwm / 1024)) | $latency |")
}

if [ "$POSTGRES" = 1 ]; then
  start_postgres
  trap 'stop_postgres; cleanup' EXIT
  for batch in $BATCHES; do
    bench voicetrace "$batch"
    # The SQLite row in this table's columns: no database server's CPU.
    last=$((${#ROWS[@]} - 1))
    ROWS[last]=$(awk -F'|' -v OFS='|' '{ $7 = " - |" $7; print }' <<<"${ROWS[last]}")
    bench_pg "$batch" 1
    bench_pg "$batch" 3
  done
  HEADER="| store | batch | spans | calls | receivers' CPU-s | postgres CPU-s | spans per CPU-s (both) | spans per CPU-s while loaded | generators' spans/s | peak RSS MiB (sum) | call-log latency p50 / p99 / max ms |"
  RATIOS=""
  for batch in $BATCHES; do
    for n in 1 3; do
      r=$(printf '%.3f' "$(echo "scale=4; ${RESULT[voicetrace-pg×$n,$batch]} / ${RESULT[voicetrace,$batch]}" | bc)")
      RATIOS+="- batch $batch: $n receiver(s) on PostgreSQL / one on SQLite, spans per CPU-second = **${r}x**"$'\n'
    done
  done
  {
    echo "<!-- bench-postgres:begin -->"
    echo "Measured $(date -u +%Y-%m-%d) at voicetrace \`$(git describe --always --dirty)\` on $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), ${DURATION} s per run, $CALLS calls open at once × $TURNS turns, $CONNECTIONS gRPC connections per generator."
    echo
    echo "$HEADER"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    printf '%s' "$RATIOS"
    echo "<!-- bench-postgres:end -->"
  } >"$WORK/table.md"
  echo
  cat "$WORK/table.md"
  if [ "$WRITE" = 1 ]; then
    python3 - "$WORK/table.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read().rstrip("\n")
text = open("BENCHMARKS.md").read()
block = re.compile(r"<!-- bench-postgres:begin -->.*?<!-- bench-postgres:end -->", re.S)
new = block.sub(lambda _: table, text) if block.search(text) else text.rstrip("\n") + "\n\n" + table + "\n"
open("BENCHMARKS.md", "w").write(new)
EOF
    echo "BENCHMARKS.md updated" >&2
  fi
  exit 0
fi

# The default mode: for each load of LOADS (CALLS×TURNS), rotel, voicetrace and voicetrace
# without its journal at each batch size, then voicetrace's latency below capacity; memory per
# buffered span once, before the loads. One table per load.
run_load() {
  CALLS=$1 TURNS=$2
  ROWS=()
  local batch receiver r mark
  for batch in $BATCHES; do
    for receiver in rotel voicetrace voicetrace-no-journal; do
      [ -z "$ONLY" ] || [ "$ONLY" = "${receiver%-no-journal}" ] || continue
      bench "$receiver" "$batch"
    done
    [ -n "$ONLY" ] && [ "$ONLY" != voicetrace ] || bench_latency "$batch"
  done
  TABLE="| receiver | batch | spans | calls | receiver CPU-s | spans per CPU-s | spans per CPU-s while loaded | generator spans/s | peak RSS MiB | call-log latency p50 / p99 / max ms |"$'\n'"|---|---|---|---|---|---|---|---|---|---|"$'\n'
  TABLE+=$(printf '%s\n' "${ROWS[@]}")$'\n\n'
  for batch in $BATCHES; do
    if [ -n "${RESULT[rotel,$batch]:-}" ] && [ -n "${RESULT[voicetrace,$batch]:-}" ]; then
      r=$(printf '%.3f' "$(echo "scale=4; ${RESULT[voicetrace,$batch]} / ${RESULT[rotel,$batch]}" | bc)")
      TABLE+="- batch $batch: voicetrace (journal on) / rotel, spans per CPU-second = **${r}x**"$'\n'
    fi
    if [ -n "${RESULT[voicetrace-no-journal,$batch]:-}" ] && [ -n "${RESULT[voicetrace,$batch]:-}" ]; then
      r=$(printf '%.3f' "$(echo "scale=4; ${RESULT[voicetrace,$batch]} / ${RESULT[voicetrace-no-journal,$batch]}" | bc)")
      TABLE+="- batch $batch: voicetrace journal on / off, spans per CPU-second = **${r}x**"$'\n'
    fi
    if [ -n "${LATENCY[$batch]:-}" ]; then
      TABLE+="- batch $batch: call-log latency p50 / p99 / max offered $LATENCY_LOAD of capacity (${SENT[voicetrace,$batch]} spans/s × $LATENCY_LOAD, paced), grace $GRACE_MS ms: **${LATENCY[$batch]} ms**"$'\n'
    fi
  done
  [ -z "$PER_SPAN" ] || TABLE+="- memory per buffered span (voicetrace, $BUFFERED_SPANS spans held over a grace longer than the run): **$PER_SPAN bytes**"$'\n'
  echo
  printf '%s' "$TABLE"
  [ "$WRITE" = 1 ] || return 0
  if [ "$CALLS" = 200 ] && [ "$TURNS" = 6 ]; then mark=bench-ingest; else mark="bench-ingest-${CALLS}x${TURNS}"; fi
  {
    echo "<!-- $mark:begin -->"
    echo "Measured $(date -u +%Y-%m-%d) at voicetrace \`$(git describe --always --dirty)\` on $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), rotel $("$ROTEL" --version | awk '{print $2}'), ${DURATION} s per run, $CALLS calls open at once × $TURNS turns, $CONNECTIONS gRPC connections."
    echo
    printf '%s' "$TABLE"
    echo "<!-- $mark:end -->"
  } >"$WORK/table.md"
  python3 - "$WORK/table.md" "$mark" <<'EOF'
import re, sys
table = open(sys.argv[1]).read().rstrip("\n")
mark = sys.argv[2]
text = open("BENCHMARKS.md").read()
block = re.compile(rf"<!-- {re.escape(mark)}:begin -->.*?<!-- {re.escape(mark)}:end -->", re.S)
if block.search(text):
    new = block.sub(lambda _: table, text)
else:
    # A load measured for the first time: its table follows the default load's.
    end = "<!-- bench-ingest:end -->"
    new = text.replace(end, end + "\n\n" + table, 1)
open("BENCHMARKS.md", "w").write(new)
EOF
  echo "BENCHMARKS.md updated ($mark)" >&2
}

PER_SPAN=""
[ -n "$ONLY" ] && [ "$ONLY" != voicetrace ] || buffered_memory
for load in $LOADS; do
  run_load "${load%x*}" "${load#*x}"
done
