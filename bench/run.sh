#!/bin/sh
# bench/run.sh BUILD_DIR - the hoso bench suite (make bench).
#
#   1. Read path: wrk on an authenticated GET /v1/dossiers/{code}, and with the same wrk
#      flags nginx (1 worker, access_log off) serving a static file of the same size;
#      both again revalidated with If-None-Match (304), and hosod's /healthz floor.
#   2. Durable writes: hoso-bench submits dossiers from many citizens at once, then
#      from one, to show group commit at work (average writer batch from /metrics).
#   3. Delivery latency: an officer moves dossiers at a gentle pace while hosod mirrors
#      them to the fake national portal and POSTs them to a subscribed bot (bot-relay);
#      the time from each move's acknowledgement to its arrival at each receiver.
#      Then files (tus uploads, downloads) against nginx, and push: one agency event to
#      many WebSocket subscribers against mosquitto, with memory per idle subscriber,
#      catch-up: one citizen reads back 10,000 missed events (WebSocket and sync); and
#      push to 10,000 citizens' own feeds on the seeded store, steady and through a
#      reconnect storm of all of them at once. Then cluster mode (bench/cluster.sh): the
#      outbox's publish rate, a forwarded GET against a local one, push across nodes.
#   4. A table on stdout, also written into docs/benchmarks.md between the markers, and
#      the same as JSON with gnuplot plots under bench/results/ (bench/results.sh).
#
# Everything listens on 127.0.0.1 only, lives in a temp dir removed on exit, and every
# wait is bounded; the whole run takes about two minutes.
#
# Environment: HOSO_BENCH_DURATION (seconds per wrk run, default 10), HOSO_BENCH_ROUNDS
# (nginx/hosod alternations, default 2), HOSO_BENCH_CLIENTS (default 64),
# HOSO_BENCH_CONNS (wrk connections, default 32), HOSO_BENCH_FAN_SUBS (fan-out
# subscribers, default 19500), HOSO_BENCH_FAN_EVENTS (default 25),
# HOSO_BENCH_CATCHUP_EVENTS (default 10000), HOSO_BENCH_SEED_DOSSIERS (default 1000000),
# HOSO_BENCH_SEED_DIR, HOSO_BENCH_PUSH_SUBS (default 10000), HOSO_BENCH_PUSH_RATE
# (moves/s, default 1000), HOSO_BENCH_MIX (the day's mix: "reads/s submissions/s
# moves/s", default "3000 300 300"), HOSO_BENCH_RESULTS (dir for the JSON and plots, default
# bench/results; "-" for none, the default when HOSO_BENCH_DOC is "-"), HOSO_BENCH_DOC (file
# to update, default docs/benchmarks.md; "-" for none).
set -eu

BUILD=${1:?usage: bench/run.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
DURATION=${HOSO_BENCH_DURATION:-10}
CLIENTS=${HOSO_BENCH_CLIENTS:-64}
CONNS=${HOSO_BENCH_CONNS:-32}
DOC=${HOSO_BENCH_DOC:-$ROOT/docs/benchmarks.md}

for tool in wrk nginx curl; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "bench: $tool missing (HOSO_BENCH_DEPS=1 scripts/install-deps)" >&2
		exit 1
	}
done
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "bench: load average before the run: $LOAD_BEFORE"

# ---- setup ------------------------------------------------------------------------
start_hosod 1 "$PIN0"
bench_setup

mkdir -p "$TMP/www"
GET_URL="$URL/v1/dossiers/$CODE"
curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/msgpack' \
	-o "$TMP/www/dossier" "$GET_URL" || die "GET $GET_URL failed"
curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/json' \
	-o "$TMP/www/dossier.json" "$GET_URL" || die "GET $GET_URL (JSON) failed"
chmod 644 "$TMP/www/dossier" "$TMP/www/dossier.json"
SIZE=$(wc -c <"$TMP/www/dossier" | tr -d ' ')
SIZE_JSON=$(wc -c <"$TMP/www/dossier.json" | tr -d ' ')

# ---- nginx ------------------------------------------------------------------------
start_nginx "$TMP/www"

# ---- 1. read path -----------------------------------------------------------------
WRK_FLAGS="-t1 -c$CONNS -d${DURATION}s --latency -s $TMP/report.lua"
TICK=$(getconf CLK_TCK)
ROWS_GET=""
DISTURBED=""

# cpu_ticks PID: user + system CPU time of the process (all its threads), in ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# measure OUT PID ACCEPT URL [HEADER]: one wrk run into OUT, plus a "CPU us_per_req=" line: the
# server's CPU microseconds per request. Throughput depends on whatever else the
# machine runs; CPU time per request less so.
measure() {
	_t0=$(cpu_ticks "$2")
	# shellcheck disable=SC2086 # word splitting of the pin prefix and flags is intended
	if [ -n "${5:-}" ]; then
		# shellcheck disable=SC2086
		$PIN1 wrk $WRK_FLAGS -H "Authorization: Bearer $TOKEN" -H "Accept: $3" -H "$5" "$4" >"$1" 2>&1 ||
			{ cat "$1" >&2; die "wrk failed"; }
	else
		# shellcheck disable=SC2086
		$PIN1 wrk $WRK_FLAGS -H "Authorization: Bearer $TOKEN" -H "Accept: $3" "$4" >"$1" 2>&1 ||
			{ cat "$1" >&2; die "wrk failed"; }
	fi
	_t1=$(cpu_ticks "$2")
	_n=$(result_field "$1" requests)
	awk -v t="$((_t1 - _t0))" -v hz="$TICK" -v n="$_n" \
		'BEGIN { v = 0; if (n > 0) v = t * 1e6 / hz / n; printf "CPU us_per_req=%.1f\n", v }' >>"$1"
	cat "$1" >>"$TMP/wrk.log"
}

# row NAME WORKERS REPLY FILE...: a table row from the run with the most requests/s
# (the one least disturbed by other work); all runs' req/s are listed.
row() {
	_name=$1 _workers=$2 _reply=$3
	shift 3
	_best="" _all="" _min=""
	for _f in "$@"; do
		_r=$(result_field "$_f" rps)
		_all="$_all${_all:+, }$_r"
		if [ -z "$_min" ] || [ "$_r" -lt "$_min" ]; then
			_min=$_r
		fi
		if [ -z "$_best" ] || [ "$_r" -gt "$(result_field "$_best" rps)" ]; then
			_best=$_f
		fi
	done
	# Runs of the same row more than 20 % apart: something else took the cores.
	if [ "$((_min * 12))" -lt "$(($(result_field "$_best" rps) * 10))" ]; then
		DISTURBED="$DISTURBED${DISTURBED:+, }$_name"
	fi
	_cpu=$(sed -n 's/^CPU us_per_req=//p' "$_best")
	ROWS_GET="$ROWS_GET| $_name | $_workers | $_reply | $(result_field "$_best" rps) | $_all | $_cpu | $(result_field "$_best" p50_ms) | $(result_field "$_best" p99_ms) | $(result_field "$_best" errors) |
"
}

NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
[ -n "$NGINX_WORKER" ] || die "no nginx worker process"
# nginx and hosod alternate, so a burst of other work on the machine hits both.
ROUNDS=${HOSO_BENCH_ROUNDS:-2}
NGINX_RUNS=""
HOSOD_RUNS=""
i=1
while [ "$i" -le "$ROUNDS" ]; do
	echo "bench: round $i/$ROUNDS: wrk on nginx, then on hosod (msgpack, $SIZE B) ..."
	measure "$TMP/wrk-nginx-$i" "$NGINX_WORKER" application/msgpack "http://127.0.0.1:$NPORT/dossier"
	measure "$TMP/wrk-hosod-$i" "$HOSOD_PID" application/msgpack "$GET_URL"
	NGINX_RUNS="$NGINX_RUNS $TMP/wrk-nginx-$i"
	HOSOD_RUNS="$HOSOD_RUNS $TMP/wrk-hosod-$i"
	i=$((i + 1))
done
echo "bench: wrk on hosod (JSON, $SIZE_JSON B) ..."
measure "$TMP/wrk-json" "$HOSOD_PID" application/json "$GET_URL"
# Latency at a fixed rate: half of hosod's best req/s above, asked of nginx and of
# hosod by the same open-loop client (hoso-bench read: each GET due at its own time,
# latency from then, so a slow reply cannot hide the queue behind it).
HALF_RATE=0
for _f in $HOSOD_RUNS; do
	_r=$(result_field "$_f" rps)
	if [ "$_r" -gt "$HALF_RATE" ]; then
		HALF_RATE=$_r
	fi
