#!/usr/bin/env bash
# Runs a Node entry point with a Node >= 22 and the mediasoup worker selected; used by every npm script.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
th_ensure_node
[ -d "$TEAHOUSE_ROOT/node_modules" ] || th_die "node_modules is missing: run 'npm run setup'"
th_select_worker
exec node "$@"
