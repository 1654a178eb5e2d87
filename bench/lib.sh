# shellcheck shell=sh
# shellcheck disable=SC2034 # variables set here are used by the scripts that source it
# bench/lib.sh - shell helpers shared by bench/run.sh and bench/profile.sh (sourced).
#
# The caller sets BUILD (absolute build dir) before sourcing and gets: HOSOD, BENCH,
# TMP (a temp dir removed on exit), start_hosod / stop_pid / wait_http, bench_setup
# (one citizen, one dossier: SERVICE, AGENCY, CODE, TOKEN) and PIN0/PIN1 (taskset
# prefixes that keep the server on core 0 and the load generator on core 1).
# Every wait is bounded and everything listens on 127.0.0.1 only.

HOSOD=$BUILD/server/hosod
BENCH=$BUILD/bench/hoso-bench

die() {
	echo "bench: $*" >&2
	exit 1
}

[ -x "$HOSOD" ] || die "$HOSOD not built (make build)"
[ -x "$BENCH" ] || die "$BENCH not built (make build)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hoso-bench.XXXXXX")
# nginx started as root serves files as nobody: the tree must be world-readable.
chmod 755 "$TMP"
HOSOD_PID=""
NGINX_PID=""

# stop_pid PID: TERM, up to 10 s (a profiler may be writing its output), then KILL.
stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ "$_i" -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

bench_cleanup() {
	stop_pid "$HOSOD_PID"
	stop_pid "$NGINX_PID"
	stop_pid "${PORTAL_PID:-}"
	stop_pid "${RELAY_PID:-}"
	stop_pid "${MQ_PID:-}"
	stop_pid "${REDIS_PID:-}"
	if [ -n "${PG_STARTED:-}" ]; then
		${PGRUN:-} "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	stop_pid "${UP_NGINX:-}"
	rm -rf "$TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

PIN0=""
PIN1=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	PIN0="taskset -c 0"
	PIN1="taskset -c 1"
fi

# wait_http URL PID LOG [TENTHS]: until URL answers, PID dies, or TENTHS/10 s pass
# (default 10 s); prints LOG on failure.
wait_http() {
	_i=0
	while [ "$_i" -lt "${4:-100}" ]; do
		if curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			cat "$3" >&2
			return 1
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	cat "$3" >&2
	return 1
}

# start_hosod WORKERS [PREFIX]: hosod on a free loopback port with the data dir
# ${DATA:-$TMP/data} and the options in $HOSOD_EXTRA; PREFIX (taskset, valgrind ...) runs
# in front of it. Sets PORT, URL and
# HOSOD_PID. A port found free may be taken by the time hosod binds it: retry.
start_hosod() {
	_tries=0
	while [ "$_tries" -lt 3 ]; do
		PORT=$("$BENCH" port)
		URL="http://127.0.0.1:$PORT"
		# shellcheck disable=SC2086 # $2 is a command prefix or empty
		# --log-level warn: no line per request, as nginx runs with access_log off.
		# shellcheck disable=SC2086 # $HOSOD_EXTRA is a list of options
		${2:-} "$HOSOD" serve --listen "127.0.0.1:$PORT" --data "${DATA:-$TMP/data}" --create --demo --quiet \
			--log-level "${HOSO_BENCH_LOG_LEVEL:-warn}" --workers "$1" ${HOSOD_EXTRA:-} >"$TMP/hosod.log" 2>&1 &
		HOSOD_PID=$!
		if wait_http "$URL/healthz" "$HOSOD_PID" "$TMP/hosod.log" "${HOSO_BENCH_START_TENTHS:-100}"; then
			return 0
		fi
		stop_pid "$HOSOD_PID"
		HOSOD_PID=""
		_tries=$((_tries + 1))
	done
	die "hosod did not start"
}

# bench_setup: a citizen with one dossier on the running hosod, and an officer of the
# dossier's agency. Sets SERVICE, AGENCY, CODE, TOKEN.
bench_setup() {
	"$BENCH" setup --url "$URL" >"$TMP/setup.txt" || die "setup failed"
	SERVICE=$(sed -n 's/^service=//p' "$TMP/setup.txt")
	AGENCY=$(sed -n 's/^agency=//p' "$TMP/setup.txt")
	CODE=$(sed -n 's/^code=//p' "$TMP/setup.txt")
	TOKEN=$(sed -n 's/^token=//p' "$TMP/setup.txt")
	if [ -z "$CODE" ] || [ -z "$TOKEN" ]; then
		die "setup printed no dossier code or token"
	fi
	if ! "$HOSOD" admin create-officer --data "${DATA:-$TMP/data}" --username bench-officer \
		--password "Bench-Officer-Passw0rd" --agency "$AGENCY" >"$TMP/officer.log" 2>&1; then
		cat "$TMP/officer.log" >&2
		die "create-officer failed"
	fi
	echo "bench: service $SERVICE, agency $AGENCY, dossier $CODE"
}

# The wrk script: one machine-readable RESULT line after wrk's own report.
cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
EOF

# result_field FILE NAME: the value of NAME= on the last RESULT line of FILE.
result_field() {
	sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$1" | tail -n 1
}

# nginx_conf ROOT PORT EXTRA: writes $TMP/nginx/nginx.conf.
nginx_conf() {
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    # wrk keeps its connections; nginx's default of 1000 requests per connection
    # would add reconnects that hosod does not pay.
    keepalive_requests 100000000;
    # Keeps the file open between requests (no openat/fstat/close per request): nginx
    # at its best for one small static file is the yardstick.
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    default_type application/msgpack;
    client_body_temp_path $TMP/nginx/body;
$3
    server {
        listen 127.0.0.1:$2;
        root $1;
    }
}
EOF
}

# start_nginx ROOT: nginx (1 worker, pinned like hosod) serving ROOT on a free loopback
# port, with its own config, prefix and logs under $TMP. Sets NPORT and NGINX_PID.
start_nginx() {
	command -v nginx >/dev/null 2>&1 || die "nginx missing (HOSO_BENCH_DEPS=1 scripts/install-deps)"
	NPORT=$("$BENCH" port)
	# Not every nginx flavour has every module, and without the module its temp path
	# directive is unknown: fall back to the core one alone.
	nginx_conf "$1" "$NPORT" "    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;"
	if ! nginx -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" 2>/dev/null; then
		nginx_conf "$1" "$NPORT" ""
	fi
	# shellcheck disable=SC2086 # $PIN0 is a command prefix or empty
	$PIN0 nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" &
	NGINX_PID=$!
	wait_http "http://127.0.0.1:$NPORT/dossier" "$NGINX_PID" "$TMP/nginx/error.log" || die "nginx did not start"
}
