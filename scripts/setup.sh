#!/usr/bin/env bash
# `npm run setup`: everything a fresh machine needs to run the relay: Node >= 22, npm packages,
# a mediasoup worker binary and the built client. Safe to re-run; cached steps take seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$TEAHOUSE_ROOT"
T0=$(date +%s)
th_ensure_cache

th_log "step 1/4: Node"
th_ensure_node install
th_log "using node $(node -v) at $(command -v node)"

th_log "step 2/4: npm packages"
# mediasoup's own postinstall would try a download and then a networked build; the worker step below
# makes that choice itself, so the install skips it (any non-empty MEDIASOUP_WORKER_BIN does).
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  th_log "node_modules is up to date with package-lock.json"
else
  MEDIASOUP_WORKER_BIN=chosen-by-setup npm ci --no-audit --no-fund --loglevel=error
fi

th_log "step 3/4: mediasoup worker"
WORKER=$(bash scripts/mediasoup-worker.sh)

th_log "step 4/4: client"
# Beside the served build, then switched to by one rename: pages open on a running relay keep their lazy chunks.
node scripts/build-client.ts --logLevel warn

th_log "setup done in $(( $(date +%s) - T0 ))s (worker: $WORKER). Start the relay with: npm start"
