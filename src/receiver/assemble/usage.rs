//! A call's usage points (OTLP metrics that name the call, LiveKit's `lk.agents.usage.*`) folded
//! into what its call log reports beside the spans ([`ReportedUsage`]).
//!
//! Pure. Exports repeat: a cumulative sum repeats its total so far in every export, a delta sum
//! reports what is new, and a retrying exporter sends the same point twice. So points are kept
//! one per series and interval ([`Points::add`]: a cumulative series keeps its latest point per
//! start, a delta series one point per interval) and a series' total is the sum of what is kept
//! (a cumulative series that restarted has two starts, each counted once).
//!
//! The spans win: a figure any turn of the call reports (LLM tokens, TTS characters, STT audio)
//! is not taken from the metrics too, whatever the model is called there (LiveKit's metrics name
//! the provider `api.openai.com` where its spans say `openai`).

use std::collections::BTreeMap;

use crate::receiver::calllog::{ReportedUsage, Stage, Turn};
use crate::receiver::span::{MetricPoint, Temporality};
use crate::semconv::livekit::usage;

/// A call's points, one per series and interval.
#[derive(Debug, Default)]
pub struct Points(Vec<MetricPoint>);

/// Identity of a point within its call: series (metric, provider, model), temporality and
/// interval start, and for a delta point its end too.
fn same_interval(a: &MetricPoint, b: &MetricPoint) -> bool {
    a.metric == b.metric
        && a.provider == b.provider
        && a.model == b.model
        && a.temporality == b.temporality
        && a.start_unix_nano == b.start_unix_nano
        && (a.temporality == Temporality::Cumulative || a.time_unix_nano == b.time_unix_nano)
}

impl Points {
    /// Takes a point: a repeat of one held replaces it when it is not older. Returns whether a
    /// point was added (rather than replacing one).
    pub fn add(&mut self, point: MetricPoint) -> bool {
        match self.0.iter_mut().find(|p| same_interval(p, &point)) {
            Some(held) => {
                if point.time_unix_nano >= held.time_unix_nano {
                    *held = point;
                }
                false
            }
            None => {
                self.0.push(point);
                true
            }
        }
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The points held.
    pub fn iter(&self) -> impl Iterator<Item = &MetricPoint> {
        self.0.iter()
    }
}

/// Which call-log figure a usage counter gives, and its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    InputTokens,
    CachedInputTokens,
    OutputTokens,
    AudioInputTokens,
    AudioOutputTokens,
    SessionMs,
    SttAudioMs,
    TtsCharacters,
    TtsAudioMs,
}

impl Figure {
    fn of(metric: &str) -> Option<Figure> {
        Some(match metric {
            usage::LLM_INPUT_TOKENS => Figure::InputTokens,
            usage::LLM_INPUT_CACHED_TOKENS => Figure::CachedInputTokens,
            usage::LLM_OUTPUT_TOKENS => Figure::OutputTokens,
            usage::LLM_INPUT_AUDIO_TOKENS => Figure::AudioInputTokens,
            usage::LLM_OUTPUT_AUDIO_TOKENS => Figure::AudioOutputTokens,
            usage::LLM_SESSION_DURATION => Figure::SessionMs,
            usage::STT_AUDIO_DURATION => Figure::SttAudioMs,
            usage::TTS_CHARACTERS => Figure::TtsCharacters,
            usage::TTS_AUDIO_DURATION => Figure::TtsAudioMs,
            _ => return None,
        })
    }

    fn stage(self) -> Stage {
        match self {
            Figure::SttAudioMs => Stage::Stt,
            Figure::TtsCharacters | Figure::TtsAudioMs => Stage::Tts,
            _ => Stage::Llm,
        }
    }

    /// Durations arrive in seconds; the call log says ms.
    fn scaled(self, total: f64) -> i64 {
        let value = match self {
            Figure::SessionMs | Figure::SttAudioMs | Figure::TtsAudioMs => total * 1000.0,
            _ => total,
        };
        // `as` saturates: a sender's absurd total stays at the bounds of i64.
        value.round() as i64
    }

    fn slot(self, usage: &mut ReportedUsage) -> &mut Option<i64> {
        match self {
            Figure::InputTokens => &mut usage.llm_input_tokens,
            Figure::CachedInputTokens => &mut usage.llm_cached_input_tokens,
            Figure::OutputTokens => &mut usage.llm_output_tokens,
            Figure::AudioInputTokens => &mut usage.audio_input_tokens,
            Figure::AudioOutputTokens => &mut usage.audio_output_tokens,
            Figure::SessionMs => &mut usage.llm_session_ms,
            Figure::SttAudioMs => &mut usage.stt_audio_ms,
            Figure::TtsCharacters => &mut usage.tts_characters,
            Figure::TtsAudioMs => &mut usage.tts_audio_ms,
        }
    }

    /// Whether the spans already give this figure for the call. LLM tokens go together: spans
    /// that count prompt tokens but not cached ones must not be topped up with the metrics'
    /// cached tokens (they are part of the prompt tokens counted already).
    fn in_spans(self, turns: &[Turn]) -> bool {
        let any = |f: fn(&Turn) -> Option<i64>| turns.iter().any(|t| f(t).is_some());
        match self {
            Figure::InputTokens
            | Figure::CachedInputTokens
            | Figure::OutputTokens
            | Figure::AudioInputTokens
            | Figure::AudioOutputTokens => {
                any(|t| t.llm_input_tokens)
                    || any(|t| t.llm_output_tokens)
                    || any(|t| t.audio_input_tokens)
                    || any(|t| t.audio_output_tokens)
            }
            Figure::SessionMs | Figure::TtsAudioMs => false,
            Figure::SttAudioMs => any(|t| t.stt_audio_ms),
            Figure::TtsCharacters => any(|t| t.tts_characters),
        }
    }
}

