#!/usr/bin/env bash
# `pip install voicetrace` end to end (run by scripts/test.sh after the crate's tests): builds the
# wheel from pyproject.toml with maturin (installed in target/venv by scripts/setup-test-env.sh),
# installs it into a fresh virtualenv, and runs tests/deploy_wheel.rs against the `voicetrace`
# that pip put in the venv's bin/.
#
# The wheel is a debug build (`--profile dev`): what this proves is the packaging (the binary,
# its place in the wheel and in the venv, that it runs and serves), which a release build would
# only make slower to produce. Its cargo build shares most units with the test build; those whose
# features differ once dev-dependencies are left out (about 50, the crate itself among them) are
# compiled a second time. A release wheel: `maturin build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=target/wheels-test
VENV=target/wheel-venv
rm -rf "$WHEELS" "$VENV"
# --strip: a quarter of the size, so packing and installing take seconds (only the binary is
# linked again for it).
target/venv/bin/maturin build --locked --profile dev --strip --out "$WHEELS"
python3 -m venv "$VENV"
# --no-index: the wheel has no dependencies, and nothing may come from anywhere else.
"$VENV/bin/pip" install -q --no-index --disable-pip-version-check "$WHEELS"/voicetrace-*.whl
VOICETRACE_WHEEL_BIN="$PWD/$VENV/bin/voicetrace" \
  cargo test --all-features --locked --test deploy_wheel -- --ignored
