#!/usr/bin/env bash
# scripts/compose.sh — run Docker Compose, whichever form this machine has:
# the plugin (`docker compose`, v2) if it answers, else the standalone
# `docker-compose` (v1). Arguments are passed through unchanged, e.g.
#
#     scripts/compose.sh up -d
#     scripts/compose.sh -p mycluster logs -f node3
#
# It runs from the repository root, so the root docker-compose.yml is used
# wherever you call it from. COMPOSE=... overrides the choice (e.g.
# COMPOSE="docker-compose").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${COMPOSE:-}" ]]; then
	# shellcheck disable=SC2086 # COMPOSE may be two words ("docker compose")
	exec ${COMPOSE} "$@"
fi
if docker compose version >/dev/null 2>&1; then
	exec docker compose "$@"
fi
if command -v docker-compose >/dev/null 2>&1; then
	exec docker-compose "$@"
fi
echo "compose.sh: neither 'docker compose' (plugin) nor 'docker-compose' is installed" >&2
exit 127
