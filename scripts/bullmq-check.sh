#!/usr/bin/env bash
# Fetches BullMQ's published npm package at a pinned version, compiles its
# command scripts unmodified with `include_scripts!` (tests/bullmq), checks
# each SHA-1 against SCRIPT LOAD and runs a few scripts against the servers
# the test harness starts. Nothing of BullMQ is kept in the repository.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VERSION="${BULLMQ_VERSION:-6.7.0}"
tmp="$(mktemp -d)"
cleanup() { rm -f tests/bullmq/commands; rm -rf "$tmp"; }
trap cleanup EXIT
(cd "$tmp" && npm pack --silent "bullmq@$VERSION" >/dev/null && tar xzf "bullmq-$VERSION.tgz")
ln -sfn "$tmp/package/dist/cjs/commands" tests/bullmq/commands
# The workspace's dependency versions.
cp Cargo.lock tests/bullmq/Cargo.lock
echo "bullmq-check: bullmq@$VERSION, $(ls tests/bullmq/commands/*.lua | wc -l) scripts"
# The lint on the same folder, through the command line: no error (the
# macros would refuse to compile one anyway); the warnings are counted and
# shown by rule (keys built from ARGV prefixes: BullMQ relies on hash tags).
cargo run --quiet -p script-cache-cli -- check tests/bullmq/commands --format json > "$tmp/lint.json" || true
python3 - "$tmp/lint.json" <<'PY'
import collections, json, sys
doc = json.load(open(sys.argv[1]))
errors, warnings = doc["errors"], doc["warnings"]
rules = collections.Counter(w["rule"] or "other" for w in warnings)
print(f"bullmq-check: lint: {len(doc['scripts'])} scripts, {len(errors)} errors, {len(warnings)} warnings {dict(rules)}")
for e in errors:
    print(e["rendered"], file=sys.stderr)
sys.exit(1 if errors or not doc["ok"] else 0)
PY
cargo test --manifest-path tests/bullmq/Cargo.toml --target-dir target -- --nocapture
