#!/usr/bin/env bash
# npm run sytest: SyTest's client-server and federation files against Homestead (scripts/sytest-homeserver.sh
# starts each server), then a check that every test in test/sytest/passing.txt still passes: exits non-zero
# on a regression.
#   npm run sytest                     the files of cs-tests.txt and fed-tests.txt, checked against passing.txt
#   npm run sytest -- tests/31sync/... only these files, not checked (to look at a few tests)
# Env: SYTEST_KIT (the kit; default ../shared/sytest beside the repository), SYTEST_TAP (the TAP output;
# default sytest.tap in the repository), SYTEST_HOME / SYTEST_WORK / SYTEST_PORTS (see the kit's README),
# SYTEST_POSTGRES_URL (see scripts/sytest-homeserver.ts).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kit="${SYTEST_KIT:-$root/../shared/sytest}"
tap="${SYTEST_TAP:-$root/sytest.tap}"
progress="${tap%.tap}.log"
[ -x "$kit/run.sh" ] || { echo "sytest: no SyTest kit at $kit (set SYTEST_KIT)" >&2; exit 2; }

# SyTest allocates the same ports on every run: one run at a time on a machine.
exec 9>"${SYTEST_HOME:-/var/tmp/sytest-kit}.lock"
flock 9

"$kit/setup.sh" >/dev/null
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(grep -hv '^\s*\(#\|$\)' "$kit/cs-tests.txt" "$kit/fed-tests.txt"); fi
# Run last: tests/61push/01message-pushed.pl. When one of its tests fails while waiting for a push, it leaves a
# waiter on SyTest's fake push gateway that answers a later push request a second time, failing whichever test
# runs then; last, a failure there can only take the tests after it in its own file down with it.
last=tests/61push/01message-pushed.pl
if [ $# -eq 0 ]; then
  rest=(); for f in "${files[@]}"; do [ "$f" = "$last" ] || rest+=("$f"); done
  if [ ${#rest[@]} -ne ${#files[@]} ]; then files=("${rest[@]}" "$last"); fi
fi

start=$(date +%s)
echo "sytest: ${#files[@]} files; TAP in $tap, progress in $progress"
# SyTest runs the tests it marks implementation-specific to Synapse only for a server named "synapse": Homestead
# serves the Synapse APIs they use (/_synapse/admin: register with a shared secret, whois, purge history, rooms),
# and its users expect them to behave as Synapse's, so it is held to them too. The name changes nothing else.
# run.sh exits non-zero when any test fails; what matters is the check against passing.txt below.
"$kit/run.sh" --hs-command "$root/scripts/sytest-homeserver.sh" --hs-impl-name synapse -O tap "${files[@]}" >"$tap" 2>"$progress" || true
echo "sytest: ran in $(( $(date +%s) - start )) s"

if [ $# -gt 0 ]; then
  python3 "$kit/tapcheck.py" "$tap"
else
  python3 "$kit/tapcheck.py" "$tap" --expect "$root/test/sytest/passing.txt" \
    || { echo "sytest: a test of test/sytest/passing.txt did not pass (server logs: SYTEST_WORK, default ${SYTEST_HOME:-/var/tmp/sytest-kit}/work)" >&2; exit 1; }
fi
