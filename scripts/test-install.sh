#!/usr/bin/env bash
# The two ways to install the receiver, end to end (run by scripts/test.sh after the crate's
# tests); each installed `voicetrace` then serves a replayed Pipecat export (tests/peers/install.rs):
# - `pip install voicetrace`: builds the wheel from pyproject.toml with maturin (installed in
#   target/venv by scripts/setup-test-env.sh) and installs it into a fresh virtualenv;
# - `cargo install --path .`, into a fresh root.
#
# Both are debug builds (maturin `--profile dev`, cargo install `--debug`): what this proves is
# the packaging (the binary, where each installer puts it, that it runs and serves), which a
# release build would only make slower to produce. The two share one cargo build of the binary;
# it shares most units with the test build, and those whose features differ once
# dev-dependencies are left out (about 50, the crate itself among them) are compiled a second
# time. Release: `maturin build --release`, `cargo install --path .`.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=target/wheels-test
VENV=target/wheel-venv
ROOT=target/cargo-install-test
rm -rf "$WHEELS" "$VENV" "$ROOT"

target/venv/bin/maturin build --locked --profile dev --out "$WHEELS"
python3 -m venv "$VENV"
# --no-index: the wheel has no dependencies, and nothing may come from anywhere else.
"$VENV/bin/pip" install -q --no-index --disable-pip-version-check "$WHEELS"/voicetrace-*.whl

# --target-dir: the build above is reused (cargo install's own default is a fresh directory).
cargo install --locked --debug --path . --root "$ROOT" --target-dir target --no-track

for bin in "$PWD/$VENV/bin/voicetrace" "$PWD/$ROOT/bin/voicetrace"; do
  "$bin" --version
  VOICETRACE_INSTALLED_BIN="$bin" \
    cargo test --all-features --locked --test peers -- --ignored --quiet install::
done
