//! The issue types analysis reports, one function each: what happened for a person to read, and
//! what to try, using what the spans said about the stage (provider, model, tokens).

use crate::receiver::calllog::{CallLog, Issue, Stage, Turn};

use super::Budgets;

/// A stage figure was over its budget.
pub const HIGH_LATENCY: &str = "high_latency";
/// A stage span had status ERROR.
pub const STAGE_FAILED: &str = "stage_failed";
/// The agent kept talking too long after the user barged in.
pub const SLOW_INTERRUPTION_STOP: &str = "slow_interruption_stop";
/// The call's root span never ended.
pub const INCOMPLETE_CALL: &str = "incomplete_call";

/// A voice-to-voice stage "dominates" a slow turn when it took at least this share of the wait
/// (40%: the largest of four stages that clearly stands out).
const DOMINANT_SHARE_PERCENT: i64 = 40;

/// Above this many synthesised characters, the first audio probably waited for the whole reply
/// rather than its first sentence (300: two or three spoken sentences).
const LONG_TTS_CHARACTERS: i64 = 300;

/// `high_latency` issues of a turn: each of stt, llm, tts and voice-to-voice over its budget.
pub fn high_latency(turn: &Turn, budgets: &Budgets) -> Vec<Issue> {
    let checks = [
        (Stage::Stt, turn.stt_ms, budgets.stt_ms),
        (Stage::Llm, turn.llm_ms, budgets.llm_ms),
        (Stage::Tts, turn.tts_ms, budgets.tts_ms),
        (
            Stage::VoiceToVoice,
            turn.latency_ms,
            budgets.voice_to_voice_ms,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(stage, value, budget)| {
            let value = value?;
            (value > budget).then(|| Issue {
                kind: HIGH_LATENCY.to_string(),
                turn: Some(turn.index),
                stage: Some(stage),
                value_ms: Some(value),
                target_ms: Some(budget),
                description: format!(
                    "{} latency spike to {} (target: <{})",
                    stage_label(stage),
                    format_ms(value),
                    format_ms(budget)
                ),
                recommendation: latency_recommendation(turn, stage, value),
            })
        })
        .collect()
}

/// `stage_failed` issues: one per failed stage of the turn.
pub fn stage_failed(turn: &Turn) -> Vec<Issue> {
    turn.errors
        .iter()
        .map(|error| {
            let who = stage_who(turn, error.stage);
            let recommendation = match error.stage {
                Stage::Tool => "Check the tool's input and the service it calls, and return a \
                                clear error result to the model so it can recover in the same \
                                turn."
                    .to_string(),
                stage => format!(
                    "Check {who}: credentials, quota, rate limits and timeouts; retry once and \
                     fall back to another {} provider so the caller is not left in silence.",
                    stage_label(stage)
                ),
            };
            Issue {
                kind: STAGE_FAILED.to_string(),
                turn: Some(turn.index),
                stage: Some(error.stage),
                value_ms: None,
                target_ms: None,
                description: format!("{} failed: {}", stage_label(error.stage), error.message),
                recommendation,
            }
        })
        .collect()
}

/// `slow_interruption_stop`: the agent's audio stopped too long after an interruption was
/// detected (or, where no detection is reported, after the caller began: the stop latency's
/// meaning, CONVENTIONS.md section 4).
pub fn slow_interruption_stop(turn: &Turn, budgets: &Budgets) -> Option<Issue> {
    let interruption = turn.interruption.as_ref()?;
    let stop = interruption.stop_latency_ms?;
    if stop <= budgets.interruption_stop_ms {
        return None;
    }
    let mut recommendation = format!(
        "Cancel {} output and flush the audio already queued in the transport as soon as the \
         user's speech is detected",
        stage_who(turn, Stage::Tts)
    );
    match interruption.bleed_through_words {
        Some(words) if words > 0 => recommendation.push_str(&format!(
            "; the caller heard {words} more agent word{} after starting to speak.",
            if words == 1 { "" } else { "s" }
        )),
        _ => recommendation.push('.'),
    }
    Some(Issue {
        kind: SLOW_INTERRUPTION_STOP.to_string(),
        turn: Some(turn.index),
        stage: Some(Stage::Tts),
        value_ms: Some(stop),
        target_ms: Some(budgets.interruption_stop_ms),
        description: format!(
            "Agent kept talking {} after the interruption was detected (target: <{})",
            format_ms(stop),
            format_ms(budgets.interruption_stop_ms)
        ),
        recommendation,
    })
}

/// `incomplete_call`: the call was closed by the idle timeout.
pub fn incomplete_call(log: &CallLog) -> Issue {
    let last_turn = log.turns.last().map(|t| t.index);
    let description = match last_turn {
        Some(index) => format!(
            "Call never ended: its root span did not arrive before the idle timeout (last turn \
             seen: {index})"
        ),
        None => "Call never ended: its root span did not arrive before the idle timeout, and no \
                 turn was seen"
            .to_string(),
    };
    Issue {
        kind: INCOMPLETE_CALL.to_string(),
        turn: last_turn,
        stage: None,
        value_ms: None,
        target_ms: None,
        description,
        recommendation: "End the call's conversation span when the call hangs up and flush the \
                         exporter before the process exits (keep the voicetrace guard alive \
                         until shutdown); an agent that crashed or was killed mid-call also \
                         leaves calls incomplete."
            .to_string(),
    }
}

/// What to try for a stage over its budget.
fn latency_recommendation(turn: &Turn, stage: Stage, value: i64) -> String {
    let who = stage_who(turn, stage);
    match stage {
        Stage::Stt => format!(
            "{who} took {} to finalise the transcript: lower the endpointing (silence) timeout, \
             use a streaming model with interim results, or compare another STT provider.",
            format_ms(value)
        ),
        Stage::Llm => {
            let tokens = turn
                .llm_input_tokens
                .map(|t| format!(" with {t} prompt tokens"))
                .unwrap_or_default();
            format!(
                "Time to first token from {who} was {}{tokens}: shorten the prompt and history, \
                 stream the response, or use a smaller, faster model for conversational turns.",
                format_ms(value)
            )
        }
        Stage::Tts => {
            let mut text = format!(
                "First audio from {who} came after {}: stream synthesis sentence by sentence, \
                 keep the TTS connection warm, or switch to a lower-latency model, voice or \
                 provider.",
                format_ms(value)
            );
            if let Some(chars) = turn.tts_characters.filter(|&c| c > LONG_TTS_CHARACTERS) {
                text.push_str(&format!(
                    " This turn synthesised {chars} characters: send the first sentence on its \
                     own."
                ));
            }
            text
        }
        _ => voice_to_voice_recommendation(turn, value),
    }
}

/// Which stage made the caller wait, when one stands out; else where the rest of the time went.
fn voice_to_voice_recommendation(turn: &Turn, total: i64) -> String {
    let parts = [
        (Stage::Stt, turn.stt_ms),
        (Stage::Llm, turn.llm_ms),
        (Stage::Tool, turn.tool_ms),
        (Stage::Tts, turn.tts_ms),
    ];
    let known: Vec<(Stage, i64)> = parts
        .iter()
        .filter_map(|&(s, v)| v.map(|v| (s, v)))
        .collect();
    let sum = known
        .iter()
        .fold(0i64, |acc, &(_, v)| acc.saturating_add(v));
    let dominant = known.iter().copied().max_by_key(|&(_, v)| v);
    if let Some((stage, v)) = dominant {
        if total > 0
            && i128::from(v) * 100 >= i128::from(total) * i128::from(DOMINANT_SHARE_PERCENT)
        {
            let who = stage_who(turn, stage);
            return format!(
                "Most of the {} wait was {who}: {}; work on that stage first.",
                format_ms(total),
                format_ms(v)
            );
        }
    }
    let endpointing = turn
        .endpointing_ms
        .map(|e| format!(" (end-of-turn detection took {})", format_ms(e)))
        .unwrap_or_default();
    format!(
        "The stages add up to {} of the {} wait: the rest went to end-of-turn detection{endpointing}, \
         queueing, or waiting for a full sentence before speaking; check the turn-detection \
         settings and start TTS on the first sentence.",
        format_ms(sum),
        format_ms(total)
    )
}

/// "Cartesia (sonic-2) TTS", "TTS", ...: how a recommendation names a stage.
fn stage_who(turn: &Turn, stage: Stage) -> String {
    match provider_phrase(turn, stage) {
        Some(p) => format!("{} ({p})", stage_label(stage)),
        None => stage_label(stage).to_string(),
    }
}

/// "cartesia, model sonic-2", "cartesia" or "model sonic-2", when the spans said.
fn provider_phrase(turn: &Turn, stage: Stage) -> Option<String> {
    let p = turn.providers.get(&stage)?;
    match (p.provider.as_deref(), p.model.as_deref()) {
        (Some(provider), Some(model)) => Some(format!("{provider}, model {model}")),
        (Some(provider), None) => Some(provider.to_string()),
        (None, Some(model)) => Some(format!("model {model}")),
        (None, None) => None,
    }
}

/// How a stage is named in issue text.
pub fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Stt => "STT",
        Stage::Llm => "LLM",
        Stage::Tts => "TTS",
        Stage::Tool => "Tool",
        Stage::S2s => "Speech-to-speech",
        Stage::VoiceToVoice => "Voice-to-voice",
    }
}

/// `850ms`, `2.3s`, `1.25s`, `2s`: a duration as a person reads it.
pub fn format_ms(ms: i64) -> String {
    if ms.unsigned_abs() < 1000 {
        return format!("{ms}ms");
    }
    let text = format!("{:.2}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}
