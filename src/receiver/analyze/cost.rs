//! What a call cost: its usage (the turns' tokens, STT audio and TTS characters per stage,
//! provider and model, and the usage only the agent's metrics reported) at the price table's
//! list prices ([`Prices`]).
//!
//! Pure, like the rest of analysis. The rules:
//!
//! - LLM and speech-to-speech: prompt tokens at `input`, those read from the cache at
//!   `cached_input` (else `input`), audio prompt tokens at `audio_input`; completion tokens at
//!   `output`, audio ones at `audio_output`. Cached and audio tokens are part of the prompt and
//!   completion counts (CONVENTIONS.md section 5), so each token is priced once.
//! - STT: audio minutes at `per_minute`. The audio is what the spans report (`sttAudioMs`) or
//!   the metrics (`reportedUsage`); without either it is estimated from the turn's stt spans'
//!   wall time (`audioBasis: sttDuration`, and `estimated`). Streaming STT that is fed the whole
//!   call bills more than the caller's speech: a reported figure is always better.
//! - TTS: characters at `per_million_characters`; without a count, the agent's text's length
//!   (estimated).
//! - A stage whose provider or model the table does not know, whose entry lacks a rate a figure
//!   needs, or that ran without any figure, is listed in `unpriced` and counted as nothing, never
//!   as $0 of a known price.

use std::collections::BTreeMap;

use crate::receiver::calllog::{
    AudioBasis, CallCost, CallLog, CostLine, ReportedUsage, Stage, StageProvider, Turn, TurnCost,
    Unpriced,
};

use super::prices::{LlmPrice, Prices};

/// Tokens are priced per million.
const PER_MILLION: f64 = 1_000_000.0;
/// STT is priced per minute; the call log counts ms.
const MS_PER_MINUTE: f64 = 60_000.0;
/// Amounts are rounded to 1/this of a dollar: far below a cent, above float
/// noise. Dividing by an exact power of ten (rather than multiplying by 1e-8)
/// gives the float nearest the decimal, so an amount survives a JSON round
/// trip unchanged.
const USD_STEPS_PER_DOLLAR: f64 = 1e8;

/// Why a stage with a price-table entry still has no price.
const NO_RATE: &str = "no_rate";
/// Why a stage that ran has no price: no figure says how much it did.
const NO_USAGE: &str = "no_usage";

/// What one stage of one turn (or of the whole call) used.
#[derive(Debug, Clone, Default, PartialEq)]
struct Quantities {
    input_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    audio_input_tokens: Option<i64>,
    audio_output_tokens: Option<i64>,
    audio_ms: Option<i64>,
    characters: Option<i64>,
}

/// One thing to price.
#[derive(Debug)]
struct Item<'a> {
    stage: Stage,
    provider: Option<&'a str>,
    model: Option<&'a str>,
    used: Quantities,
    /// The turn it belongs to; `None` for usage reported for the whole call.
    turn: Option<u32>,
    audio_basis: Option<AudioBasis>,
    estimated: bool,
}

type LineKey = (Stage, Option<String>, Option<String>);
/// A line's key and why it has no price.
type MissKey = (Stage, Option<String>, Option<String>, &'static str);

/// The cost of `log` at `prices`.
pub fn cost(log: &CallLog, prices: &Prices) -> CallCost {
    let mut ledger = Ledger::default();
    for item in items(log) {
        ledger.price(item, prices);
    }
    ledger.finish(prices.version.clone())
}

/// Everything the call used, turn by turn, then the call-level usage of its metrics.
fn items(log: &CallLog) -> Vec<Item<'_>> {
    let reported = |f: fn(&ReportedUsage) -> bool| log.reported_usage.iter().any(f);
    let covered = Covered {
        tokens: reported(|u| {
            u.llm_input_tokens.is_some()
                || u.llm_output_tokens.is_some()
                || u.audio_input_tokens.is_some()
                || u.audio_output_tokens.is_some()
        }),
        stt_audio: reported(|u| u.stt_audio_ms.is_some()),
        characters: reported(|u| u.tts_characters.is_some()),
    };
    let mut items = Vec::new();
    for turn in &log.turns {
        items.extend(model_item(turn, covered.tokens));
        items.extend(stt_item(turn, covered.stt_audio));
        items.extend(tts_item(turn, covered.characters));
    }
    items.extend(log.reported_usage.iter().flat_map(reported_items));
    items
}

/// Which figures the metrics report for the whole call (a turn without them then has nothing
/// missing: its share is in the call's).
#[derive(Debug, Clone, Copy)]
struct Covered {
    tokens: bool,
    stt_audio: bool,
    characters: bool,
}

fn named(provider: Option<&StageProvider>) -> (Option<&str>, Option<&str>) {
    provider.map_or((None, None), |p| {
        (p.provider.as_deref(), p.model.as_deref())
    })
}

