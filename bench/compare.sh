#!/bin/sh
# bench/compare.sh BUILD_DIR OTHER_HOSOD - the write path of two hosod binaries side by
# side in one run: BUILD_DIR's hosod ("this") and OTHER_HOSOD (say, one built from the
# commit before a change, "other"), alternating round by round so that whatever else
# the machine does hits both. BUILD_DIR's hoso-bench drives both.
#
# Per round and binary, each on a fresh data dir with hosod --workers 2:
#   submit-64  hoso-bench submit --clients 64 --max-total 9000 (durable submissions/s)
#   submit-1   hoso-bench submit --clients 1 for a few seconds (one client: fsync-bound)
#   moves      hoso-bench moves --pace-ms 0: one officer takes dossiers through 1->2->4
#              as fast as the replies come (submissions and transitions/s)
# Prints one line per run and the median of each row per binary. Loopback only; every
# run is bounded by count and time.
#
# Environment: HOSO_COMPARE_ROUNDS (default 3), HOSO_COMPARE_SECONDS (submit-1 length,
# default 5), HOSO_COMPARE_MOVES (dossiers for moves, default 400).
set -eu

BUILD=${1:?usage: bench/compare.sh BUILD_DIR OTHER_HOSOD}
OTHER=${2:?usage: bench/compare.sh BUILD_DIR OTHER_HOSOD}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
ROUNDS=${HOSO_COMPARE_ROUNDS:-3}
SECONDS_1=${HOSO_COMPARE_SECONDS:-5}
MOVES=${HOSO_COMPARE_MOVES:-400}
[ -x "$OTHER" ] || { echo "compare: $OTHER is not an executable hosod" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
THIS=$HOSOD

echo "compare: load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "compare: this  = $THIS"
echo "compare: other = $OTHER"

# fresh_hosod NAME: a new data dir for the next measure, once the last one is gone and
# the disk has written back what it held (else the next run's fsyncs wait behind it:
# that alone made whichever binary ran second look 20 % slower).
fresh_hosod() {
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
	rm -rf "$TMP"/data-*
	sync
	DATA=$TMP/data-$1
	start_hosod 2
}

# run NAME BINARY: the three measures on BINARY, appended to $TMP/NAME.<row>.
run() {
	HOSOD=$2
	fresh_hosod "$1-64"
	"$BENCH" submit --url "$URL" --clients 64 --duration 20 --max-total 9000 >"$TMP/out" 2>&1 ||
		{ cat "$TMP/out" >&2; die "submit failed"; }
	r64=$(result_field "$TMP/out" rate)
	fresh_hosod "$1-1"
	"$BENCH" submit --url "$URL" --clients 1 --duration "$SECONDS_1" --max-total 9000 >"$TMP/out" 2>&1 ||
		{ cat "$TMP/out" >&2; die "submit failed"; }
	r1=$(result_field "$TMP/out" rate)
	fresh_hosod "$1-moves"
	bench_setup >/dev/null
	t0=$(date +%s.%N)
	"$BENCH" moves --url "$URL" --officer bench-officer:Bench-Officer-Passw0rd --count "$MOVES" --pace-ms 0 \
		>"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; die "moves failed"; }
	t1=$(date +%s.%N)
	# Each dossier is one submission and two transitions, one after the other.
	rm=$(awk -v a="$t0" -v b="$t1" -v n="$MOVES" 'BEGIN { printf "%.1f", 3 * n / (b - a) }')
	echo "$r64" >>"$TMP/$1.submit64"
	echo "$r1" >>"$TMP/$1.submit1"
	echo "$rm" >>"$TMP/$1.moves"
	echo "compare: round $round $1: submit-64 $r64/s, submit-1 $r1/s, moves $rm requests/s"
}

round=1
while [ "$round" -le "$ROUNDS" ]; do
	if [ $((round % 2)) -eq 1 ]; then
		run other "$OTHER"
		run this "$THIS"
	else
		run this "$THIS"
		run other "$OTHER"
	fi
	round=$((round + 1))
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "compare: medians of $ROUNDS rounds (load average after: $(cut -d ' ' -f 1-3 /proc/loadavg))"
printf '| row | other | this | this / other |\n|---|---|---|---|\n'
for row in submit64 submit1 moves; do
	o=$(median "$TMP/other.$row")
	t=$(median "$TMP/this.$row")
	printf '| %s | %s | %s | %s |\n' "$row" "$o" "$t" "$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.3f", t / o }')"
done
