//! Analysis: call metrics and issues, computed from an assembled call log.
//!
//! Pure like assembly: no I/O, no clock. [`analyze`] fills `metrics` (CONVENTIONS.md section 4)
//! and `issues` of a [`CallLog`] from its turns, against the stage budgets of the call's agent
//! ([`AnalysisConfig`]). It is idempotent: a revised call log is simply analysed again.
//!
//! - [`issues`]: one function per issue type, each writing a description for a person
//!   ("TTS latency spike to 2.3s (target: <900ms)") and a recommendation that uses what the spans
//!   say about the stage (provider, model, tokens).
//! - [`cost`]: what the call cost at list prices, from its usage and the [`prices`] table (the
//!   shipped `prices.toml`, with the configuration's `[prices]` over it).

pub mod cost;
pub mod issues;
pub mod prices;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::receiver::calllog::{CallLog, CallMetrics, CallStatus};

/// Latency budgets, in milliseconds. A figure over its budget is a `high_latency` issue.
///
/// Fields missing from a configuration file take the built-in defaults below.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Budgets {
    /// End of user speech → final transcript (default 500 ms: streaming STT finalises within a
    /// few hundred ms of silence).
    pub stt_ms: i64,
    /// LLM request → first token (default 1000 ms).
    pub llm_ms: i64,
    /// TTS request → first audio byte (default 900 ms).
    pub tts_ms: i64,
    /// End of user speech → first agent audio (default 1500 ms: past that, callers notice the
    /// pause and start talking again).
    pub voice_to_voice_ms: i64,
    /// Budget of the stop latency (interruption detected → agent audio stopped, else from the
    /// caller's first sound where no detection is reported; default 500 ms: longer and the
    /// caller hears the agent talk over them).
    pub interruption_stop_ms: i64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            stt_ms: 500,
            llm_ms: 1000,
            tts_ms: 900,
            voice_to_voice_ms: 1500,
            interruption_stop_ms: 500,
        }
    }
}

/// What analysis is configured with: default budgets and per-agent overrides.
#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Budgets for agents without an entry in `agents`.
    pub default: Budgets,
    /// Budgets by agent id (the call log's `agentId`).
    pub agents: BTreeMap<String, Budgets>,
}

impl AnalysisConfig {
    /// The budgets that apply to calls of `agent_id`.
    pub fn budgets_for(&self, agent_id: Option<&str>) -> &Budgets {
        agent_id
            .and_then(|id| self.agents.get(id))
            .unwrap_or(&self.default)
    }
}

/// Fills `log.metrics` (all but `totalDurationMs` and `errors`, which assembly sets) and replaces
/// `log.issues` with the issues found in the call.
pub fn analyze(log: &mut CallLog, config: &AnalysisConfig) {
    let metrics = compute_metrics(log);
    log.metrics = CallMetrics {
        total_duration_ms: log.metrics.total_duration_ms,
        errors: log.metrics.errors,
        ..metrics
    };
    let budgets = config.budgets_for(log.agent_id.as_deref());
    log.issues = find_issues(log, budgets);
}

/// The call metrics of section 4 that follow from the turns (`totalDurationMs` and `errors` are
/// left 0: assembly knows them from the spans).
fn compute_metrics(log: &CallLog) -> CallMetrics {
    let mut latencies: Vec<i64> = log.turns.iter().filter_map(|t| t.latency_ms).collect();
    latencies.sort_unstable();
    let avg = if latencies.is_empty() {
        None
    } else {
        let sum: i128 = latencies.iter().map(|&v| i128::from(v)).sum();
        let n = latencies.len() as i128;
        // Mean rounded to the nearest ms (half away from zero), as every figure in the call log.
        let rounded = (2 * sum + sum.signum() * n) / (2 * n);
        i64::try_from(rounded).ok()
    };
    CallMetrics {
        total_duration_ms: 0,
        avg_turn_latency_ms: avg,
        p50_turn_latency_ms: nearest_rank(&latencies, 50),
        p95_turn_latency_ms: nearest_rank(&latencies, 95),
        turns: count_u32(log.turns.len()),
        tool_executions: count_u32(log.turns.iter().map(|t| t.tools.len()).sum()),
        interruptions: count_u32(log.turns.iter().filter(|t| t.interrupted).count()),
        llm_input_tokens: saturating_sum(log.turns.iter().filter_map(|t| t.llm_input_tokens)),
        llm_output_tokens: saturating_sum(log.turns.iter().filter_map(|t| t.llm_output_tokens)),
        llm_cached_input_tokens: saturating_sum(
            log.turns.iter().filter_map(|t| t.llm_cached_input_tokens),
        ),
        llm_reasoning_tokens: saturating_sum(
            log.turns.iter().filter_map(|t| t.llm_reasoning_tokens),
        ),
        audio_input_tokens: saturating_sum(log.turns.iter().filter_map(|t| t.audio_input_tokens)),
        audio_output_tokens: saturating_sum(log.turns.iter().filter_map(|t| t.audio_output_tokens)),
        tts_characters: saturating_sum(log.turns.iter().filter_map(|t| t.tts_characters)),
        errors: 0,
    }
}

/// A sum that stops at the bounds of i64 (attributes are the sender's, any value can arrive).
fn saturating_sum(values: impl Iterator<Item = i64>) -> i64 {
    values.fold(0, i64::saturating_add)
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The `p`th percentile of sorted values by the nearest-rank method: the smallest value such that
/// at least p% of the values are at or below it. `None` for no values.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // rank = ceil(p/100 * n), at least 1.
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// Every issue of the call, by turn then stage; call-level issues last.
fn find_issues(log: &CallLog, budgets: &Budgets) -> Vec<crate::receiver::calllog::Issue> {
    let mut found = Vec::new();
    for turn in &log.turns {
        let mut turn_issues = Vec::new();
        turn_issues.extend(issues::high_latency(turn, budgets));
        turn_issues.extend(issues::stage_failed(turn));
        turn_issues.extend(issues::slow_interruption_stop(turn, budgets));
        // Stable: keeps high_latency before stage_failed for the same stage.
        turn_issues.sort_by_key(|i| i.stage);
        found.extend(turn_issues);
    }
    if log.status == CallStatus::Incomplete {
        found.push(issues::incomplete_call(log));
    }
    found
}

#[cfg(test)]
mod tests;
