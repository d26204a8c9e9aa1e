#!/usr/bin/env bash
# npm run lint: Biome's lint rules (biome.jsonc), the dependency rules (.dependency-cruiser.cjs) and unused exports (knip.jsonc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() { bash scripts/run.sh "$@"; }
# Lint rules and formatting both (biome.jsonc): `npm run format` fixes what the formatter finds.
run node_modules/@biomejs/biome/bin/biome ci --error-on-warnings .
run node_modules/dependency-cruiser/bin/dependency-cruiser.mjs --config .dependency-cruiser.cjs --output-type err server crypto protocol client/src test bench scripts
run node_modules/knip/bin/knip.js