done
HALF_RATE=$((HALF_RATE / 2))
ROWS_RATE=""
RATE_ROUNDS=3
us_ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
# read_at_rate OUT BASE PATH: one open-loop run of hoso-bench read, half as long as a
# wrk run (three rounds of each server alternate).
read_at_rate() {
	# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
	$PIN1 "$BENCH" read --url "$2" --path "$3" --token "$TOKEN" --rate "$HALF_RATE" --clients 32 \
		--duration "$(((DURATION + 1) / 2))" >"$1" 2>&1 || { cat "$1" >&2; die "hoso-bench read failed"; }
}
# median FIELD FILE...: the middle value of a RESULT field over the runs.
median() {
	_field=$1
	shift
	for _f in "$@"; do
		result_field "$_f" "$_field"
	done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# rate_row NAME FILE...: medians over the rounds, and each round's p99.
rate_row() {
	_name=$1
	shift
	_each="" _errors=0
	for _f in "$@"; do
		_each="$_each${_each:+, }$(us_ms "$(result_field "$_f" p99_us)")"
		_errors=$((_errors + $(result_field "$_f" errors)))
	done
	ROWS_RATE="$ROWS_RATE| $_name | $HALF_RATE | $(median rate "$@") | $(us_ms "$(median p50_us "$@")") | $(us_ms "$(median p99_us "$@")") | $(us_ms "$(median p999_us "$@")") | $_each | $_errors |
"
}
echo "bench: open loop at $HALF_RATE GET/s (half of hosod's best), nginx and hosod alternating $RATE_ROUNDS times ..."
RATE_NGINX="" RATE_HOSOD=""
i=1
while [ "$i" -le "$RATE_ROUNDS" ]; do
	read_at_rate "$TMP/read-nginx-$i" "http://127.0.0.1:$NPORT" /dossier
	read_at_rate "$TMP/read-hosod-$i" "$URL" "/v1/dossiers/$CODE"
	RATE_NGINX="$RATE_NGINX $TMP/read-nginx-$i"
	RATE_HOSOD="$RATE_HOSOD $TMP/read-hosod-$i"
	i=$((i + 1))
done
# shellcheck disable=SC2086 # one file name per word
rate_row "nginx static file" $RATE_NGINX
# shellcheck disable=SC2086
rate_row "hosod GET /v1/dossiers/{code}" $RATE_HOSOD
# A client revalidating its copy (ETag, 304 without a body), beside nginx doing the
# same for its file; and /healthz, the floor of h2o on libuv under hosod's routing.
etag_of() {
	curl -fsS --max-time 5 -D - -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Accept: application/msgpack' "$1" |
		awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r'
}
HOSOD_ETAG=$(etag_of "$GET_URL")
NGINX_ETAG=$(etag_of "http://127.0.0.1:$NPORT/dossier")
if [ -z "$HOSOD_ETAG" ] || [ -z "$NGINX_ETAG" ]; then
	die "no ETag from hosod or nginx"
fi
echo "bench: wrk If-None-Match (304) on nginx, then on hosod; hosod /healthz ..."
measure "$TMP/wrk-nginx-304" "$NGINX_WORKER" application/msgpack "http://127.0.0.1:$NPORT/dossier" "If-None-Match: $NGINX_ETAG"
measure "$TMP/wrk-hosod-304" "$HOSOD_PID" application/msgpack "$GET_URL" "If-None-Match: $HOSOD_ETAG"
measure "$TMP/wrk-healthz" "$HOSOD_PID" application/json "$URL/healthz"
# Password hashing (argon2id) is slow on purpose; this shows what a burst of sign-ins
# does to the reads served by the same worker.
echo "bench: wrk on hosod while 16 citizens register and log in ..."
(
	sleep 1
	"$BENCH" submit --url "$URL" --clients 16 --requests 1 --max-total 16 >"$TMP/storm.out" 2>&1
) &
STORM_PID=$!
measure "$TMP/wrk-storm" "$HOSOD_PID" application/msgpack "$GET_URL"
wait "$STORM_PID" || true
STORM_S=$(result_field "$TMP/storm.out" setup_s)
stop_pid "$NGINX_PID"
NGINX_PID=""
# shellcheck disable=SC2086 # one file name per word
row "nginx static file" 1 "msgpack, $SIZE B" $NGINX_RUNS
# shellcheck disable=SC2086
row "hosod GET /v1/dossiers/{code}" 1 "msgpack, $SIZE B" $HOSOD_RUNS
row "hosod GET /v1/dossiers/{code}" 1 "JSON, $SIZE_JSON B" "$TMP/wrk-json"
row "hosod GET, 16 sign-ins meanwhile (${STORM_S:-?} s)" 1 "msgpack, $SIZE B" "$TMP/wrk-storm"
row "nginx static file, If-None-Match" 1 "304, no body" "$TMP/wrk-nginx-304"
row "hosod GET /v1/dossiers/{code}, If-None-Match" 1 "304, no body" "$TMP/wrk-hosod-304"
row "hosod GET /healthz (h2o/libuv floor)" 1 "JSON, $(curl -fsS --max-time 5 "$URL/healthz" | wc -c | tr -d ' ') B" "$TMP/wrk-healthz"

stop_pid "$HOSOD_PID"
start_hosod 2
GET_URL="$URL/v1/dossiers/$CODE"
echo "bench: wrk on hosod --workers 2 (msgpack, $SIZE B), unpinned ..."
PIN1_SAVED=$PIN1
PIN1=""
measure "$TMP/wrk-w2" "$HOSOD_PID" application/msgpack "$GET_URL"
PIN1=$PIN1_SAVED
row "hosod GET /v1/dossiers/{code}" 2 "msgpack, $SIZE B" "$TMP/wrk-w2"

# ---- 1b. the same read on a seeded store ------------------------------------------
# hoso-seed writes SEED_N dossiers (every status, their citizens' feeds, sessions)
# through the writer's own ops into a data dir kept under the build dir: the first run
# pays for it (about 6 minutes and 13 GiB for a million), later runs reuse it.
SEED_N=${HOSO_BENCH_SEED_DOSSIERS:-1000000}
SEED_DIR=${HOSO_BENCH_SEED_DIR:-$BUILD/bench-seed-$SEED_N}
stop_pid "$HOSOD_PID"
HOSOD_PID=""
DATA_SAVED=${DATA:-}
DATA=$SEED_DIR
if [ ! -f "$SEED_DIR/seed.done" ]; then
	echo "bench: seeding $SEED_DIR with $SEED_N dossiers (once; later runs reuse it) ..."
	rm -rf "$SEED_DIR"
	start_hosod 1 # makes the store and its catalogue
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
	"$BUILD/bench/hoso-seed" --data "$SEED_DIR" --citizens "$(((SEED_N + 9) / 10))" --dossiers "$SEED_N" \
		--sessions 100 --tokens "$SEED_DIR/tokens.txt" >"$TMP/seed.out" 2>"$TMP/seed.err" ||
		{ tail -n 5 "$TMP/seed.err" >&2; die "hoso-seed failed"; }
	cat "$TMP/seed.out"
	grep '^RESULT' "$TMP/seed.out" >"$SEED_DIR/seed.done"
fi
HOSOD_EXTRA_SAVED=${HOSOD_EXTRA:-}
HOSOD_EXTRA="${HOSOD_EXTRA:-} --map-size 64G" # room for the runs to come
start_hosod 1 "$PIN0"
HOSOD_EXTRA=$HOSOD_EXTRA_SAVED
# Citizen 15's first dossier took the longest path (returned, five history lines).
SEED_LINE=$(sed -n 16p "$SEED_DIR/tokens.txt")
SEED_URL="$URL/v1/dossiers/${SEED_LINE#* }"
TOKEN_SAVED=$TOKEN
TOKEN=${SEED_LINE%% *}
SEED_SIZE=$(curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/msgpack' "$SEED_URL" | wc -c | tr -d ' ')
echo "bench: wrk on hosod with $SEED_N dossiers (msgpack, $SEED_SIZE B) ..."
measure "$TMP/wrk-seeded" "$HOSOD_PID" application/msgpack "$SEED_URL"
TOKEN=$TOKEN_SAVED
row "hosod GET /v1/dossiers/{code}, store of $SEED_N dossiers" 1 "msgpack, $SEED_SIZE B" "$TMP/wrk-seeded"
SEED_STATS=$(sed 's/^RESULT //' "$SEED_DIR/seed.done")
stop_pid "$HOSOD_PID"
HOSOD_PID=""
DATA=$DATA_SAVED

# ---- 2. durable submissions -------------------------------------------------------
# Each row gets a fresh data dir, so that every row starts from the same store size.
ROWS_SUBMIT=""
# run_submit CLIENTS [RATE]: closed loop (each client sends when its reply came), or
# open loop at RATE submissions/s in all (latency from each one's scheduled time).
run_submit() {
	_label=$1 _sfx=$1
	if [ -n "${2:-}" ]; then
		_label="$1, open loop at $2/s" _sfx="$1-$2"
	fi
	echo "bench: hoso-bench submit, $_label ..."
	stop_pid "$HOSOD_PID"
	DATA=$TMP/data-submit-$_sfx
	start_hosod 2
	if [ -n "${2:-}" ]; then
		"$BENCH" submit --url "$URL" --clients "$1" --duration "$DURATION" --max-total 1000000 --rate "$2" \
			>"$TMP/submit.out" 2>&1 || { cat "$TMP/submit.out" >&2; die "hoso-bench submit failed"; }
	else
		"$BENCH" submit --url "$URL" --clients "$1" --duration "$DURATION" --max-total 9000 >"$TMP/submit.out" 2>&1 ||
			{ cat "$TMP/submit.out" >&2; die "hoso-bench submit failed"; }
	fi
	cat "$TMP/submit.out"
	cp "$TMP/submit.out" "$TMP/submit-$_sfx.out"
	f=$TMP/submit.out
	ROWS_SUBMIT="$ROWS_SUBMIT| $_label | $(result_field "$f" ok) in $(result_field "$f" seconds) s | $(result_field "$f" rate) | $(result_field "$f" p50_ms) | $(result_field "$f" p99_ms) | $(result_field "$f" errors) | $(result_field "$f" commits) | $(result_field "$f" batch_avg) | $(result_field "$f" commit_ms) | $(result_field "$f" setup_s) |
"
}
run_submit "$CLIENTS"
run_submit 1
run_submit "$CLIENTS" 1000
run_submit "$CLIENTS" 5000

# Officers' moves: CLIENTS connections each file their share of dossiers before the
# clock starts, then move them (1->2, then 2->4) with one officer's token, closed loop.
echo "bench: hoso-bench transition, $CLIENTS connections ..."
stop_pid "$HOSOD_PID"
DATA=$TMP/data-transition
start_hosod 2
bench_setup
"$BENCH" transition --url "$URL" --officer "bench-officer:Bench-Officer-Passw0rd" --service "$SERVICE" \
	--clients "$CLIENTS" --duration "$DURATION" --max-total 9000 >"$TMP/transition.out" 2>&1 ||
	{ cat "$TMP/transition.out" >&2; die "hoso-bench transition failed"; }
cat "$TMP/transition.out"
f=$TMP/transition.out
ROWS_SUBMIT="$ROWS_SUBMIT| $CLIENTS, officer moves (1→2, then 2→4) | $(result_field "$f" ok) moves in $(result_field "$f" seconds) s | $(result_field "$f" rate) | $(result_field "$f" p50_ms) | $(result_field "$f" p99_ms) | $(result_field "$f" errors) | $(result_field "$f" commits) | $(result_field "$f" batch_avg) | $(result_field "$f" commit_ms) | $(result_field "$f" setup_s) |
"

# ---- 2b. durable write references: Redis and PostgreSQL doing a submission's work ----
# Redis: appendonly yes, appendfsync always (each write on disk before its reply), one
# EVALSHA of bench/refs/submit.lua per submission from redis-benchmark. PostgreSQL:
# synchronous_commit on, bench/refs/pg-submit.sql in one transaction from pgbench. The
# same client count as hosod's first row; the data dirs beside hosod's.
ROWS_REF=""
REF_N=${HOSO_BENCH_REF_REQUESTS:-40000}
if command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; then
	RPORT=$("$BENCH" port)
	mkdir -p "$TMP/redis"
	printf 'bind 127.0.0.1\nport %s\nappendonly yes\nappendfsync always\nsave ""\ndir %s\nlogfile %s/redis.log\n' \
		"$RPORT" "$TMP/redis" "$TMP/redis" >"$TMP/redis/redis.conf"
	redis-server "$TMP/redis/redis.conf" &
	REDIS_PID=$!
	_i=0
	until redis-cli -p "$RPORT" ping >/dev/null 2>&1 || [ "$_i" -ge 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	RSHA=$(redis-cli -p "$RPORT" SCRIPT LOAD "$(cat "$ROOT/bench/refs/submit.lua")")
	RBODY=$(head -c 750 /dev/urandom | base64 -w0 | head -c 1000)
	echo "bench: redis-benchmark, $CLIENTS clients, EVALSHA submit.lua x $REF_N ..."
	redis-benchmark -p "$RPORT" -c "$CLIENTS" -n "$REF_N" -r 100000000 --csv EVALSHA "$RSHA" 1 \
		seq:000.00.12.H29:20261201 000.00.12.H29-261201 op__rand_int__ "$RBODY" __rand_int__ \
		000.00.12.H29:1.000894:app:20261201 >"$TMP/redis.csv" 2>"$TMP/redis.err" ||
		{ cat "$TMP/redis.err" >&2; die "redis-benchmark failed"; }
	_stored=$(redis-cli -p "$RPORT" GET seq:000.00.12.H29:20261201)
	_ver=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
	stop_pid "$REDIS_PID"
	REDIS_PID=""
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	ROWS_REF="$ROWS_REF$(awk -F'"' -v n="$_stored" -v v="$_ver" -v c="$CLIENTS" 'NR == 2 {
		printf "| redis %s, appendfsync always, EVALSHA submit.lua | %s | %s stored | %.0f | %s | %s |\n", v, c, n, $4, $10, $14 }' "$TMP/redis.csv")
"
else
	ROWS_REF="$ROWS_REF| redis: not installed (HOSO_BENCH_DEPS=1 scripts/install-deps) | | | | | |
"
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && command -v pgbench >/dev/null 2>&1; then
	PGPORT=$("$BENCH" port)
	mkdir -p "$TMP/pg"
	# The server refuses to run as root: as the postgres account when there is one.
	PGRUN=""
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$TMP/pg" 2>/dev/null && PGRUN="runuser -u postgres --"
	fi
	$PGRUN "$PGBIN/initdb" -D "$TMP/pg/data" -A trust -U bench >"$TMP/pg/initdb.log" 2>&1 ||
		{ cat "$TMP/pg/initdb.log" >&2; die "initdb failed"; }
	$PGRUN "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/pg.log" -w -o "-c listen_addresses=127.0.0.1 -p $PGPORT \
-c unix_socket_directories=$TMP/pg -c synchronous_commit=on -c fsync=on -c max_connections=200 -c shared_buffers=128MB" \
		start >/dev/null || { cat "$TMP/pg/pg.log" >&2; die "postgres did not start"; }
	PG_STARTED=1
	psql -h 127.0.0.1 -p "$PGPORT" -U bench -d postgres -q -f "$ROOT/bench/refs/pg-schema.sql" >/dev/null
	echo "bench: pgbench, $CLIENTS clients, pg-submit.sql for ${DURATION} s ..."
	pgbench -h 127.0.0.1 -p "$PGPORT" -U bench -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$ROOT/bench/refs/pg-submit.sql" \
		postgres >"$TMP/pgbench.out" 2>&1 || { cat "$TMP/pgbench.out" >&2; die "pgbench failed"; }
	_stored=$(psql -h 127.0.0.1 -p "$PGPORT" -U bench -d postgres -tAc 'SELECT count(*) FROM dossiers')
	_ver=$("$PGBIN/postgres" --version | sed 's/.*) //')
	$PGRUN "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast stop >/dev/null 2>&1 || true
	PG_STARTED=""
	_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$TMP/pgbench.out" | tail -n 1)
	_avg=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$TMP/pgbench.out" | tail -n 1)
	ROWS_REF="$ROWS_REF| PostgreSQL $_ver, synchronous_commit on, pg-submit.sql | $CLIENTS | $_stored stored | $(printf '%.0f' "$_tps") | (avg $_avg) | n/a |
"
else
	ROWS_REF="$ROWS_REF| PostgreSQL: not installed (HOSO_BENCH_DEPS=1 scripts/install-deps) | | | | | |
"
fi

# ---- 3. delivery latency: portal mirror and bot webhooks --------------------------
FAKE_PORTAL=$BUILD/tests/fake_portal
RELAY=$BUILD/clients/bot-relay
MOVES=${HOSO_BENCH_MOVES:-200}
ROWS_DELIVERY=""
# wait_line FILE PATTERN: until FILE has a line matching PATTERN (10 s at most).
wait_line() {
	_i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -lt 100 ] || return 1
		sleep 0.1
	done
}
# latencies ACKS RECEIVED: ms from each move's acknowledgement to the first arrival of
# that change ("code status received_ms" lines), sorted; an arrival before the
# acknowledgement (the commit is announced to both at once) counts as 0.
latencies() {
	awk 'NR == FNR { if ($1 == "ACK") ack[$2 " " $3] = $4; next }
		{ k = $1 " " $2; if ((k in ack) && !(k in seen)) { seen[k] = 1; d = $3 - ack[k]; print (d < 0 ? 0 : d) } }' \
		"$1" "$2" | sort -n
}
# pct FILE P: the P-th percentile of the sorted numbers in FILE.
pct() {
	awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }' "$1"
}
if [ -x "$FAKE_PORTAL" ] && [ -x "$RELAY" ] && command -v jq >/dev/null 2>&1; then
	echo "bench: delivery latency, $MOVES dossiers moved twice (portal mirror and bot webhook) ..."
	stop_pid "$HOSOD_PID"
	"$FAKE_PORTAL" --record "$TMP/portal.jsonl" --port 0 >"$TMP/portal.port" 2>"$TMP/portal.log" &
	PORTAL_PID=$!
	wait_line "$TMP/portal.port" '^port ' || die "the fake portal did not start"
	PPORT=$(sed -n 's/^port //p' "$TMP/portal.port")
	DATA=$TMP/data-delivery
	HOSOD_EXTRA="--webhook-allow-private --portal-auth-url http://127.0.0.1:$PPORT/auth --portal-url http://127.0.0.1:$PPORT/api --portal-user mirror --portal-password mirror-pass --portal-agency 000.00.00.H29"
	start_hosod 2
	HOSOD_EXTRA=""
	bench_setup
	"$HOSOD" admin create-bot --data "$DATA" --username bench-bot --password Bench-Bot-Passw0rd \
		--scopes 'lookup subscribe' --json >"$TMP/bot.json" 2>"$TMP/bot.log" || die "create-bot failed"
	jq -r .webhook_secret "$TMP/bot.json" >"$TMP/bot.secret"
	"$RELAY" --secret-file "$TMP/bot.secret" --listen 127.0.0.1:0 >"$TMP/relay.jsonl" 2>"$TMP/relay.log" &
	RELAY_PID=$!
	wait_line "$TMP/relay.log" '^listening on ' || die "bot-relay did not start"
	RPORT=$(sed -n 's/^listening on 127.0.0.1://p' "$TMP/relay.log")
	"$BENCH" moves --url "$URL" --officer bench-officer:Bench-Officer-Passw0rd --bot bench-bot:Bench-Bot-Passw0rd \
		--callback "http://127.0.0.1:$RPORT/hook" --count "$MOVES" --pace-ms 20 >"$TMP/moves.out" 2>&1 ||
		{ cat "$TMP/moves.out" >&2; die "hoso-bench moves failed"; }
	_want=$((MOVES * 2))
	_i=0
	while [ "$_i" -lt 300 ]; do
		_p=$(grep -c CapNhatTienDoHoSoMC "$TMP/portal.jsonl" || true)
		_r=$(wc -l <"$TMP/relay.jsonl")
		[ "$_p" -ge "$_want" ] && [ "$_r" -ge "$_want" ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	jq -r 'select(.service == "CapNhatTienDoHoSoMC") | "\(.mahoso) \(.status) \(.received_ms)"' "$TMP/portal.jsonl" >"$TMP/portal.recv"
	jq -r '"\(.code) \(.status) \(.received_ms)"' "$TMP/relay.jsonl" >"$TMP/relay.recv"
	latencies "$TMP/moves.out" "$TMP/portal.recv" >"$TMP/portal.lat"
	latencies "$TMP/moves.out" "$TMP/relay.recv" >"$TMP/relay.lat"
	for _k in portal relay; do
		_n=$(wc -l <"$TMP/$_k.lat" | tr -d ' ')
		if [ "$_k" = portal ]; then
			_name="portal mirror (TraCuuHoSo, DongBoHoSoMC, CapNhatTienDoHoSoMC)"
		else
			_name="bot webhook (signed POST to bot-relay)"
		fi
		ROWS_DELIVERY="$ROWS_DELIVERY| $_name | $_n of $_want | $(pct "$TMP/$_k.lat" 50) | $(pct "$TMP/$_k.lat" 99) | $(pct "$TMP/$_k.lat" 100) |
"
	done
	stop_pid "$RELAY_PID"
	stop_pid "$PORTAL_PID"
	RELAY_PID=""
	PORTAL_PID=""
else
	echo "bench: delivery latency skipped (fake_portal, bot-relay or jq missing)"
	ROWS_DELIVERY="| skipped: fake_portal, bot-relay or jq missing | | | | |
"
fi

# ---- 3b. files: uploads and downloads against nginx --------------------------------
# Uploads: hoso-bench upload sends --clients files of 10 MiB in 1 MiB pieces, with tus
# to hosod (each piece encrypted and fdatasync'ed before its 204) and as PUTs of the
# same pieces to nginx's DAV module (which writes the body to disk, no fsync). Server
# CPU per MiB from /proc. Then the peak RSS of a fresh hosod while 100 clients each
# upload 10 MiB at once. Downloads: wrk on GET /v1/files/{id} (10 MiB, decrypted as it
# streams) against nginx serving the same 10 MiB file.
UP_CLIENTS=${HOSO_BENCH_UP_CLIENTS:-8}
ROWS_FILES=""
RSS_LINE=""
# up_run NAME PID ARGS...: one upload run; a table row with MiB/s and CPU per MiB.
up_run() {
	_name=$1 _pid=$2
	shift 2
	# The server's CPU is read by hoso-bench around the uploads only (not the sign-ins).
	# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
	$PIN1 "$BENCH" upload "$@" --clients "$UP_CLIENTS" --size 10485760 --piece 1048576 --cpu-pid "$_pid" \
		>"$TMP/up.out" 2>&1 || { cat "$TMP/up.out" >&2; die "hoso-bench upload failed"; }
	_cpu=$(result_field "$TMP/up.out" cpu_us_per_mib)
	ROWS_FILES="$ROWS_FILES| $_name | $(result_field "$TMP/up.out" mib_s) | $_cpu | $(result_field "$TMP/up.out" p50_ms) | $(result_field "$TMP/up.out" p99_ms) | $(result_field "$TMP/up.out" failed) |
"
}
# up_nginx: nginx with a DAV location for PUTs and a root for the download file.
up_nginx() {
	# shellcheck disable=SC2086 # $PIN0 is a command prefix or empty
	$PIN0 nginx -p "$TMP/ngx-up" -e "$TMP/ngx-up/error.log" -c "$TMP/ngx-up/nginx.conf" &
	UP_NGINX=$!
	wait_http "http://127.0.0.1:$UPORT/ping" "$UP_NGINX" "$TMP/ngx-up/error.log" || die "nginx (uploads) did not start"
	UP_WORKER=$(pgrep -P "$UP_NGINX" | head -n 1)
}
if nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
	echo "bench: uploads, $UP_CLIENTS clients x 10 MiB, nginx (DAV PUT) then hosod (tus) ..."
	stop_pid "$HOSOD_PID"
	mkdir -p "$TMP/ngx-up/body" "$TMP/up-root/upload"
	echo ok >"$TMP/up-root/ping"
	chmod 777 "$TMP/up-root" "$TMP/up-root/upload" "$TMP/ngx-up" "$TMP/ngx-up/body"
	chmod 644 "$TMP/up-root/ping"
	UPORT=$("$BENCH" port)
	cat >"$TMP/ngx-up/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $TMP/ngx-up/nginx.pid;
error_log $TMP/ngx-up/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/ngx-up/body;
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:$UPORT;
        root $TMP/up-root;
        location /upload/ { dav_methods PUT; create_full_put_path on; }
    }
}
NGX
	up_nginx
	DATA=$TMP/data-up
	start_hosod 2 "$PIN0"
	up_run "nginx, PUT of each piece (DAV, no fsync)" "$UP_WORKER" --url "http://127.0.0.1:$UPORT" --raw-path /upload
	up_run "hosod, tus PATCH (encrypted, fdatasync)" "$HOSOD_PID" --url "$URL"
	stop_pid "$UP_NGINX"
	stop_pid "$HOSOD_PID"
	rm -rf "$TMP/data-up" "$TMP/up-root/upload"
	# Peak memory while 100 clients upload 10 MiB each at once.
	DATA=$TMP/data-rss
	start_hosod 2
	RSS0=$(awk '/^VmRSS/ { print $2 }' "/proc/$HOSOD_PID/status")
	"$BENCH" upload --url "$URL" --clients 100 --sources 50 --size 10485760 --piece 1048576 >"$TMP/rss.out" 2>&1 ||
		{ cat "$TMP/rss.out" >&2; die "hoso-bench upload (100 clients) failed"; }
	RSS_PEAK=$(awk '/^VmHWM/ { print $2 }' "/proc/$HOSOD_PID/status")
	RSS_LINE="100 clients x 10 MiB at once ($(result_field "$TMP/rss.out" mib_s) MiB/s, $(result_field "$TMP/rss.out" failed) failed, $(result_field "$TMP/rss.out" retried_429) pieces sent again after a 429: at most 64 pieces are written at once): hosod RSS $((RSS0 / 1024)) MiB before, peak $((RSS_PEAK / 1024)) MiB, for 1000 MiB of files in flight. What grows is the pieces, not the files: h2o reads each request body whole (up to --max-body) before hosod sees it, and each of the 64 pieces being written is a copy, so the peak follows clients x --max-body, never the file size."
	# Downloads: one 10 MiB file of the setup citizen.
	bench_setup >/dev/null
	head -c 10485760 /dev/urandom >"$TMP/up-root/file.pdf"
	printf '%%PDF-1.7\n' | dd of="$TMP/up-root/file.pdf" conv=notrunc status=none
	chmod 644 "$TMP/up-root/file.pdf"
	LOC=$(curl -fsS -D - -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
		-H 'Upload-Length: 10485760' "$URL/v1/uploads" | tr -d '\r' | sed -n 's/^location: //Ip')
	[ -n "$LOC" ] || die "upload creation failed"
	_i=0
	while [ "$_i" -lt 10 ]; do
		dd if="$TMP/up-root/file.pdf" bs=1048576 skip="$_i" count=1 status=none |
			curl -fsS -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
				-H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $((_i * 1048576))" \
				--data-binary @- "$URL$LOC" || die "upload piece $_i failed"
		_i=$((_i + 1))
	done
	FILE_URL="$URL/v1/files/${LOC##*/}"
	curl -fsS -o "$TMP/dl.pdf" -H "Authorization: Bearer $TOKEN" "$FILE_URL" || die "the download failed"
	cmp -s "$TMP/dl.pdf" "$TMP/up-root/file.pdf" || die "the downloaded file differs"
	up_nginx
	for _who in nginx hosod; do
		if [ "$_who" = nginx ]; then
			_u="http://127.0.0.1:$UPORT/file.pdf" _p=$UP_WORKER _n="nginx, GET of a 10 MiB file"
		else
			_u=$FILE_URL _p=$HOSOD_PID _n="hosod, GET of a 10 MiB file (decrypted as it streams)"
		fi
		_t0=$(cpu_ticks "$_p")
		# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
		$PIN1 wrk -t1 -c4 -d5s --latency -s "$TMP/report.lua" -H "Authorization: Bearer $TOKEN" "$_u" >"$TMP/dl-$_who" 2>&1 ||
			{ cat "$TMP/dl-$_who" >&2; die "wrk (download) failed"; }
		_t1=$(cpu_ticks "$_p")
		_r=$(result_field "$TMP/dl-$_who" requests)
		_cpu=$(awk -v t="$((_t1 - _t0))" -v hz="$TICK" -v n="$_r" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / (n * 10); else print "n/a" }')
		_mibs=$(awk -v r="$(result_field "$TMP/dl-$_who" rps)" 'BEGIN { printf "%.0f", r * 10 }')
		ROWS_FILES="$ROWS_FILES| $_n | $_mibs | $_cpu | $(result_field "$TMP/dl-$_who" p50_ms) | $(result_field "$TMP/dl-$_who" p99_ms) | $(result_field "$TMP/dl-$_who" errors) |