/// The turn's language (or speech-to-speech) model usage.
fn model_item(turn: &Turn, covered: bool) -> Option<Item<'_>> {
    let stage = if turn.providers.contains_key(&Stage::S2s) {
        Stage::S2s
    } else {
        Stage::Llm
    };
    let who = turn.providers.get(&stage);
    let used = Quantities {
        input_tokens: turn.llm_input_tokens,
        cached_input_tokens: turn.llm_cached_input_tokens,
        output_tokens: turn.llm_output_tokens,
        audio_input_tokens: turn.audio_input_tokens,
        audio_output_tokens: turn.audio_output_tokens,
        ..Quantities::default()
    };
    let counted = used != Quantities::default();
    if !counted && (who.is_none() || covered) {
        return None;
    }
    let (provider, model) = named(who);
    Some(Item {
        stage,
        provider,
        model,
        used,
        turn: Some(turn.index),
        audio_basis: None,
        estimated: false,
    })
}

/// The audio a turn sent to STT: reported, else estimated from its stt spans' wall time (the
/// caller's speech intervals are the better estimate where turns carry them).
fn stt_audio(turn: &Turn) -> Option<(i64, AudioBasis)> {
    turn.stt_audio_ms
        .map(|ms| (ms, AudioBasis::Reported))
        .or_else(|| turn.stt_duration_ms.map(|ms| (ms, AudioBasis::SttDuration)))
}

/// The turn's speech-to-text usage, if it had STT.
fn stt_item(turn: &Turn, covered: bool) -> Option<Item<'_>> {
    let who = turn.providers.get(&Stage::Stt);
    let ran = who.is_some() || turn.stt_audio_ms.is_some() || turn.stt_duration_ms.is_some();
    if !ran || (covered && turn.stt_audio_ms.is_none()) {
        return None;
    }
    let audio = stt_audio(turn);
    let (provider, model) = named(who);
    Some(Item {
        stage: Stage::Stt,
        provider,
        model,
        used: Quantities {
            audio_ms: audio.map(|(ms, _)| ms),
            ..Quantities::default()
        },
        turn: Some(turn.index),
        audio_basis: audio.map(|(_, basis)| basis),
        estimated: audio.is_some_and(|(_, basis)| basis != AudioBasis::Reported),
    })
}

/// The turn's text-to-speech usage, if it had TTS.
fn tts_item(turn: &Turn, covered: bool) -> Option<Item<'_>> {
    let who = turn.providers.get(&Stage::Tts);
    if who.is_none() && turn.tts_characters.is_none() {
        return None;
    }
    if covered && turn.tts_characters.is_none() {
        return None;
    }
    let spoken = turn.text.as_deref().map(|t| t.chars().count() as i64);
    let characters = turn.tts_characters.or(spoken);
    let (provider, model) = named(who);
    Some(Item {
        stage: Stage::Tts,
        provider,
        model,
        used: Quantities {
            characters,
            ..Quantities::default()
        },
        turn: Some(turn.index),
        audio_basis: None,
        estimated: turn.tts_characters.is_none() && characters.is_some(),
    })
}

/// The priced figures of a call's reported usage (session and synthesised-audio durations are
/// not what any listed provider bills).
fn reported_items(usage: &ReportedUsage) -> Vec<Item<'_>> {
    let item = |stage, used| Item {
        stage,
        provider: usage.provider.as_deref(),
        model: usage.model.as_deref(),
        used,
        turn: None,
        audio_basis: None,
        estimated: false,
    };
    let tokens = Quantities {
        input_tokens: usage.llm_input_tokens,
        cached_input_tokens: usage.llm_cached_input_tokens,
        output_tokens: usage.llm_output_tokens,
        audio_input_tokens: usage.audio_input_tokens,
        audio_output_tokens: usage.audio_output_tokens,
        ..Quantities::default()
    };
    let mut items = Vec::new();
    if tokens != Quantities::default() {
        items.push(item(Stage::Llm, tokens));
    }
    if usage.stt_audio_ms.is_some() {
        let mut stt = item(
            Stage::Stt,
            Quantities {
                audio_ms: usage.stt_audio_ms,
                ..Quantities::default()
            },
        );
        stt.audio_basis = Some(AudioBasis::Reported);
        items.push(stt);
    }
    if usage.tts_characters.is_some() {
        items.push(item(
            Stage::Tts,
            Quantities {
                characters: usage.tts_characters,
                ..Quantities::default()
            },
        ));
    }
    items
}

fn count(n: Option<i64>) -> f64 {
    n.unwrap_or(0).max(0) as f64
}

/// USD for `used` tokens at `price`, or `no_rate` when a figure that is there has no rate.
fn llm_usd(price: &LlmPrice, used: &Quantities) -> Result<f64, &'static str> {
    let input = count(used.input_tokens);
    let cached = count(used.cached_input_tokens).min(input);
    let audio_in = count(used.audio_input_tokens).min(input - cached);
    let text_in = input - cached - audio_in;
    let output = count(used.output_tokens);
    let audio_out = count(used.audio_output_tokens).min(output);
    let text_out = output - audio_out;
    let at = |n: f64, rate: Option<f64>| -> Result<f64, &'static str> {
        match rate {
            _ if n == 0.0 => Ok(0.0),
            Some(rate) => Ok(n * rate / PER_MILLION),
            None => Err(NO_RATE),
        }
    };
    Ok(at(text_in, price.input)?
        + at(cached, price.cached_input.or(price.input))?
        + at(audio_in, price.audio_input)?
        + at(text_out, price.output)?
        + at(audio_out, price.audio_output)?)
}

