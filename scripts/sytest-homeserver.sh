#!/bin/sh
# SyTest's --hs-command: runs one Homestead for SyTest (scripts/sytest-homeserver.ts) on the project's pinned
# Node.js, its log in $SYTEST_HS_DIR/homestead.log. exec, so SyTest's SIGINT reaches the server itself.
here=$(dirname "$(readlink -f "$0")")
root=$(dirname "$here")
node_bin="$root/node_modules/.bin/node"
[ -x "$node_bin" ] || node_bin=node
# SyTest's CA (SYTEST_CA_CERT) signs its HTTPS servers: besides federation.ca_file (federation), every other
# outbound HTTPS request (URL previews, identity servers) trusts it through Node's own NODE_EXTRA_CA_CERTS.
[ -n "${SYTEST_CA_CERT:-}" ] && export NODE_EXTRA_CA_CERTS="$SYTEST_CA_CERT"
exec "$node_bin" "$here/sytest-homeserver.ts" >>"${SYTEST_HS_DIR:-.}/homestead.log" 2>&1
