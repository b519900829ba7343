#!/usr/bin/env bash
# The test command: installs dependencies when needed, builds, then runs ava.
# Extra arguments go to ava (e.g. a file pattern).
# Uses DATABASE_URL when set, else an in-memory PGlite per test file.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/env.sh

ensure_node_modules
npm run --silent build
exec npx ava "$@"
