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
cargo test --manifest-path tests/bullmq/Cargo.toml --target-dir target -- --nocapture