/// A stage, provider and model: what one [`ReportedUsage`] is about.
type Series = (Stage, Option<String>, Option<String>);

/// What the points report beside the turns, per stage, provider and model (in that order).
pub fn reported(points: &Points, turns: &[Turn]) -> Vec<ReportedUsage> {
    let mut totals: BTreeMap<Series, Vec<(Figure, f64)>> = BTreeMap::new();
    for point in points.iter() {
        let Some(figure) = Figure::of(&point.metric) else {
            continue;
        };
        if figure.in_spans(turns) {
            continue;
        }
        let key = (figure.stage(), point.provider.clone(), point.model.clone());
        let figures = totals.entry(key).or_default();
        match figures.iter_mut().find(|(f, _)| *f == figure) {
            Some((_, total)) => *total += point.value,
            None => figures.push((figure, point.value)),
        }
    }
    totals
        .into_iter()
        .map(|((stage, provider, model), figures)| {
            let mut usage = ReportedUsage::new(stage, provider, model);
            for (figure, total) in figures {
                *figure.slot(&mut usage) = Some(figure.scaled(total));
            }
            usage
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::span::Name;

    fn point(
        metric: &str,
        temporality: Temporality,
        start: u64,
        time: u64,
        value: f64,
    ) -> MetricPoint {
        MetricPoint {
            call_names: vec!["AJ_1".into()],
            metric: Name::from(metric),
            provider: Some("deepgram".into()),
            model: Some("nova-3".into()),
            start_unix_nano: start,
            time_unix_nano: time,
            value,
            temporality,
        }
    }

    fn stt_ms(points: &Points) -> Option<i64> {
        reported(points, &[])
            .iter()
            .find(|u| u.stage == Stage::Stt)
            .and_then(|u| u.stt_audio_ms)
    }

    #[test]
    fn delta_points_add_up_and_a_resent_interval_counts_once() {
        let mut points = Points::default();
        let stt = usage::STT_AUDIO_DURATION;
        assert!(points.add(point(stt, Temporality::Delta, 0, 30, 2.0)));
        assert!(points.add(point(stt, Temporality::Delta, 30, 60, 1.5)));
        assert!(
            !points.add(point(stt, Temporality::Delta, 30, 60, 1.5)),
            "a retry"
        );
        assert_eq!(stt_ms(&points), Some(3500));
    }

    #[test]
    fn a_cumulative_series_counts_its_latest_total_per_start() {
        let mut points = Points::default();
        let stt = usage::STT_AUDIO_DURATION;
        points.add(point(stt, Temporality::Cumulative, 0, 30, 2.0));
        points.add(point(stt, Temporality::Cumulative, 0, 60, 3.5));
        // An older export arriving late does not take the total back.
        points.add(point(stt, Temporality::Cumulative, 0, 45, 2.5));
        assert_eq!(stt_ms(&points), Some(3500));
        // The process restarted: a new start, counted beside the first.
        points.add(point(stt, Temporality::Cumulative, 100, 130, 1.0));
        assert_eq!(stt_ms(&points), Some(4500));
        assert_eq!(points.len(), 2);
    }

    #[test]
    fn figures_the_spans_give_are_not_taken_from_the_metrics() {
        let mut points = Points::default();
        let delta = Temporality::Delta;
        points.add(point(usage::LLM_INPUT_TOKENS, delta, 0, 1, 100.0));
        points.add(point(usage::LLM_INPUT_CACHED_TOKENS, delta, 0, 1, 32.0));
        points.add(point(usage::TTS_CHARACTERS, delta, 0, 1, 95.0));
        points.add(point(usage::TTS_AUDIO_DURATION, delta, 0, 1, 5.52));
        let turn: Turn = serde_json::from_value(serde_json::json!({
            "index": 0, "speaker": "user", "text": null, "userText": null, "startMs": 0,
            "endMs": 1, "sttMs": 0, "llmMs": null, "ttsMs": null, "latencyMs": null,
            "endpointingMs": null, "sttDurationMs": null, "llmDurationMs": null,
            "ttsDurationMs": null, "toolMs": null, "interrupted": false, "interruption": null,
            "tools": [], "timingSource": {}, "providers": {}, "llmInputTokens": 57,
            "llmOutputTokens": 9, "ttsCharacters": null, "errors": []
        }))
        .unwrap();
        let usage = reported(&points, &[turn]);
        assert_eq!(usage.len(), 1, "{usage:?}");
        assert_eq!(usage[0].stage, Stage::Tts);
        assert_eq!(
            (usage[0].tts_characters, usage[0].tts_audio_ms),
            (Some(95), Some(5520))
        );
        assert_eq!(usage[0].llm_input_tokens, None);
    }

    #[test]
    fn other_metrics_are_ignored() {
        let mut points = Points::default();
        points.add(point(
            "lk.agents.turn.e2e_latency",
            Temporality::Delta,
            0,
            1,
            1.0,
        ));
        assert!(reported(&points, &[]).is_empty());
    }
}
