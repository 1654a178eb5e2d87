#!/bin/sh
# bench/cluster.sh BUILD_DIR [OUT.md] - cluster mode on one machine (bench/run.sh runs it
# as its last section; it also runs alone). A node holding every shard of a seeded store
# and a front node of no shard, joined by nats-server -js, each hosod --workers 1 pinned
# with nats-server to core 0, the load generator on core 1:
#
#   1. the outbox: the node starts on the seeded store with an empty JetStream and
#      publishes its whole log; events per second until JetStream acknowledged all;
#   2. the cost of a hop: wrk on GET /v1/dossiers/{code} through the node that holds the
#      citizen, and through the front node (forwarded over NATS and back);
#   3. push when the WebSocket's node is not the account's: hoso-bench push with the
#      citizens and the mover on the holding node, then both on the front node;
#   4. the portal mirror under a lease catching up with the whole stream, against one
#      node's mirror catching up with its own log (HOSO_BENCH_CLUSTER_MIRROR=0 skips it).
#
# Writes a markdown section to OUT.md (default: stdout). Everything listens on
# 127.0.0.1, every wait is bounded, the temp dir goes on exit.
#
# Environment: HOSO_BENCH_DURATION (seconds per wrk run, default 10),
# HOSO_BENCH_CLUSTER_DOSSIERS (seeded dossiers, default 50000), HOSO_BENCH_CLUSTER_SUBS
# (push subscribers, default 2000), HOSO_BENCH_CLUSTER_RATE (moves/s, default 200).
set -eu
[ $# -ge 1 ] || { echo "usage: bench/cluster.sh BUILD_DIR [OUT.md]" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
OUT=${2:--}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
command -v nats-server >/dev/null 2>&1 || die "nats-server missing (scripts/install-deps)"
DURATION=${HOSO_BENCH_DURATION:-10}
N=${HOSO_BENCH_CLUSTER_DOSSIERS:-50000}
SUBS=${HOSO_BENCH_CLUSTER_SUBS:-2000}
RATE=${HOSO_BENCH_CLUSTER_RATE:-200}
CITIZENS=$(((N + 9) / 10))
[ "$SUBS" -le "$CITIZENS" ] || SUBS=$CITIZENS
SHARDS=16
CONNS=${HOSO_BENCH_CONNS:-32}
NATS_PID=""
EDGE_PID=""
cluster_cleanup() {
	stop_pid "$EDGE_PID"
	stop_pid "$NATS_PID"
	bench_cleanup
}
trap cluster_cleanup EXIT

# until_done CHECK WHAT: runs the function CHECK every 0.2 s until it succeeds, 600 s at
# most; CHECK leaves in PROGRESS what the failure message shows.
until_done() {
	_i=0
	PROGRESS=""
	until "$1"; do
		_i=$((_i + 1))
		[ "$_i" -lt 3000 ] || die "$2 in 600 s ($PROGRESS)"
		sleep 0.2
	done
}

# ---- the seeded store -------------------------------------------------------------
DATA=$TMP/n1
start_hosod 1
stop_pid "$HOSOD_PID"
HOSOD_PID=""
echo "bench: cluster: seeding $N dossiers of $CITIZENS citizens ..."
"$BUILD/bench/hoso-seed" --data "$DATA" --citizens "$CITIZENS" --dossiers "$N" --sessions "$SUBS" \
	--tokens "$TMP/tokens.txt" --cluster-shards "$SHARDS" >"$TMP/seed.out" 2>&1 ||
	{ cat "$TMP/seed.out" >&2; die "hoso-seed failed"; }
ADMIN_PASS=$(awk '$1 == "admin" { print $2 }' "$DATA/demo-credentials.txt")
TOKEN=$(head -n 1 "$TMP/tokens.txt" | cut -d ' ' -f 1)
CODE=$(head -n 1 "$TMP/tokens.txt" | cut -d ' ' -f 2)

# ---- NATS and the cluster file ----------------------------------------------------
NATS_PORT=$("$BENCH" port)
# shellcheck disable=SC2086 # $PIN0 is a command prefix or empty
$PIN0 nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$TMP/jetstream" >"$TMP/nats.log" 2>&1 &
NATS_PID=$!
printf '{"nats": "nats://127.0.0.1:%s", "shards": %s, "nodes": [{"id": "n1", "shards": "0-%s"}, {"id": "edge1"}]}\n' \
	"$NATS_PORT" "$SHARDS" "$((SHARDS - 1))" >"$TMP/cluster.json"
_i=0
until "$HOSOD" cluster status --cluster "$TMP/cluster.json" >/dev/null 2>&1 || [ $? = 3 ]; do
	_i=$((_i + 1))
	[ "$_i" -lt 100 ] || { cat "$TMP/nats.log" >&2; die "nats-server did not start"; }
	sleep 0.1
done

# ---- 1. the outbox ----------------------------------------------------------------
echo "bench: cluster: the node on the seeded store publishes its log to JetStream ..."
HOSOD_EXTRA="--cluster $TMP/cluster.json --node n1"
T0=$(date +%s.%N)
start_hosod 1 "$PIN0"
N1_URL=$URL
N1_PID=$HOSOD_PID
# Done when the node's record says all of its log is acknowledged and the stream holds
# exactly that many events (the record is rewritten every second).
# status_read: `hosod cluster status --json` anew; status FILTER: a field of it.
status_read() {
	"$HOSOD" cluster status --cluster "$TMP/cluster.json" --json >"$TMP/status.json" 2>/dev/null || true
}
status() { jq -r "$1" "$TMP/status.json"; }
outbox_drained() {
	status_read
	HEAD=$(status '.nodes[0].outbox.head // 0')
	PUB=$(status '.nodes[0].outbox.published // 0')
	STREAM=$(status '.stream.events // 0')
	PROGRESS="published $PUB of $HEAD, stream $STREAM"
	[ "$HEAD" -gt 0 ] && [ "$PUB" = "$HEAD" ] && [ "$STREAM" = "$HEAD" ]
}
until_done outbox_drained "the outbox did not drain"
T1=$(date +%s.%N)
OUTBOX_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
# The node's own count: from its start to the last acknowledgement (its record lags by
# up to a second, so this rate is a floor).
OUTBOX_RATE=$(awk -v n="$PUB" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "bench: cluster: $PUB events in $OUTBOX_S s ($OUTBOX_RATE/s, node start included); stream $STREAM"

# ---- the front node ---------------------------------------------------------------
mkdir -p "$TMP/edge1"
cp "$DATA/secret.key" "$TMP/edge1/"
DATA_N1=$DATA
DATA=$TMP/edge1
HOSOD_EXTRA="--cluster $TMP/cluster.json --node edge1"
start_hosod 1 "$PIN0"
EDGE_URL=$URL
EDGE_PID=$HOSOD_PID
HOSOD_PID=$N1_PID
DATA=$DATA_N1

# ---- 2. the cost of a hop ---------------------------------------------------------
WRK_FLAGS="-t1 -c$CONNS -d${DURATION}s --latency -s $TMP/report.lua"
hop() {
	# shellcheck disable=SC2086
	$PIN1 wrk $WRK_FLAGS -H "Authorization: Bearer $TOKEN" -H "Accept: application/msgpack" \
		"$1/v1/dossiers/$CODE" >"$2" 2>&1 || { cat "$2" >&2; die "wrk failed"; }
}
curl -fsS --max-time 5 -o /dev/null -H "Authorization: Bearer $TOKEN" "$EDGE_URL/v1/dossiers/$CODE" ||
	die "the forwarded GET failed"
for r in 1 2; do
	echo "bench: cluster: round $r: wrk through the holding node, then through the front node ..."
	hop "$N1_URL" "$TMP/hop-local-$r"
	hop "$EDGE_URL" "$TMP/hop-fwd-$r"
done
best() {
	_b=""
	for _f in "$@"; do
		if [ -z "$_b" ] || [ "$(result_field "$_f" rps)" -gt "$(result_field "$_b" rps)" ]; then _b=$_f; fi
	done
	echo "$_b"
}
L=$(best "$TMP/hop-local-1" "$TMP/hop-local-2")
F=$(best "$TMP/hop-fwd-1" "$TMP/hop-fwd-2")
HOP_ROWS="| through the holding node (local) | $(result_field "$L" rps) | $(result_field "$L" p50_ms) | $(result_field "$L" p99_ms) | $(result_field "$L" errors) |
| through the front node (forwarded) | $(result_field "$F" rps) | $(result_field "$F" p50_ms) | $(result_field "$F" p99_ms) | $(result_field "$F" errors) |
"
HOP_P50=$(awk -v a="$(result_field "$F" p50_ms)" -v b="$(result_field "$L" p50_ms)" 'BEGIN { printf "%.2f", a - b }')

# ---- 3. push across nodes ---------------------------------------------------------
EVENTS=$((RATE * 10))
PUSH_ROWS=""
push() {
	echo "bench: cluster: push, $SUBS citizens on $2, $EVENTS moves at $RATE/s ..."
	# shellcheck disable=SC2086
	$PIN1 "$BENCH" push --url "$1" --admin "admin:$ADMIN_PASS" --tokens "$TMP/tokens.txt" \
		--subscribers "$SUBS" --events "$EVENTS" --rate "$RATE" --pid "$3" >"$TMP/push.out" 2>"$TMP/push.err" ||
		{ cat "$TMP/push.out" "$TMP/push.err" >&2; die "hoso-bench push failed"; }
	f=$TMP/push.out
	PUSH_ROWS="$PUSH_ROWS| $2 | $(result_field "$f" ready) | $(result_field "$f" deliveries) | $(result_field "$f" p50_ms) | $(result_field "$f" p99_ms) | $(result_field "$f" max_ms) | $(result_field "$f" missing) | $(result_field "$f" duplicates) | $(result_field "$f" seq_gaps) / $(result_field "$f" seq_dups) |
"
}
push "$N1_URL" "the holding node" "$N1_PID"
push "$EDGE_URL" "the front node" "$EDGE_PID"

# ---- 4. the portal mirror under a lease --------------------------------------------
# Both nodes again, now with the portal's settings: the portal consumer, never run in
# this cluster, reads HOSO_EVENTS from its start, one node holding its lease, every
# delivery run on the holding node (hoso.sink.<shard>), which calls the fake portal.
# Then the same store as one node without --cluster, its mirror reading its own log.
MIRROR_ROWS=""
FAKE_PORTAL=$BUILD/tests/fake_portal
# portal_start RUN: both nodes stopped, a fake portal recording into portal-RUN.jsonl,
# and T0 for mirror_row; the caller starts the nodes.
portal_start() {
	stop_pid "$EDGE_PID"
	EDGE_PID=""
	stop_pid "$HOSOD_PID"
	HOSOD_PID=""
	"$FAKE_PORTAL" --record "$TMP/portal-$1.jsonl" --port 0 >"$TMP/portal.port" 2>"$TMP/portal.log" &
	PORTAL_PID=$!
	_i=0
	until grep -q '^port ' "$TMP/portal.port" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -lt 100 ] || die "the fake portal did not start"
		sleep 0.1
	done
	PPORT=$(sed -n 's/^port //p' "$TMP/portal.port")
	PORTAL_ARGS="--portal-auth-url http://127.0.0.1:$PPORT/auth --portal-url http://127.0.0.1:$PPORT/api --portal-user mirror --portal-password mirror-pass --portal-agency 000.00.00.H29"
	T0=$(date +%s.%N)
}
# mirror_row NAME POSITIONS RUN: a row from what the fake portal of RUN recorded, timed
# from T0 (the nodes' start) to now.
mirror_row() {
	_s=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	_calls=$(wc -l <"$TMP/portal-$3.jsonl" | tr -d ' ')
	MIRROR_ROWS="$MIRROR_ROWS| $1 | $2 | $_calls | $_s | $(awk -v n="$2" -v s="$_s" 'BEGIN { printf "%.0f", n / s }') | $(awk -v n="$_calls" -v s="$_s" 'BEGIN { printf "%.0f", n / s }') |
"
}
if [ "${HOSO_BENCH_CLUSTER_MIRROR:-1}" = 1 ] && [ -x "$FAKE_PORTAL" ]; then
	echo "bench: cluster: the portal mirror under a lease reads the whole stream ..."
	portal_start cluster
	HOSOD_EXTRA="--cluster $TMP/cluster.json --node n1 $PORTAL_ARGS"
	start_hosod 1 "$PIN0"
	N1_PID=$HOSOD_PID
	DATA=$TMP/edge1
	HOSOD_EXTRA="--cluster $TMP/cluster.json --node edge1 $PORTAL_ARGS"
	start_hosod 1 "$PIN0"
	EDGE_PID=$HOSOD_PID
	HOSOD_PID=$N1_PID
	DATA=$DATA_N1
	cluster_mirror_done() {
		status_read
		LAST=$(status '.stream.last_seq // 0')
		ACKED=$(status '[.consumers[] | select(.name == "portal") | .acknowledged][0] // 0')
		HOLDER=$(status '[.consumers[] | select(.name == "portal") | .holder][0] // "-"')
		PROGRESS="$ACKED of $LAST"
		[ "$LAST" -gt 0 ] && [ "$ACKED" = "$LAST" ]
	}
	until_done cluster_mirror_done "the portal mirror did not reach the stream's end"
	mirror_row "cluster: lease held by $HOLDER, each delivery run on n1 over NATS" "$LAST" cluster
	stop_pid "$PORTAL_PID"
	# One node, the same store, its own log (its mirror never ran here either).
	portal_start single
	HOSOD_EXTRA="$PORTAL_ARGS"
	start_hosod 1 "$PIN0"
	ADMIN_TOKEN=$(curl -fsS --max-time 5 -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASS\"}" "$URL/v1/auth/login" | jq -r .token)
	single_mirror_done() {
		_st=$(curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/v1/admin/mirror" 2>/dev/null || true)
		_cur=$(printf '%s' "$_st" | jq -r '.cursor // 0' 2>/dev/null || echo 0)
		_head=$(printf '%s' "$_st" | jq -r '.head // 0' 2>/dev/null || echo 0)
		PROGRESS="$_cur of $_head"
		[ "$_head" -gt 0 ] && [ "$_cur" = "$_head" ]
	}
	until_done single_mirror_done "the single node's mirror did not reach its log's end"
	mirror_row "one node, its own log" "$_head" single
	stop_pid "$PORTAL_PID"
	PORTAL_PID=""
else
	MIRROR_ROWS="| skipped (HOSO_BENCH_CLUSTER_MIRROR=0 or no fake_portal) | | | | | |
"
fi

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	cat <<EOF
### Cluster mode: a hop, the outbox, push across nodes (one machine)

\`sh bench/cluster.sh BUILD\` ($REV): nats-server -js and two hosod --workers 1 on core 0
(a node holding all $SHARDS shards of a store seeded with $N dossiers, and a front
node of no shard), the load generator on core 1. Every process shares the same core,
so these rows show CPU cost, not what separate machines would do.

Outbox: the holding node starts with an empty JetStream and publishes its whole log
(every committed event, \`Nats-Msg-Id\` epoch:seq, acknowledged in batches of 512):
$PUB events in $OUTBOX_S s, **at least $OUTBOX_RATE events/s** (node start and the
node record's 1 s period included); the stream then held exactly $STREAM, each event
once.

A hop: \`wrk -t1 -c$CONNS -d${DURATION}s\` on GET /v1/dossiers/{code} with the citizen's token
(best of 2 runs each). Through the front node the request goes over NATS to the
holding node, runs through its HTTP stack, and the reply comes back the same way:
p50 +$HOP_P50 ms.

| path | req/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
$HOP_ROWS
Push: \`hoso-bench push --subscribers $SUBS --events $EVENTS --rate $RATE\`: the citizens subscribe
to their own feeds and the demo admin moves their dossiers, all through one node.
On the front node the WebSockets' owners are held elsewhere (live events come over
core NATS, replays from the holding node) and every move is forwarded to the holding
node; latency from each move's scheduled send to its receipt.

| through | subscribers | deliveries | p50 ms | p99 ms | max ms | missing | duplicates | feed seq gaps / repeats |
|---|---|---|---|---|---|---|---|---|
$PUSH_ROWS
The portal mirror catching up: both nodes restarted with the settings of
tests/support/fake_portal; the portal consumer, never run, reads the whole stream under
its lease (positions: every event, most of them a dossier's), each delivery run on the
node of the dossier, and the fake portal records each call it took. Then the same store
as one node without \`--cluster\`, its mirror reading its own log. Time from the start
of the nodes to the last position acknowledged (\`--portal-inflight\` 16, the default).

| mirror | positions | portal calls recorded | seconds | positions/s | calls/s |
|---|---|---|---|---|---|
$MIRROR_ROWS
EOF
} >"$TMP/cluster.md"
if [ "$OUT" = "-" ]; then
	cat "$TMP/cluster.md"
else
	cp "$TMP/cluster.md" "$OUT"
fi
