#!/bin/sh
# bench/profile.sh BUILD_DIR [SECONDS] - where the read path spends its time, next to
# nginx doing the same job.
#
# Starts hosod with one worker pinned to core 0 and drives the authenticated
# GET /v1/dossiers/{code} with wrk from core 1 (the load of bench/run.sh); then does
# the same for nginx serving the reply as a static file. For each server:
#   1. the system calls it makes per request (strace -c over a few seconds of load);
#   2. a perf sample (cpu-clock, call graphs): flat profile by shared object and by
#      symbol, user space apart.
# When perf cannot sample here, hosod is rerun under valgrind's callgrind for a short
# run instead (much slower: instruction counts, not time).
# Every stage is bounded: about SECONDS (default 10) each. HOSO_BENCH_KEEP=DIR keeps
# the perf data files there.
set -eu

BUILD=${1:?usage: bench/profile.sh BUILD_DIR [SECONDS]}
SECS=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
CONNS=${HOSO_BENCH_CONNS:-32}
command -v wrk >/dev/null 2>&1 || {
	echo "bench: wrk missing (HOSO_BENCH_DEPS=1 scripts/install-deps)" >&2
	exit 1
}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

echo "profile: load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
start_hosod 1 "$PIN0"
bench_setup
GET_URL="$URL/v1/dossiers/$CODE"

# run_wrk_bg SECONDS CONNS URL: wrk in the background; sets WRK_PID.
run_wrk_bg() {
	# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
	$PIN1 wrk -t1 -c"$2" -d"$1"s --latency -s "$TMP/report.lua" -H "Authorization: Bearer $TOKEN" \
		-H 'Accept: application/msgpack' "$3" >"$TMP/wrk.out" 2>&1 &
	WRK_PID=$!
}

perf_report() {
	perf report -i "$TMP/perf.data" --stdio "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'
}

# profile NAME PID URL: strace -c, then perf, of PID under wrk load on URL.
# Returns 1 when perf could not sample.
profile() {
	if command -v strace >/dev/null 2>&1; then
		echo
		echo "== $1: system calls over 3 s of load (strace -c -f) =="
		run_wrk_bg 5 "$CONNS" "$3"
		sleep 1
		# strace slows the server down a lot; only calls per request matter here.
		timeout -s INT 3 strace -c -f -p "$2" -o "$TMP/strace.out" 2>/dev/null || true
		wait "$WRK_PID" || true
		head -n 15 "$TMP/strace.out" 2>/dev/null || true
	fi
	echo
	echo "== $1: wrk -t1 -c$CONNS + perf record -e cpu-clock -g, ${SECS} s =="
	run_wrk_bg $((SECS + 2)) "$CONNS" "$3"
	sleep 1
	_perf_ok=0
	if command -v perf >/dev/null 2>&1 &&
		perf record -e cpu-clock -F 1999 -g -p "$2" -o "$TMP/perf.data" -- sleep "$SECS" \
			>"$TMP/perf.log" 2>&1; then
		_perf_ok=1
	fi
	wait "$WRK_PID" || true
	grep '^RESULT' "$TMP/wrk.out" || true
	[ "$_perf_ok" = 1 ] || return 1
	if [ -n "${HOSO_BENCH_KEEP:-}" ]; then
		cp "$TMP/perf.data" "$HOSO_BENCH_KEEP/perf-$1.data"
	fi
	echo
	echo "== $1: by shared object (self) =="
	perf_report --no-children --sort dso -g none | head -n 12
	echo
	echo "== $1: system call paths (children) =="
	perf_report --children --sort symbol -g none |
		grep -E '\] (do_writev|ksys_read|__sys_recvfrom|__x64_sys_epoll_ctl|do_epoll_wait|__x64_sys_pread64|epoll_ctl|entry_SYSCALL_64_after_hwframe)\b' |
		head -n 12
	echo
	echo "== $1: by symbol (self) =="
	perf_report --no-children --sort dso,symbol -g none | head -n 30
	echo
	echo "== $1: user space only, by symbol (self) =="
	perf_report --no-children --sort dso,symbol -g none | grep -v kernel | head -n 30
	return 0
}

if profile hosod "$HOSOD_PID" "$GET_URL"; then
	mkdir -p "$TMP/www"
	curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/msgpack' \
		-o "$TMP/www/dossier" "$GET_URL" || die "GET $GET_URL failed"
	chmod 644 "$TMP/www/dossier"
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
	start_nginx "$TMP/www"
	WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
	[ -n "$WORKER" ] || die "no nginx worker process"
	profile nginx "$WORKER" "http://127.0.0.1:$NPORT/dossier" || true
	exit 0
fi

# ---- callgrind fallback --------------------------------------------------------------
echo "profile: perf could not sample ($(tail -n 1 "$TMP/perf.log")); using callgrind" >&2
command -v valgrind >/dev/null 2>&1 || die "neither perf nor valgrind available"
stop_pid "$HOSOD_PID"
# under valgrind hosod starts far more slowly: allow 30 s
HOSO_BENCH_START_TENTHS=300
start_hosod 1 "valgrind --tool=callgrind --callgrind-out-file=$TMP/callgrind.out"
GET_URL="$URL/v1/dossiers/$CODE"
run_wrk_bg "$SECS" 4 "$GET_URL"
wait "$WRK_PID" || true
grep '^RESULT' "$TMP/wrk.out" || true
stop_pid "$HOSOD_PID"
HOSOD_PID=""
callgrind_annotate --inclusive=no "$TMP/callgrind.out" 2>/dev/null | head -n 60
