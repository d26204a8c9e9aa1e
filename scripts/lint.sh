#!/usr/bin/env bash
# npm run lint: Biome's lint rules (biome.jsonc), the dependency rules (.dependency-cruiser.cjs) and unused exports (knip.jsonc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Flip to true once `npm run format` has been run on main (after the branches of issue #26 are merged): from then on
# lint fails on unformatted code too.
FORMAT_CHECKED=false

run() { bash scripts/run.sh "$@"; }
if [ "$FORMAT_CHECKED" = true ]; then
  run node_modules/@biomejs/biome/bin/biome ci --error-on-warnings .
else
  run node_modules/@biomejs/biome/bin/biome lint --error-on-warnings .
fi
run node_modules/dependency-cruiser/bin/dependency-cruiser.mjs --config .dependency-cruiser.cjs --output-type err server crypto protocol client/src test bench scripts
run node_modules/knip/bin/knip.js
