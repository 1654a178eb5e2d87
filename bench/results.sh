#!/bin/sh
# bench/results.sh REPORT.md OUT_DIR STAMP - one bench/run.sh report, kept as data:
#
#   OUT_DIR/STAMP.json   every table of the report: the run's date, machine, versions and
#                        load, then each table with its section title, column names and
#                        rows (numbers as numbers); latest.json is a copy
#   OUT_DIR/*.svg        gnuplot plots of throughput and latency percentiles, replaced
#                        by each run: read-throughput, read-latency, writes, fanout
#
# Plots need gnuplot (HOSO_BENCH_DEPS=1 scripts/install-deps); without it only the JSON
# is written, and a line says so.
set -eu

REPORT=${1:?usage: bench/results.sh REPORT.md OUT_DIR STAMP}
OUT=${2:?usage: bench/results.sh REPORT.md OUT_DIR STAMP}
STAMP=${3:?usage: bench/results.sh REPORT.md OUT_DIR STAMP}
mkdir -p "$OUT"

# ---- JSON ---------------------------------------------------------------------------
awk '
function esc(s) {
	gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, " ", s); gsub(/`/, "", s)
	return s
}
function val(s) {
	if (s ~ /^-?[0-9]+(\.[0-9]+)?$/) return s
	return "\"" esc(s) "\""
}
function cells(line, out,    n, i, parts) {
	sub(/^\|/, "", line); sub(/\|[ \t]*$/, "", line)
	n = split(line, parts, "|")
	for (i = 1; i <= n; i++) { out[i] = parts[i]; gsub(/^[ \t]+|[ \t]+$/, "", out[i]) }
	return n
}
function close_table() {
	if (intable) printf "\n    ]}"
	intable = 0
}
BEGIN { printf "{"; nmeta = 0; ntables = 0; intable = 0; title = "" }
/^- (Date|Machine|Versions|Command|Load average after the run): / {
	key = $0; sub(/^- /, "", key); v = key; sub(/: .*/, "", key); sub(/^[^:]*: /, "", v)
	gsub(/ /, "_", key); key = tolower(key)
	printf "%s\n  \"%s\": \"%s\"", (nmeta++ ? "," : ""), key, esc(v)
	next
}
/^### / { close_table(); title = substr($0, 5); next }
/^\|/ {
	if (intable) {
		n = cells($0, c)
		printf "%s\n      [", (nrows++ ? "," : "")
		for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? ", " : ""), val(c[i])
		printf "]"
		next
	}
	if (pending != "" && $0 ~ /^\|[-| ]+$/) {
		if (ntables++ == 0) printf ",\n  \"tables\": ["
		else printf ","
		n = cells(pending, c)
		printf "\n    {\"section\": \"%s\", \"columns\": [", esc(title)
		for (i = 1; i <= n; i++) printf "%s\"%s\"", (i > 1 ? ", " : ""), esc(c[i])
		printf "], \"rows\": ["
		intable = 1; nrows = 0; pending = ""
		next
	}
	pending = $0
	next
}
{ close_table(); pending = "" }
END {
	close_table()
	if (ntables) printf "\n  ]"
	printf "\n}\n"
}' "$REPORT" >"$OUT/$STAMP.json"
cp "$OUT/$STAMP.json" "$OUT/latest.json"
echo "bench: results in $OUT/$STAMP.json"

# ---- plots --------------------------------------------------------------------------
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "bench: gnuplot missing (HOSO_BENCH_DEPS=1 scripts/install-deps): no plots"
	exit 0
fi

# tsv TITLE N COLS: the rows of the Nth table under the section whose title starts
# with TITLE, columns COLS (1-based, comma-separated), tab-separated.
tsv() {
	awk -v t="$1" -v want="$2" -v cols="$3" '
	BEGIN { k = split(cols, cs, ",") }
	/^### / { in_sec = index($0, "### " t) == 1; ntab = 0; intable = 0; next }
	!in_sec { next }
	/^\|/ {
		if ($0 ~ /^\|[-| ]+$/) { ntab++; intable = 1; next }
		if (!intable) next
		if (ntab != want) next
		line = $0; sub(/^\|/, "", line); sub(/\|[ \t]*$/, "", line)
		n = split(line, c, "|")
		out = ""
		for (i = 1; i <= k; i++) { v = c[cs[i]]; gsub(/^[ \t]+|[ \t]+$/, "", v); out = out (i > 1 ? "\t" : "") v }
		print out
		next
	}
	{ intable = 0 }' "$REPORT"
}

D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
# Short labels that still tell the rows apart.
tsv "Read path" 1 1,2,3,4,7,8 | awk -F '\t' '{
	name = $1; sub(/\/v1\/dossiers\/\{code\}/, "dossier", name); sub(/ \(h2o\/libuv floor\)/, "", name)
	sub(/, 16 sign-ins meanwhile.*/, ", sign-ins", name); sub(/store of /, "", name)
	split($3, r, /[ ,]/)
	printf "%s, %s, %s w\t%s\t%s\t%s\n", name, r[1], $2, $4, $5, $6 }' >"$D/read.tsv"
tsv "Durable submissions" 2 1,4 | awk -F '\t' '{ name = $1; sub(/,.*/, "", name); sub(/ \(.*/, "", name); printf "%s\t%s\n", name, $2 }' >"$D/writes.tsv"
tsv "Push: one agency event" 1 1,2,5,6,7 | awk -F '\t' '{
	who = $1; sub(/[ ,].*/, "", who); mode = $1; sub(/.*\(/, "", mode); sub(/\).*/, "", mode)
	printf "%s, %s, %s subs\t%s\t%s\t%s\n", who, mode, $2, $3, $4, $5 }' >"$D/fanout.tsv"

common='set terminal svg size 1100,650 dynamic font "sans,11" background "white"
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -25 left font ",9" nomirror
set grid ytics
set key top right
set bmargin 12
set rmargin 16
set lmargin 12'

if [ -s "$D/read.tsv" ]; then
	gnuplot <<EOF
$common
set output "$OUT/read-throughput.svg"
set title "Read path: requests per second ($STAMP)"
set ylabel "req/s"
set yrange [0:*]
plot "$D/read.tsv" using 2:xtic(1) title "req/s" lc rgb "#3b6ea5"
set output "$OUT/read-latency.svg"
set title "Read path: latency percentiles ($STAMP)"
set ylabel "ms"
set yrange [0:*]
plot "$D/read.tsv" using 3:xtic(1) title "p50" lc rgb "#3b6ea5", "" using 4 title "p99" lc rgb "#d0793a"
EOF
fi
if [ -s "$D/writes.tsv" ]; then
	gnuplot <<EOF
$common
set output "$OUT/writes.svg"
set title "Durable submissions per second, 64 clients ($STAMP)"
set ylabel "submissions/s"
set yrange [0:*]
plot "$D/writes.tsv" using 2:xtic(1) title "per second" lc rgb "#3b6ea5"
EOF
fi
if [ -s "$D/fanout.tsv" ]; then
	gnuplot <<EOF
$common
set output "$OUT/fanout.svg"
set multiplot layout 1,2 title "One event to many subscribers ($STAMP)"
set title "deliveries per second"
set ylabel "deliveries/s"
set yrange [0:*]
plot "$D/fanout.tsv" using 2:xtic(1) title "deliveries/s" lc rgb "#3b6ea5"
set title "latency from the event's scheduled time"
set ylabel "ms (log)"
set yrange [*:*]
set logscale y
plot "$D/fanout.tsv" using 3:xtic(1) title "p50" lc rgb "#3b6ea5", "" using 4 title "p99" lc rgb "#d0793a"
unset multiplot
EOF
fi
echo "bench: plots in $OUT: $(cd "$OUT" && ls ./*.svg 2>/dev/null | sed 's|^\./||' | tr '\n' ' ')"