"
	done
	stop_pid "$UP_NGINX"
	UP_NGINX=""
else
	echo "bench: uploads skipped (this nginx has no DAV module)"
	RSS_LINE="skipped: this nginx has no DAV module."
fi

# ---- 3c. push: fan-out to many subscribers, and memory per idle subscriber ------------
# hoso-bench fanout: N WebSockets on one agency stream (msgpack frames, as the app), an
# officer moving dossiers at a fixed pace; then mosquitto (1 process, pinned like
# hosod --workers 1) with N MQTT subscribers at QoS 0 and a publisher of messages of
# the same size at the same pace. Deliveries/s = every delivery over the time from the
# first event to the last receipt; RSS per subscriber = the server's RSS growth once
# all N sat subscribed and idle for 2 s, divided by N.
# 19,500 subscribers, or fewer where the hard limit on open files is lower (20,000 on
# the machine of docs/benchmarks.md): the load generator holds every subscriber's
# socket in one process, and so does hosod.
# shellcheck disable=SC3045 # dash and bash both know -H
_nofile=$(ulimit -Hn)
if [ "$_nofile" = unlimited ] || [ "$_nofile" -ge 20000 ]; then
	_nofile=20000
fi
FAN_SUBS=${HOSO_BENCH_FAN_SUBS:-$((_nofile - 500))}
FAN_EVENTS=${HOSO_BENCH_FAN_EVENTS:-25}
FAN_SPECS="$FAN_SUBS:$FAN_EVENTS:5:saturated 1000:200:20:50-events-per-s"
ROWS_FAN=""
# fan_row NAME OUT: a table row from a fanout run.
fan_row() {
	ROWS_FAN="$ROWS_FAN| $1 | $(result_field "$2" ready) | $(result_field "$2" events) | $(result_field "$2" deliveries) | $(result_field "$2" rate) | $(result_field "$2" p50_ms) | $(result_field "$2" p99_ms) | $(result_field "$2" max_ms) | $(result_field "$2" missing) | $(result_field "$2" rss_kib_per_conn) |
"
}
stop_pid "$HOSOD_PID"
HOSOD_PID=""
DATA_SAVED=${DATA:-}
DATA=$TMP/fan-data
start_hosod 1 "$PIN0"
bench_setup
FAN_BYTES=""
for _spec in $FAN_SPECS; do
	_n=${_spec%%:*} _rest=${_spec#*:}
	_e=${_rest%%:*} _rest=${_rest#*:}
	_p=${_rest%%:*} _what=$(echo "${_rest#*:}" | tr '-' ' ')
	# a fresh process per row: memory freed by an earlier row would hide the growth
	if [ -z "$HOSOD_PID" ]; then
		start_hosod 1 "$PIN0"
	fi
	echo "bench: fan-out, hosod --workers 1, $_n subscribers, $_e events every $_p ms ..."
	# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
	$PIN1 "$BENCH" fanout --url "$URL" --officer "bench-officer:Bench-Officer-Passw0rd" --service "$SERVICE" \
		--subscribers "$_n" --events "$_e" --pace-ms "$_p" --pid "$HOSOD_PID" --sources 16 \
		>"$TMP/fan-$_n.out" 2>"$TMP/fan-$_n.err" ||
		{ cat "$TMP/fan-$_n.out" "$TMP/fan-$_n.err" >&2; die "hoso-bench fanout failed"; }
	fan_row "hosod, agency stream over WebSocket ($_what)" "$TMP/fan-$_n.out"
	FAN_BYTES=${FAN_BYTES:-$(result_field "$TMP/fan-$_n.out" event_bytes)}
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
done
DATA=$DATA_SAVED
if command -v mosquitto >/dev/null 2>&1; then
	MQ_PORT=$("$BENCH" port)
	MQ_VERSION=$(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version //p' | head -n 1)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nlog_dest stderr\nlog_type error\nlog_type warning\n' \
		"$MQ_PORT" >"$TMP/mosquitto.conf"
	for _spec in $FAN_SPECS; do
		_n=${_spec%%:*} _rest=${_spec#*:}
		_e=${_rest%%:*} _rest=${_rest#*:}
		_p=${_rest%%:*} _what=$(echo "${_rest#*:}" | tr '-' ' ')
		# shellcheck disable=SC2086 # $PIN0 is a command prefix or empty
		$PIN0 mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
		MQ_PID=$!
		sleep 0.5
		kill -0 "$MQ_PID" 2>/dev/null || { cat "$TMP/mosquitto.log" >&2; die "mosquitto did not start"; }
		echo "bench: fan-out, mosquitto, $_n subscribers, $_e messages of ${FAN_BYTES:-1000} B every $_p ms ..."
		# shellcheck disable=SC2086
		if ! $PIN1 "$BENCH" fanout --mqtt "127.0.0.1:$MQ_PORT" --payload "${FAN_BYTES:-1000}" --subscribers "$_n" \
			--events "$_e" --pace-ms "$_p" --pid "$MQ_PID" --sources 16 >"$TMP/mq-$_n.out" 2>"$TMP/mq-$_n.err"; then
			cat "$TMP/mq-$_n.out" "$TMP/mq-$_n.err" >&2
			stop_pid "$MQ_PID"
			die "hoso-bench fanout (mqtt) failed"
		fi
		stop_pid "$MQ_PID"
		MQ_PID=""
		fan_row "mosquitto $MQ_VERSION, MQTT over TCP, QoS 0 ($_what)" "$TMP/mq-$_n.out"
	done
else
	ROWS_FAN="$ROWS_FAN| mosquitto: not installed (HOSO_BENCH_DEPS=1 scripts/install-deps) | | | | | | | | | |
"
fi

# ---- 3d. catch-up: a citizen back after missing CATCHUP_EVENTS events ---------------
# hoso-bench catchup fills one citizen's feed, then reads it back from seq 0 over
# WebSocket (subscribe since 0) and over GET /v1/sync (pages of 1000). The run fails
# unless each path delivers every seq once and in order.
CATCHUP_EVENTS=${HOSO_BENCH_CATCHUP_EVENTS:-10000}
DATA_SAVED=${DATA:-}
DATA=$TMP/data-catchup
HOSOD_EXTRA_SAVED=${HOSOD_EXTRA:-}
HOSOD_EXTRA="${HOSOD_EXTRA:-} --feed-max-events $((CATCHUP_EVENTS * 2))"
start_hosod 1 "$PIN0"
echo "bench: catch-up, hosod --workers 1, $CATCHUP_EVENTS events ..."
# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
$PIN1 "$BENCH" catchup --url "$URL" --service "$SERVICE" --events "$CATCHUP_EVENTS" \
	>"$TMP/catchup.out" 2>"$TMP/catchup.err" ||
	{ cat "$TMP/catchup.out" "$TMP/catchup.err" >&2; die "hoso-bench catchup failed"; }
cat "$TMP/catchup.out"
f=$TMP/catchup.out
ROWS_CATCHUP="| WebSocket, subscribe since 0 | $(result_field "$f" ws_events) | $(result_field "$f" ws_seconds) | $(result_field "$f" ws_rate) | $(result_field "$f" ws_first_ms) | $(result_field "$f" ws_gaps) | $(result_field "$f" ws_dups) |
| GET /v1/sync, limit=1000 | $(result_field "$f" sync_events) | $(result_field "$f" sync_seconds) | $(result_field "$f" sync_rate) | n/a | $(result_field "$f" sync_gaps) | $(result_field "$f" sync_dups) |
"
stop_pid "$HOSOD_PID"
HOSOD_PID=""
HOSOD_EXTRA=$HOSOD_EXTRA_SAVED
DATA=$DATA_SAVED

# ---- 3e. push: each citizen's own feed, at scale ------------------------------------
# On the seeded store: PUSH_SUBS citizens get fresh sessions (hoso-seed --dossiers 0),
# each subscribes to its own feed, and the demo admin moves their dossiers at
# PUSH_RATE per second (open loop, 8 connections); every move must reach its citizen,
# and only that citizen, once.
PUSH_SUBS=${HOSO_BENCH_PUSH_SUBS:-10000}
PUSH_RATE=${HOSO_BENCH_PUSH_RATE:-1000}
PUSH_EVENTS=$((PUSH_RATE * 10))
ROWS_PUSH=""
DATA_SAVED=${DATA:-}
DATA=$SEED_DIR
if [ "$PUSH_SUBS" -gt "$(((SEED_N + 9) / 10))" ]; then
	PUSH_SUBS=$(((SEED_N + 9) / 10))
fi
# Each run takes the next window of PUSH_SUBS citizens, so that every run finds
# dossiers still to move (a run moves two of each citizen's).
SEED_CITIZENS=$(((SEED_N + 9) / 10))
WINDOWS=$((SEED_CITIZENS / PUSH_SUBS))
RUNS_BEFORE=$(cat "$SEED_DIR/push-runs" 2>/dev/null || echo 0)
FIRST=$(((RUNS_BEFORE % WINDOWS) * PUSH_SUBS))
echo $((RUNS_BEFORE + 1)) >"$SEED_DIR/push-runs"
"$BUILD/bench/hoso-seed" --data "$SEED_DIR" --dossiers 0 --citizens "$SEED_CITIZENS" --first "$FIRST" \
	--sessions "$PUSH_SUBS" --tokens "$TMP/push-tokens.txt" >"$TMP/push-seed.out" 2>&1 ||
	{ cat "$TMP/push-seed.out" >&2; die "hoso-seed --sessions failed"; }
echo "bench: push, hosod --workers 1, $PUSH_SUBS citizens on their own feeds, $PUSH_EVENTS moves at $PUSH_RATE/s ..."
ADMIN_PASS=$(awk '$1 == "admin" { print $2 }' "$SEED_DIR/demo-credentials.txt")
# push_row DROPS [FLAGS]: one run on a fresh hosod (so that its memory per subscriber
# is its own), DROPS subscribers losing their connection at once halfway; FLAGS go to
# hoso-bench push as they are (the day's mix).
push_row() {
	HOSOD_EXTRA_SAVED=${HOSOD_EXTRA:-}
	HOSOD_EXTRA="${HOSOD_EXTRA:-} --map-size 64G"
	start_hosod 1 "$PIN0"
	HOSOD_EXTRA=$HOSOD_EXTRA_SAVED
	# shellcheck disable=SC2086 # $PIN1 is a command prefix or empty
	$PIN1 "$BENCH" push --url "$URL" --admin "admin:$ADMIN_PASS" --tokens "$TMP/push-tokens.txt" \
		--subscribers "$PUSH_SUBS" --events "${PUSH_N:-$PUSH_EVENTS}" --rate "${PUSH_R:-$PUSH_RATE}" --drops "$1" \
		--service "$SERVICE" ${2:-} --pid "$HOSOD_PID" >"$TMP/push.out" 2>"$TMP/push.err" ||
		{ cat "$TMP/push.out" "$TMP/push.err" >&2; die "hoso-bench push failed"; }
	cat "$TMP/push.out"
	f=$TMP/push.out
	_back="none"
	if [ "$1" -gt 0 ]; then
		_back="$(result_field "$f" reconnects), all back in $(result_field "$f" back_s) s"
	fi
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
	if [ -n "${2:-}" ]; then
		ROWS_MIX="$ROWS_MIX| $(result_field "$f" ready) | $(result_field "$f" events) at ${PUSH_R}/s | $(result_field "$f" reads_ok) at $MIX_READS/s | $(result_field "$f" submits_ok) at $MIX_SUBMITS/s | $(result_field "$f" p50_ms) / $(result_field "$f" p99_ms) | $(result_field "$f" srv_push_p99_ms) | $(result_field "$f" move_p50_ms) / $(result_field "$f" move_p99_ms) | $(result_field "$f" read_p50_ms) / $(result_field "$f" read_p99_ms) | $(result_field "$f" submit_p50_ms) / $(result_field "$f" submit_p99_ms) | $(result_field "$f" reads_err) + $(result_field "$f" submits_err) + $(result_field "$f" moves_failed) | $(result_field "$f" missing) / $(result_field "$f" duplicates) / $(result_field "$f" seq_gaps) |
"
		return
	fi
	ROWS_PUSH="$ROWS_PUSH| $(result_field "$f" ready) | $(result_field "$f" events) at $PUSH_RATE/s | $(result_field "$f" deliveries) | $(result_field "$f" p50_ms) | $(result_field "$f" p99_ms) | $(result_field "$f" p999_ms) | $(result_field "$f" max_ms) | $(result_field "$f" ack_p99_ms) | $(result_field "$f" missing) | $(result_field "$f" duplicates) | $(result_field "$f" wrong_feed) | $_back | $(result_field "$f" seq_gaps) / $(result_field "$f" seq_dups) | $(result_field "$f" rss_kib_per_conn) | $(result_field "$f" srv_push_p99_ms) |
"
}
push_row 0
echo "bench: push again, all $PUSH_SUBS dropped at once halfway and resumed from their last seq ..."
push_row "$PUSH_SUBS"
# A day's mix on the same store: the citizens watch their feeds and read their
# dossiers, some file new ones, officers move others (HOSO_BENCH_MIX=
# "reads/s submissions/s moves/s").
MIX=${HOSO_BENCH_MIX:-3000 300 300}
# shellcheck disable=SC2086 # split into its three numbers
set -- $MIX
if [ $# -ne 3 ] || [ "$1$2$3" != "$(echo "$1$2$3" | tr -cd 0-9)" ] || [ "$3" -eq 0 ]; then
	die "HOSO_BENCH_MIX must be three numbers, \"reads/s submissions/s moves/s\" (moves/s > 0), got \"$MIX\""
fi
MIX_READS=$1 MIX_SUBMITS=$2 PUSH_R=$3
PUSH_N=$((PUSH_R * DURATION))
ROWS_MIX=""
echo "bench: a day's mix, $PUSH_SUBS watching, $MIX_READS reads/s, $MIX_SUBMITS submissions/s, $PUSH_R moves/s ..."
push_row 0 "--reads $MIX_READS --submits $MIX_SUBMITS"
MIX_MOVES=$PUSH_R PUSH_R="" PUSH_N=""
DATA=$DATA_SAVED

# ---- 3f. cluster mode -------------------------------------------------------------
# bench/cluster.sh: the outbox's publish rate, the cost of a forwarded request, and
# push when the WebSocket's node is not the account's (its own temp dir and processes).
echo "bench: cluster mode (bench/cluster.sh) ..."
sh "$ROOT/bench/cluster.sh" "$BUILD" "$TMP/cluster.md" || die "bench/cluster.sh failed"

# ---- 4. report --------------------------------------------------------------------
LOAD_AFTER=$(cut -d ' ' -f 1-3 /proc/loadavg)
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
CORES=$(nproc)
KERNEL=$(uname -sr)
HOSOD_VERSION=$("$HOSOD" version 2>/dev/null | head -n 1 | sed "s/^hosod //" || true)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ] ||
	[ -n "$(git -C "$ROOT" ls-files --others --exclude-standard 2>/dev/null | head -n 1 || true)" ]; then
	REV="$REV + uncommitted changes"
fi
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
WRK_VERSION=$(wrk -v 2>&1 | head -n 1 | cut -d ' ' -f 1-2)
FS=$(findmnt -no FSTYPE,SOURCE -T "$TMP" 2>/dev/null | head -n 1 | tr -s ' ' || true)
LOAD1=${LOAD_BEFORE%% *}
BUSY=""
case $FS in
tmpfs*) BUSY="
**Not durable:** the data dir was on tmpfs, where fsync costs nothing; set TMPDIR to a disk-backed directory.
" ;;
esac
if awk -v l="$LOAD1" 'BEGIN { exit !(l >= 0.5) }'; then
	BUSY="$BUSY
**Provisional:** the machine was not idle when this ran (load average $LOAD_BEFORE); other work shared the cores, so treat absolute numbers as a lower bound and compare rows within this run only.
"
elif [ -n "$DISTURBED" ]; then
	BUSY="$BUSY
**Provisional:** the machine was idle at the start, but repeated runs of one row differ by more than 20 % ($DISTURBED): other work started during the run. Treat absolute numbers as a lower bound.
"
fi

# The run as data (JSON) and plots (SVG) under bench/results/, unless no doc is written.
RESULTS=${HOSO_BENCH_RESULTS:-$ROOT/bench/results}
if [ "$DOC" = "-" ] && [ -z "${HOSO_BENCH_RESULTS:-}" ]; then
	RESULTS=-
fi
STAMP=$(date -u '+%Y%m%d-%H%M')-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
PLOTS=""
if [ "$RESULTS" != "-" ]; then
	PLOTS="- Data: [bench/results/$STAMP.json](../bench/results/$STAMP.json); plots: [read throughput](../bench/results/read-throughput.svg), [read latency](../bench/results/read-latency.svg), [durable writes](../bench/results/writes.svg), [fan-out](../bench/results/fanout.svg)
"
fi

cat >"$TMP/report.md" <<EOF
## Latest run

- Date: $DATE
- Machine: ${CPU:-unknown CPU}, $CORES cores, $KERNEL; load average before the run: $LOAD_BEFORE
- Versions: hosod ${HOSOD_VERSION:-(no --version)} at git $REV, $NGINX_VERSION, $WRK_VERSION
- Command: \`make bench\` (= \`bench/run.sh BUILD_DIR\`), ${DURATION} s per run
- Load average after the run: $LOAD_AFTER
$PLOTS$BUSY
### Read path: authenticated GET /v1/dossiers/{code} against nginx

\`wrk -t1 -c$CONNS -d${DURATION}s --latency -H 'Authorization: Bearer …' -H 'Accept: …' URL\`, the
same flags for every run. nginx serves a static file of the same size as the msgpack
reply (1 worker process, access_log off, keepalive_requests raised, open_file_cache
on). With 1 worker the server is pinned to core 0 and wrk to core 1; the 2-worker row
is unpinned and shares both cores with wrk. nginx and hosod alternate for
$ROUNDS rounds; a row shows the run with the most req/s (least disturbed by other work)
and lists every run. Server CPU µs/req = the server's user+system CPU time during the
run divided by the requests served; it moves less than req/s when other work shares
the machine, and its ratio between rows of one run is the steadiest figure. The
"sign-ins meanwhile" row is the same GET while 16 new citizens register and log in
at once (32 argon2id hashes; the time they took is in the row name). The "If-None-Match"
rows revalidate the same reply with its ETag (304, no body) on both servers; /healthz
is the least hosod does per request (h2o on libuv, routing, a small JSON reply). The
rows above read a store of a few dossiers; the "store of N dossiers" row reads one
dossier of a store that \`hoso-seed\` filled through the writer's own ops ($SEED_STATS).

| server | workers | reply | req/s | req/s of each run | server CPU µs/req | p50 ms | p99 ms | errors |
|---|---|---|---|---|---|---|---|---|
$ROWS_GET
The same GET at a fixed rate, half of hosod's best above, from \`hoso-bench read --rate R
--clients 32 --duration $(((DURATION + 1) / 2))\` (open loop: each request is due at its own
time and its latency counts from then; one worker each, pinned as above). nginx and
hosod alternate $RATE_ROUNDS times; a row shows the median of the runs and each run's
p99, which moves with whatever else the guest's cores did.

| server | asked per second | served per second | p50 ms | p99 ms | p99.9 ms | p99 of each run ms | errors |
|---|---|---|---|---|---|---|---|
$ROWS_RATE
### Durable submissions and officer moves (hosod --workers 2)

\`hoso-bench submit --clients N --duration ${DURATION} --max-total 9000\` on a fresh data dir
per row (rows start from the same store size): every client is its own citizen
on its own keep-alive connection (spread over 127.0.0.1-8), msgpack bodies, unique
op_ids; a submission counts once the 201 arrived, i.e. after its commit was durable.
Average batch = writer ops per commit during the run (hoso_writer_batch_size); average
commit = hoso_writer_commit_duration_seconds, fsync included. Data dir on: ${FS:-unknown}.
register+login = time for all clients to register and log in at once, before the
clock starts (each does two argon2id password hashes). These rows are closed loop (a
client sends its next submission when the reply came) except "open loop at R/s"
(\`--rate R\`): the 64 clients' submissions are due at fixed times, R per second in
all, and latency counts from each one's due time, so a slow reply cannot hide the
queue behind it. The "officer moves" row is \`hoso-bench transition --clients $CLIENTS
--max-total 9000\`: each connection files its share of dossiers (as its own citizen)
before the clock starts, then moves each one 1→2 and then 2→4 with one officer's
token (a move counts once its 200 arrived, after its commit); register+login includes
the filing.

| clients | durable writes | per second | p50 ms | p99 ms | errors | commits | avg batch | avg commit ms | register+login s |
|---|---|---|---|---|---|---|---|---|---|
$ROWS_SUBMIT
Against references doing a submission's work, durable before each reply: Redis
(\`appendonly yes\`, \`appendfsync always\`; \`redis-benchmark -c N -n $REF_N -r 100000000
EVALSHA\` of bench/refs/submit.lua: the daily sequence, the op record, the ~1 KB dossier,
the owner index, the feed entry, the log entry and the day's counter) and PostgreSQL
(\`synchronous_commit on\`; \`pgbench -c N -T ${DURATION}\` of bench/refs/pg-submit.sql, the
same in one transaction). "stored" is counted in the store after the run. PostgreSQL's
latency is pgbench's average.

| system | clients | durable submissions | per second | p50 ms | p99 ms |
|---|---|---|---|---|---|
| hosod (first row above) | $CLIENTS | $(result_field "$TMP/submit-$CLIENTS.out" ok) stored | $(result_field "$TMP/submit-$CLIENTS.out" rate) | $(result_field "$TMP/submit-$CLIENTS.out" p50_ms) | $(result_field "$TMP/submit-$CLIENTS.out" p99_ms) |
$ROWS_REF
### Delivery latency: an officer's move to the national portal and to a subscribed bot

\`hoso-bench moves --count $MOVES --pace-ms 20\` on hosod --workers 2 with the portal mirror pointed
at tests/support/fake_portal and a bot subscribed to every dossier with clients/bot-relay
as its receiver (all on 127.0.0.1): each dossier is accepted (1→2) and taken into
processing (2→4), 20 ms apart. Latency = the receiver's clock when the change arrived
(the portal: its third call, CapNhatTienDoHoSoMC) minus the officer's clock when the
move's 201/200 arrived (the same machine's clock).

| receiver | changes received | p50 ms | p99 ms | max ms |
|---|---|---|---|---|
$ROWS_DELIVERY
### Files: uploads and downloads against nginx

Uploads: \`hoso-bench upload --clients $UP_CLIENTS --size 10485760 --piece 1048576\`: each client
sends one 10 MiB file in 1 MiB pieces on its own keep-alive connection; to hosod with
tus (each piece encrypted with the file's key and fdatasync'ed before its 204), to
nginx as PUTs of the same pieces (DAV module: the body goes to disk, not fsync'ed).
Downloads: \`wrk -t1 -c4 -d5s\` on one 10 MiB file; hosod decrypts it as it streams.
Server CPU µs/MiB = the server's user+system CPU during the run per MiB moved.

| server | MiB/s | server CPU µs/MiB | p50 ms | p99 ms | errors |
|---|---|---|---|---|---|
$ROWS_FILES
Memory: $RSS_LINE

### Push: one agency event to many subscribers, and memory per idle subscriber

\`hoso-bench fanout --subscribers N --events E --pace-ms P --pid SERVER\`: N connections
(spread over 127.0.0.1-16) subscribe, sit idle for 2 s, then E events come one every
P ms: on hosod (--workers 1, pinned to core 0) an officer's move (1→2) of a dossier
of the agency, to N WebSockets subscribed to that agency's stream (msgpack frames, as
the app); on mosquitto (pinned to core 0) a QoS 0 publish of as many bytes as hosod's
event frame (${FAN_BYTES:-?} B) to N MQTT subscribers of one topic. Debian's mosquitto
2.0.11 will not open a WebSocket listener with its libwebsockets 4.1, so the reference
is MQTT over plain TCP. The load generator runs on core 1, one epoll thread for all
subscribers. Latency = receipt minus the event's scheduled time (open loop), over
every delivery; "saturated" rows ask for more deliveries per second than either
server makes, so their deliveries/s is the server's ceiling and their latency is
queueing. RSS KiB per idle subscriber = the growth of the server's anonymous resident
memory (RssAnon: the store's mapped pages do not count) with N idle subscribers,
divided by N.

| server | subscribers | events | deliveries | deliveries/s | p50 ms | p99 ms | max ms | missing | RSS KiB per idle subscriber |
|---|---|---|---|---|---|---|---|---|---|
$ROWS_FAN

### Catch-up: a citizen's app back after missing $CATCHUP_EVENTS events

\`hoso-bench catchup --events $CATCHUP_EVENTS\` on hosod --workers 1 (pinned to core 0,
--feed-max-events $((CATCHUP_EVENTS * 2))): 8 connections fill one citizen's feed with
submissions, then the citizen reads the whole feed back from seq 0, over a WebSocket
(\`{type: subscribe, since: 0}\`: the replay from storage, msgpack frames) and over
\`GET /v1/sync?since=N&limit=1000\`. Seconds = from the subscribe frame (the first
request) to the last event; the run fails unless every seq from 1 to the head arrives
once and in order.

| path | events | seconds | events/s | first event ms | gaps | duplicates |
|---|---|---|---|---|---|---|
$ROWS_CATCHUP

### Push: every citizen on their own feed, a store of $SEED_N dossiers

\`hoso-bench push --subscribers $PUSH_SUBS --events $PUSH_EVENTS --rate $PUSH_RATE\` on
hosod --workers 1 (pinned to core 0) serving the seeded store: $PUSH_SUBS citizens, each
with a fresh session from \`hoso-seed --dossiers 0 --sessions N\`, connect (spread over
127.0.0.1-16) and subscribe to their own feed; the demo admin then moves their
dossiers (1→2, 2→4, 4→9, 6→4, 9→10, each dossier once; where earlier runs left too
few, the citizens first file new ones, before the clock) at $PUSH_RATE per second from
8 connections, open loop. Latency = receipt on the citizen's WebSocket minus the move's
scheduled send time: it holds the request, the durable commit (group commit with
fsync) and the push, so it bounds the time from commit to receipt from above. "after
the 200" = receipt minus the move's 200 at the mover (0 when the event came first).
The second row is a reconnect storm: halfway through the moves every subscriber loses
its connection at once and comes back (at most 256 handshakes in flight), subscribing
from the last seq it got; events meanwhile wait in its feed, so their latency holds
the time offline. The run fails unless every move reaches its citizen, and only that
citizen, once, and every feed's seqs arrive without a gap or a repeat.

| subscribers | moves | deliveries | p50 ms | p99 ms | p99.9 ms | max ms | p99 after the 200 ms | missing | duplicates | on a wrong feed | dropped at once | feed seq gaps / repeats | RSS KiB per idle subscriber | server: commit to socket, p99 ≤ ms |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
$ROWS_PUSH
"server: commit to socket" is hosod's own \`hoso_ws_push_delay_seconds\` histogram, read
before and after the moves: for each live delivery, the time from its event's commit
to the end of the worker's pass that wrote its frame to the subscriber's socket (or
queued it behind a write in progress), so an upper bound for each; the value is the
upper bound of the bucket that holds the 99th percentile (buckets 0.05, 0.1, 0.25,
0.5, 1, 2.5, 5 ms ...). Loopback adds the kernel's hand-over to the client; the client
columns above add the request and the durable commit on top.

### A day's mix: watching, reading, filing and moving at once

\`hoso-bench push --subscribers $PUSH_SUBS --reads $MIX_READS --submits $MIX_SUBMITS --rate $MIX_MOVES --events $((MIX_MOVES * DURATION))\` on
the same seeded store and hosod (--workers 1, pinned to core 0): the citizens watch
their own feeds as above; meanwhile, open loop for ${DURATION} s, citizens read one of the
dossiers being moved (GET as its owner, one connection per 250 reads/s), 64 of them
file new dossiers (one connection per 40/s) and the demo admin moves dossiers (8
connections); a failed read or submission is counted in "errors", not fatal. Every latency
counts from the request's scheduled time; "delivery" is the move's event on its
citizen's WebSocket. The run fails unless every request succeeds and every move
reaches its citizen once, in feed order.

| watching | moves | reads | submissions | delivery p50 / p99 ms | server: commit to socket, p99 ≤ ms | move p50 / p99 ms | read p50 / p99 ms | submission p50 / p99 ms | errors: reads + submissions + moves | missing / duplicates / seq gaps |
|---|---|---|---|---|---|---|---|---|---|---|
$ROWS_MIX
EOF
cat "$TMP/cluster.md" >>"$TMP/report.md"

echo
cat "$TMP/report.md"

if [ "$DOC" != "-" ]; then
	BEGIN_MARK='<!-- bench/run.sh: begin -->'
	END_MARK='<!-- bench/run.sh: end -->'
	if [ ! -f "$DOC" ]; then
		printf '# hoso benchmarks\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >"$DOC"
	elif ! grep -qF "$BEGIN_MARK" "$DOC"; then
		printf '\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
	fi
	# Only the block between the markers is replaced; the rest of the file is kept.
	awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v rep="$TMP/report.md" '
		$0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }
	' "$DOC" >"$TMP/doc.md"
	cp "$TMP/doc.md" "$DOC"
	echo "bench: results written to $DOC"
fi
if [ "$RESULTS" != "-" ]; then
	sh "$ROOT/bench/results.sh" "$TMP/report.md" "$RESULTS" "$STAMP"
fi
