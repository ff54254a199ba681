#!/usr/bin/env bash
# npm run test:synapse: Homestead and a real Synapse federating over loopback TLS with the Synapse anchor's
# test CA (../shared/anchors/synapse; run as root, not in CI: it builds a Debian chroot). Starts the anchor's
# Synapse instance fedA (fedA.test:8450) and one Homestead (hs1.test:8460, scripts/interop-homeserver.ts),
# then runs the anchor's fed_smoke.py and our own scripts/interop-checks.ts (room versions, edits, redactions,
# backfill, E2EE, restricted rooms) both ways: Synapse hosts the rooms and Homestead joins, then the reverse.
# Each run's JSON goes to $INTEROP_OUT (default a temporary folder); docs/interop.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHOR="$(cd "${SYNAPSE_ANCHOR_KIT:-../shared/anchors/synapse}" && pwd)"  # the kit (SYNAPSE_ANCHOR_KIT from a worktree elsewhere)
export ANCHOR_ROOT="${ANCHOR_ROOT:-/var/tmp/synapse-anchor}"
OUT="${INTEROP_OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
HS_NAME=hs1.test:8460
HS_CLIENT_PORT=8012
HS_FED_PORT=8460

ANCHOR_INSTANCE=fedA ANCHOR_SERVER_NAME=fedA.test:8450 ANCHOR_HTTP_PORT=8010 ANCHOR_FED_PORT=8450 ANCHOR_PEERS=hs1.test "$ANCHOR/setup.sh" >"$OUT/setup.log"
"$ANCHOR/issue-cert.sh" hs1.test >>"$OUT/setup.log"
ANCHOR_INSTANCE=fedA "$ANCHOR/start.sh"

data="$(mktemp -d)"
INTEROP_SERVER_NAME=$HS_NAME INTEROP_CLIENT_PORT=$HS_CLIENT_PORT INTEROP_FEDERATION_PORT=$HS_FED_PORT \
  INTEROP_ANCHOR_ROOT="$ANCHOR_ROOT" INTEROP_DATA_DIR="$data" node scripts/interop-homeserver.ts >"$OUT/homestead.log" 2>&1 &
hs=$!
cleanup() {
  kill -TERM "$hs" 2>/dev/null && wait "$hs" 2>/dev/null || true
  rm -rf "$data"
  ANCHOR_INSTANCE=fedA "$ANCHOR/stop.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do grep -q '^ready ' "$OUT/homestead.log" 2>/dev/null && break; kill -0 "$hs" 2>/dev/null || { cat "$OUT/homestead.log"; exit 1; }; sleep 0.5; done

eval "$(ANCHOR_INSTANCE=fedA "$ANCHOR/fed-env.sh" S)"
status=0
run() { # $1: label, $2: side A prefix (hosts the rooms), $3: side B prefix
  local label=$1 a=$2 b=$3 side var
  echo "== $label"
  for side in A B; do
    local from=$a; [ $side = B ] && from=$b
    for var in URL SERVER_NAME FED_URL SECRET; do eval "export FED_${side}_${var}=\"\${FED_${from}_${var}:-}\""; done
  done
  FED_JSON="$OUT/$label.json" python3 "$ANCHOR/fed_smoke.py" || status=1
  echo "== $label: interop checks"
  INTEROP_JSON="$OUT/$label-checks.json" node scripts/interop-checks.ts || status=1
}
FED_H_URL=http://127.0.0.1:$HS_CLIENT_PORT FED_H_SERVER_NAME=$HS_NAME FED_H_FED_URL=https://127.0.0.1:$HS_FED_PORT
run synapse-hosts S H
run homestead-hosts H S
echo "results in $OUT"
exit $status
