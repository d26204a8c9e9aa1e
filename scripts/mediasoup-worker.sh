#!/usr/bin/env bash
# Makes sure a mediasoup-worker binary exists: upstream's prebuilt one where its release host answers,
# otherwise one built from the npm package's own sources (scripts/build-mediasoup-worker.sh), cached
# outside the repository. Prints the binary's path on stdout.
#
#   TEAHOUSE_WORKER=auto      (default) prebuilt download when reachable, else build from source
#   TEAHOUSE_WORKER=build     always build from source (censored or air-gapped networks)
#   TEAHOUSE_WORKER=prebuilt  only upstream's download, as a plain `npm install` does
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
th_ensure_node

PKG="$TEAHOUSE_ROOT/node_modules/mediasoup"
[ -f "$PKG/package.json" ] || th_die "node_modules/mediasoup is missing; run 'npm run setup'"
MODE=${TEAHOUSE_WORKER:-auto}

if [ -n "${MEDIASOUP_WORKER_BIN:-}" ] && [ "$MEDIASOUP_WORKER_BIN" != "$(th_worker_cache_path)" ]; then
  [ -x "$MEDIASOUP_WORKER_BIN" ] || th_die "MEDIASOUP_WORKER_BIN=$MEDIASOUP_WORKER_BIN is not an executable file"
  th_log "using MEDIASOUP_WORKER_BIN=$MEDIASOUP_WORKER_BIN"
  echo "$MEDIASOUP_WORKER_BIN"; exit 0
fi
if [ -x "$(th_upstream_worker_path)" ]; then
  th_log "using mediasoup's own worker binary"
  th_upstream_worker_path; exit 0
fi
CACHED=$(th_worker_cache_path)
if [ -x "$CACHED" ] && [ -f "$CACHED.ok" ]; then
  th_log "using cached worker $CACHED"
  echo "$CACHED"; exit 0
fi

# Probe the host mediasoup downloads from (its repository URL), with a short deadline, so offline
# machines go straight to the source build instead of waiting on upstream's retries.
release_host_reachable() {
  node -e '
    const url = require(process.argv[1]).repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
    fetch(url, { method: "HEAD", signal: AbortSignal.timeout(5000) })
      .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
  ' "$PKG/package.json"
}

if [ "$MODE" = prebuilt ] || { [ "$MODE" = auto ] && release_host_reachable; }; then
  th_log "downloading mediasoup's prebuilt worker (upstream postinstall)"
  (cd "$PKG" && env -u MEDIASOUP_WORKER_BIN node npm-scripts.mjs postinstall) >&2
  [ -x "$(th_upstream_worker_path)" ] || th_die "upstream postinstall produced no worker binary"
  th_upstream_worker_path; exit 0
fi

[ "$MODE" = auto ] && th_log "mediasoup's release host is unreachable: building the worker from source (about 4 minutes on 2 cores)"
th_ensure_cache
mkdir -p "$(dirname "$CACHED")"
MS_SKIP_SMOKE=1 MS_WORK_DIR="$TEAHOUSE_CACHE/mediasoup-worker-build" bash "$TEAHOUSE_ROOT/scripts/build-mediasoup-worker.sh" "$PKG" "$CACHED" >&2
MEDIASOUP_WORKER_BIN="$CACHED" node -e '
  const ms = require(process.argv[1]);
  ms.createWorker({ logLevel: "warn" }).then(async (w) => {
    const r = await w.createRouter({ mediaCodecs: [{ kind: "audio", mimeType: "audio/opus", clockRate: 48000, channels: 2 }] });
    await r.createWebRtcTransport({ listenInfos: [{ protocol: "udp", ip: "127.0.0.1" }] });
    w.close();
  }).catch((e) => { console.error(e); process.exit(1); });
' "$PKG" || th_die "the freshly built worker failed its smoke test"
touch "$CACHED.ok"
th_log "worker ready: $CACHED"
echo "$CACHED"
