#!/bin/sh
# The layout of server/ holds (README, Layout): folders depend on each other only in
# the documented directions, and the shared mechanisms stay the only way to do their
# job. Run by ctest as `layout`; prints every breach and exits 1 on any.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/server" || exit 1
bad=0
breach() { echo "layout: $*"; bad=1; }

# Folder-qualified includes ("core/internal.h") name every dependency between folders.
# Allowed: core <-> push (the one designed interface), domain -> core, tools -> core,
# routes -> core, domain, push, consumers, reports, broker; consumers and reports -> core,
# domain; broker -> core, consumers (the delivery engine's cluster mode); tools -> broker (admin --cluster); and main.c -> core, consumers, reports, routes, tools, broker.
allowed() {
	case "$1:$2" in
	core:push|push:core|domain:core|tools:core|routes:core|routes:domain|routes:push) return 0 ;;
	consumers:core|consumers:domain|routes:consumers|routes:reports|reports:core|reports:domain) return 0 ;;
	main:core|main:consumers|main:reports|main:routes|main:tools) return 0 ;;
	broker:core|broker:consumers|routes:broker|main:broker|tools:broker) return 0 ;;
	esac
	return 1
}
for f in main.c */*.c */*.h; do
	case "$f" in */*) from=${f%%/*} ;; *) from=main ;; esac
	grep -o '#include "[a-z]*/[^"]*"' "$f" | sed 's/#include "\([a-z]*\)\/.*/\1/' | sort -u | while read -r to; do
		[ "$to" = "$from" ] && continue
		allowed "$from" "$to" || echo "layout: $f includes $to/: $from/ may not depend on $to/"
	done
	grep -n '#include "\.\./' "$f" | sed "s|^|layout: $f: climbs out of its folder: |"
done | grep . && bad=1

# One status-change path: only server/domain/dossier.c stores a dossier or counts it.
for sym in hoso_dossier_put hoso_dossier_store hoso_stats_add hoso_event_append\(; do
	grep -ln "$sym" */*.c | grep -v '^domain/dossier.c$' | while read -r f; do
		echo "layout: $f calls ${sym%\\(}: a dossier changes only through hoso__dossier_change"
	done
done | grep . && bad=1

# One way to make a writer op: nothing outside the writer sets an op's apply by hand.
grep -n '\(\.\|->\)apply = ' */*.c | grep -v '^core/writer.c:' | sed 's/^/layout: op built by hand (use hoso_wop_init): /' | grep . && bad=1

# The SDK does not reach into the server's libraries.
grep -n '#include "\.\./\|hoso_storage.h' "$top"/clients/*/*.[ch] | sed 's/^/layout: /' | grep . && bad=1

[ $bad = 0 ] && echo "layout: 1 passed, 0 failed"
exit $bad
