#!/usr/bin/env bash
# Checks the deployment files under deploy/ with the tools that read them (run by
# scripts/test.sh; scripts/setup-test-env.sh installs promtool and amtool):
# - the example Prometheus configuration and the rules parse (`promtool check config`, `check
#   rules`), and the rules pass their unit tests, in which every alert fires on its input
#   series and stays quiet on the others (`promtool test rules`);
# - the Alertmanager example parses and routes each kind of alert where its comments say.
# The Grafana dashboard is tested by tests/peers/dashboard.rs (its queries against a real
# Prometheus scraping a receiver).
set -euo pipefail
cd "$(dirname "$0")/../deploy"

promtool check config prometheus/prometheus.yml  # also checks the rule file it loads
promtool check rules prometheus/voicetrace.rules.yml
(cd prometheus && promtool test rules voicetrace.rules.test.yml)

amtool check-config alertmanager/alertmanager.yml
route() {
  local want=$1
  shift
  # `--verify.receivers` exits non-zero when the route differs.
  amtool config routes test --config.file=alertmanager/alertmanager.yml \
    --verify.receivers="$want" "$@" 2>/dev/null >/dev/null ||
    { echo "alertmanager.yml: $* should go to $want" >&2; exit 1; }
}
route voicetrace-critical alertname=VoicetraceReceiverDown severity=critical job=voicetrace
route voicetrace-slack alertname=VoicetraceVoiceToVoiceP95OverBudget severity=warning agent=support-bot stage=voice_to_voice
route voicetrace-slack alertname=VoicetraceDeadLetters severity=warning sink=cekura
route discard alertname=NodeDown severity=critical
echo "deploy: rules, rule tests and alertmanager routes OK"
