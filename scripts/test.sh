#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need besides Rust, checks the
# deployment files (Prometheus rules and their unit tests, the Alertmanager example), runs every
# test of the crate with all features, then installs the receiver with pip (the wheel) and with
# cargo install and tests what each installed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
scripts/check-deploy.sh
cargo test --all-features --locked
scripts/test-install.sh
