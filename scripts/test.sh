#!/usr/bin/env bash
# The project's test command: installs the server matrix when missing, runs
# every test of the workspace, and fails if any server started by the suite
# is still running afterwards.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-servers.sh
# A marker of this run's own, so the check below sees only its servers
# (another run on the same machine is not a leak of this one).
export SCRIPT_CACHE_TEST_MARKER="script-cache-test-run$$"
cargo test --workspace --all-features "$@"
# Servers started by the harness carry this marker at the end of their
# process title ("redis-server 127.0.0.1:PORT script-cache-test"); cargo
# commands naming the script-cache-tests package do not match.
if leaked="$(pgrep -af "(redis|valkey)-(server|sentinel).* ${SCRIPT_CACHE_TEST_MARKER}\$")"; then
    echo "test.sh: servers left running by the suite:" >&2
    echo "$leaked" >&2
    exit 1
fi
echo "test.sh: no test server left running"
