#!/usr/bin/env bash
# Installs what the tests need besides Rust, idempotently:
# - Debian: prometheus (a real Prometheus scrapes the receiver in the metrics test), sqlite3,
#   chromium and chromium-driver (the console's tests drive a real browser over WebDriver);
# - PyPI, in a venv under target/venv: the OpenTelemetry Python SDK and OTLP exporters (interop
#   tests) and rotel (an OTLP collector whose binary ships inside the wheel).
# Prints the two paths the tests read: target/venv/bin/python and the rotel binary.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
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
)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import opentelemetry.sdk, rotel' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
ROTEL=$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
[ -x "$ROTEL" ] || { echo "rotel binary not found at $ROTEL" >&2; exit 1; }
echo "python: $VENV/bin/python"
echo "rotel: $ROTEL"
