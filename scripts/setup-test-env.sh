#!/usr/bin/env bash
# Installs what the tests need besides Rust, idempotently:
# - Debian: prometheus (a real Prometheus scrapes the receiver in the metrics and dashboard
#   tests; its promtool checks deploy/prometheus), prometheus-alertmanager (amtool checks
#   deploy/alertmanager), sqlite3;
#   chromium and chromium-driver (the console's tests drive a real browser over WebDriver);
#   espeak-ng, sox and opus-tools (the recording tests speak real audio and turn it into WAV,
#   FLAC and OGG/Opus: tests/common/audio.rs);
#   postgresql (the PostgreSQL store's tests and the fleet test start a throwaway cluster with
#   its initdb and pg_ctl, run as the package's `postgres` user when the tests run as root:
#   tests/common/postgres.rs);
# - PyPI, in a venv under target/venv: the OpenTelemetry Python SDK and OTLP exporters (interop
#   tests), rotel (an OTLP collector whose binary ships inside the wheel), maturin (builds
#   voicetrace's own wheel in scripts/test-install.sh) and Arize Phoenix (a trace backend the
#   crate's spans must read right in; about 900 MB, 3 minutes to install).
# Prints the two paths the tests read: target/venv/bin/python and the rotel binary.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
command -v opusenc >/dev/null 2>&1 || need_apt+=(opus-tools)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# Debian keeps the server's binaries off PATH: look where tests/common/postgres.rs looks.
has_pg_server() {
  local dir
  for dir in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  return 1
}
has_pg_server || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

VENV=target/venv
# Versions pinned so interop tests see the same peers on every machine.
PY_PACKAGES=(
  "opentelemetry-sdk==1.45.2"
  "opentelemetry-exporter-otlp-proto-grpc==1.45.2"
  "opentelemetry-exporter-otlp-proto-http==1.45.2"
  "rotel==0.0.1a15"
  "maturin==1.16.0"
  "arize-phoenix==20.26.1"
)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import opentelemetry.sdk, rotel, maturin, phoenix' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
ROTEL=$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
[ -x "$ROTEL" ] || { echo "rotel binary not found at $ROTEL" >&2; exit 1; }
# The recording tests' speech, made once here to check the tools work together.
AUDIO=$(mktemp -d)
espeak-ng -w "$AUDIO/raw.wav" "Hello, how are you?"
sox "$AUDIO/raw.wav" -r 16000 -c 1 -b 16 "$AUDIO/speech.wav"
opusenc --quiet "$AUDIO/speech.wav" "$AUDIO/speech.ogg"
echo "speech: $(soxi -D "$AUDIO/speech.wav") s (espeak-ng, sox, opusenc)"
rm -rf "$AUDIO"
has_pg_server || { echo "PostgreSQL's initdb and pg_ctl not found after installing postgresql" >&2; exit 1; }
echo "python: $VENV/bin/python"
echo "rotel: $ROTEL"