/// What the ledger's priced items add up to.
#[derive(Debug, Default)]
struct Ledger {
    lines: BTreeMap<LineKey, CostLine>,
    stages: BTreeMap<Stage, f64>,
    turns: BTreeMap<u32, TurnCost>,
    unpriced: BTreeMap<MissKey, Vec<u32>>,
    total: f64,
    estimated: bool,
}

fn add(into: &mut Option<i64>, n: Option<i64>) {
    if let Some(n) = n {
        *into = Some(into.unwrap_or(0).saturating_add(n));
    }
}

fn round_usd(usd: f64) -> f64 {
    (usd * USD_STEPS_PER_DOLLAR).round() / USD_STEPS_PER_DOLLAR
}

impl Ledger {
    /// Prices one item, or lists it as unpriced.
    fn price(&mut self, item: Item, prices: &Prices) {
        let owned = |s: Option<&str>| s.map(str::to_string);
        let priced: Result<(f64, String), &'static str> = match item.stage {
            _ if item.used == Quantities::default() => Err(NO_USAGE),
            Stage::Llm | Stage::S2s => prices
                .llm(item.provider, item.model)
                .map_err(|m| m.as_str())
                .and_then(|f| {
                    Ok((
                        llm_usd(f.price, &item.used)?,
                        format!("{}/{}", f.key.0, f.key.1),
                    ))
                }),
            Stage::Stt => prices
                .stt(item.provider, item.model)
                .map_err(|m| m.as_str())
                .map(|f| {
                    let usd = count(item.used.audio_ms) / MS_PER_MINUTE * f.price.per_minute;
                    (usd, format!("{}/{}", f.key.0, f.key.1))
                }),
            Stage::Tts => prices
                .tts(item.provider, item.model)
                .map_err(|m| m.as_str())
                .map(|f| {
                    let usd =
                        count(item.used.characters) / PER_MILLION * f.price.per_million_characters;
                    (usd, format!("{}/{}", f.key.0, f.key.1))
                }),
            Stage::Tool | Stage::VoiceToVoice => Err(NO_RATE),
        };
        let (usd, priced_as) = match priced {
            Ok(priced) => priced,
            Err(reason) => {
                let key = (item.stage, owned(item.provider), owned(item.model), reason);
                let turns = self.unpriced.entry(key).or_default();
                turns.extend(item.turn);
                return;
            }
        };
        self.total += usd;
        self.estimated |= item.estimated;
        *self.stages.entry(item.stage).or_default() += usd;
        if let Some(index) = item.turn {
            let turn = self.turns.entry(index).or_insert_with(|| TurnCost {
                index,
                usd: 0.0,
                stages: BTreeMap::new(),
            });
            turn.usd += usd;
            *turn.stages.entry(item.stage).or_default() += usd;
        }
        let key = (item.stage, owned(item.provider), owned(item.model));
        let line = self.lines.entry(key).or_insert_with(|| CostLine {
            stage: item.stage,
            provider: owned(item.provider),
            model: owned(item.model),
            priced_as,
            usd: 0.0,
            input_tokens: None,
            cached_input_tokens: None,
            output_tokens: None,
            audio_input_tokens: None,
            audio_output_tokens: None,
            audio_ms: None,
            characters: None,
            audio_basis: None,
        });
        line.usd += usd;
        let used = &item.used;
        add(&mut line.input_tokens, used.input_tokens);
        add(&mut line.cached_input_tokens, used.cached_input_tokens);
        add(&mut line.output_tokens, used.output_tokens);
        add(&mut line.audio_input_tokens, used.audio_input_tokens);
        add(&mut line.audio_output_tokens, used.audio_output_tokens);
        add(&mut line.audio_ms, used.audio_ms);
        add(&mut line.characters, used.characters);
        // The least certain basis of the line's parts.
        line.audio_basis = line.audio_basis.max(item.audio_basis);
    }

    fn finish(self, prices_version: String) -> CallCost {
        CallCost {
            total_usd: round_usd(self.total),
            prices_version,
            stages: self
                .stages
                .into_iter()
                .map(|(stage, usd)| (stage, round_usd(usd)))
                .collect(),
            models: self
                .lines
                .into_values()
                .map(|line| CostLine {
                    usd: round_usd(line.usd),
                    ..line
                })
                .collect(),
            turns: self
                .turns
                .into_values()
                .map(|turn| TurnCost {
                    usd: round_usd(turn.usd),
                    stages: turn
                        .stages
                        .into_iter()
                        .map(|(stage, usd)| (stage, round_usd(usd)))
                        .collect(),
                    ..turn
                })
                .collect(),
            unpriced: self
                .unpriced
                .into_iter()
                .map(|((stage, provider, model, reason), turns)| Unpriced {
                    stage,
                    provider,
                    model,
                    reason: reason.to_string(),
                    turns,
                })
                .collect(),
            estimated: self.estimated,
        }
    }
}

#[cfg(test)]
mod tests;
