#!/bin/sh
# Every ```sh block of README.md, docs/protocol.md, docs/client.md and docs/operations.md,
# run as written, in that order, in one shell, against a fresh hosod started the way
# `make run` starts it (127.0.0.1:8080, ./var, --create --demo), with hosod, hoso, curl
# and jq on the PATH. Blocks fenced as ```text (synopses, make targets that CI runs
# itself) are not run.
#
# It runs inside a network namespace of its own when it can (root, or user namespaces),
# so that port 8080 is free whatever else runs on the machine; else on the host if
# 8080 is free; else it says it was skipped.
#
# usage: tests/docs.sh BUILD_DIR   (HOSO_DOCS_KEEP=1 keeps the scratch dir and its outputs)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)

if [ -z "${HOSO_DOCS_NS:-}" ]; then
	for how in "-n" "-rn"; do
		if unshare $how true 2>/dev/null; then
			exec unshare $how env HOSO_DOCS_NS=1 sh "$0" "$@"
		fi
	done
	if curl -s -o /dev/null --max-time 2 http://127.0.0.1:8080/; then
		echo "docs: skipped: no network namespace here and 127.0.0.1:8080 is taken"
		exit 77 # ctest: skipped (SKIP_RETURN_CODE)
	fi
else
	ip link set lo up
fi

work=$(mktemp -d "${HOSO_TEST_TMP:-/tmp}/docs-XXXXXX")
cd "$work"
export HOME="$work" PATH="$build/server:$build/clients:$PATH"
unset HOSO_STATE HOSO_SERVER

hosod serve --listen 127.0.0.1:8080 --data ./var --create --demo > hosod.out 2>&1 &
server=$!
cleanup() {
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
}
trap cleanup EXIT
i=0
until curl -s -o /dev/null http://127.0.0.1:8080/healthz; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "docs: hosod did not start"; cat hosod.out; exit 1
	fi
	sleep 0.1
done

# One script: each block as it stands, then a line that says which one passed.
for doc in README.md docs/protocol.md docs/client.md docs/operations.md; do
	awk -v doc="$doc" '
		/^```sh[ \t]*$/ { on = 1; n++; print "echo \"docs: " doc " example " n "\" >&2"; next }
		/^```/ { on = 0; next }
		on { print }
	' "$top/$doc"
done > examples.sh
count=$(grep -c '^echo "docs: ' examples.sh)

if ! timeout 300 bash -e -o pipefail examples.sh > examples.out 2> examples.err; then
	echo "docs: an example failed; the last one started:"
	grep '^docs: ' examples.err | tail -1
	echo "--- stderr"; tail -20 examples.err
	echo "--- stdout"; tail -20 examples.out
	echo "--- hosod"; tail -20 hosod.out
	exit 1
fi
# The command reference of docs/operations.md is the commands' own --help.
for cmd in hosod hoso; do
	$cmd --help > help.txt
	if ! python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' \
		help.txt "$top/docs/operations.md"; then
		echo "docs: '$cmd --help' differs from its copy in docs/operations.md:"
		cat help.txt
		exit 1
	fi
done
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" hosod.out; then
	echo "docs: sanitizer report in hosod's output"
	exit 1
fi
if [ -n "${HOSO_DOCS_KEEP:-}" ]; then
	echo "docs: kept $work"
else
	cd / && rm -rf "$work"
fi
echo "docs: $count examples: $count passed, 0 failed"
