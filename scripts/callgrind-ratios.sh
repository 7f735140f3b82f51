#!/usr/bin/env bash
# Client instructions per steady call under callgrind, script-cache against a
# hand-written EVALSHA on the same connection and against the floor, in
# every steady-state mode of the benchmark suite (see BENCHMARKS.md):
#
#   per call = (Ir(2N) - Ir(N)) / N      (set-up and teardown cancel out)
#   ratio    = script-cache per call / baseline per call
#
# Three clients per mode (`profile --client`): script_cache, evalsha (the
# EVALSHA built and sent with query on every call) and floor (the same
# EVALSHA pre-packed once and sent with req_packed_command: sync, the packed
# bytes; async64, a Cmd built once, which redis-rs packs on every send;
# pipeline32, the 32 commands packed once, req_packed_commands; cluster,
# the Cmd and route built once per task and cloned into route_command,
# which takes them by value). The floor is what a client that does nothing
# else costs: redis-rs sending one command and parsing its reply.
# Columns: script-cache, EVALSHA by hand and floor instructions per call,
# ratio sc/evalsha, ratio sc/floor, and ratio evalsha/sc (the cluster goal).
#
# Usage: bash scripts/callgrind-ratios.sh [--calls N] [--repeat R] [--script incr|incr_4k] [--modes "sync async64"] [--telemetry T]
#        bash scripts/callgrind-ratios.sh --script fcall --modes sync
#        bash scripts/callgrind-ratios.sh --cluster [--calls N] [--repeat R] [--telemetry T]
#
# --script fcall: the steady FCALL of a function library
# (tests/bench-functions/bench.lua, the twin of incr.lua), sync mode only;
# the `evalsha` column is then FCALL built and sent with query on every
# call, the floor FCALL pre-packed once.
#
# --telemetry spans|metrics|both: every client runs with a tracing subscriber
# exporting spans to the OpenTelemetry SDK (tracing-opentelemetry, in-memory
# exporter) and/or with the opentelemetry metrics enabled on script-cache's
# state (`profile --telemetry`); without it, none is installed (the features
# are compiled in, as the suite is built with them).
#
# --cluster: the steady state of the `cluster` section instead (64 tasks on
# one cluster_async::ClusterConnection, script-cache against a hand-written
# EVALSHA routed with route_command to Route::new(key_slot(key), Master)).
# The cluster (3 primaries, Redis 7.0) is started once by the harness's
# TestCluster in a separate process (`suite cluster-serve`), so only the
# client process runs under callgrind; N must be a multiple of 64. The
# client runs on a current-thread tokio runtime (`profile --workers 0`): with
# two workers, the counts moved by ±4 % between runs with how they
# interleaved.
#
# Each (mode, client, N) is run R times (default 3) and the median Ir is
# used: sync and pipelined counts repeat exactly, async ones move a little
# with how tokio's two workers interleave. Instruction counts do not depend
# on the machine's load, unlike the wall-clock suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

calls=3200
repeat=3
modes_arg=
script=incr
cluster=0
telemetry=
while [ $# -gt 0 ]; do
    case "$1" in
        --calls) calls="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --script) script="$2"; shift 2 ;;
        --cluster) cluster=1; shift ;;
        --modes) modes_arg="$2"; shift 2 ;;
        --telemetry) telemetry="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

# Build the suite and find its binary.
bin="$(cargo bench -p script-cache-tests --bench suite --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "suite" and m.get("executable"):
        print(m["executable"])')"
[ -x "$bin" ] || { echo "could not find the suite binary" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

modes="${modes_arg:-sync async64 pipeline32}"
extra=()
[ -n "$telemetry" ] && extra+=(--telemetry "$telemetry")
if [ "$cluster" = 1 ]; then
    modes=cluster
    script=incr
    # The cluster lives as long as this script holds the serve process's
    # standard input open (fd 9).
    mkfifo "$work/serve.in"
    "$bin" cluster-serve <"$work/serve.in" >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    exec 9>"$work/serve.in"
    trap 'exec 9>&-; wait "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
    for _ in $(seq 600); do
        grep -q '^cluster: ' "$work/serve.out" 2>/dev/null && break
        kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
        sleep 0.1
    done
    urls="$(sed -n 's/^cluster: //p' "$work/serve.out")"
    [ -n "$urls" ] || { echo "the cluster did not start" >&2; exit 1; }
    extra+=(--cluster "$urls")
fi

# Median Ir of `repeat` runs of one client in one mode.
ir() {
    local mode="$1" client="$2" n="$3" i out
    local counts=()
    for ((i = 0; i < repeat; i++)); do
        out="$work/$mode-$client-$n-$i.out"
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$bin" profile --mode "$mode" --client "$client" --script "$script" --calls "$n" "${extra[@]}" \
            >/dev/null 2>&1
        counts+=("$(sed -n 's/^summary: //p' "$out")")
    done
    printf '%s\n' "${counts[@]}" | sort -n | sed -n "$(((repeat + 1) / 2))p"
}

echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- script-cache tests || echo ' (with uncommitted changes)')"
echo "binary: $bin"
echo "script: $script, N = $calls, median of $repeat run(s) per count"
echo "telemetry: ${telemetry:-none installed}"
[ "$cluster" = 1 ] && echo "cluster: $urls (Redis 7.0, 3 primaries, started by TestCluster in a separate process)"
echo
printf '| mode | script-cache instr/call | EVALSHA by hand instr/call | floor instr/call | ratio sc/evalsha | ratio sc/floor | ratio evalsha/sc |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for mode in $modes; do
    declare -A per=()
    for client in script_cache evalsha floor; do
        one="$(ir "$mode" "$client" "$calls")"
        two="$(ir "$mode" "$client" "$((2 * calls))")"
        per[$client]=$(((two - one) / calls))
    done
    ratio="$(python3 -c "print(f'{${per[script_cache]} / ${per[evalsha]}:.3f}')")"
    floor_ratio="$(python3 -c "print(f'{${per[script_cache]} / ${per[floor]}:.3f}')")"
    inverse="$(python3 -c "print(f'{${per[evalsha]} / ${per[script_cache]}:.3f}')")"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$mode" "${per[script_cache]}" "${per[evalsha]}" \
        "${per[floor]}" "$ratio" "$floor_ratio" "$inverse"
    unset per
done
