#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need besides Rust, then runs
# every test of the crate with all features.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
cargo test --all-features --locked
