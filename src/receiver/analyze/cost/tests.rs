//! One test per pricing rule.

use serde_json::json;

use super::*;
use crate::receiver::analyze::prices::PricesConfig;

/// A turn with `extra` fields over an empty one.
fn turn(index: u32, extra: serde_json::Value) -> Turn {
    let mut value = json!({
        "index": index, "speaker": "user", "text": null, "userText": null, "startMs": 0,
        "endMs": 1, "sttMs": 0, "llmMs": null, "ttsMs": null, "latencyMs": null,
        "endpointingMs": null, "sttDurationMs": null, "llmDurationMs": null,
        "ttsDurationMs": null, "toolMs": null, "interrupted": false, "interruption": null,
        "tools": [], "timingSource": {}, "providers": {}, "llmInputTokens": null,
        "llmOutputTokens": null, "ttsCharacters": null, "errors": []
    });
    for (k, v) in extra.as_object().unwrap() {
        value[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn call(turns: Vec<Turn>) -> CallLog {
    let mut log: CallLog = serde_json::from_value(json!({
        "id": "c1", "traceId": "00".repeat(16), "revision": 1, "dialect": "voicetrace",
        "agentId": null, "agentName": null, "serviceName": null, "status": "completed",
        "endReason": null, "startedAt": "", "endedAt": "", "direction": null, "from": null,
        "to": null, "recordingUrl": null, "metadata": {}, "turns": [],
        "metrics": {"totalDurationMs": 0, "avgTurnLatencyMs": null, "p50TurnLatencyMs": null,
          "p95TurnLatencyMs": null, "turns": 0, "toolExecutions": 0, "interruptions": 0,
          "llmInputTokens": 0, "llmOutputTokens": 0, "ttsCharacters": 0, "errors": 0},
        "issues": [], "events": [], "logs": [], "customMetrics": {}, "links": {},
        "spanCount": 0
    }))
    .unwrap();
    log.turns = turns;
    log
}

fn prices() -> Prices {
    Prices::builtin().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn tokens_are_priced_per_million_at_the_models_rates() {
    let t = turn(
        0,
        json!({"providers": {"llm": {"provider": "openai", "model": "gpt-4o-mini"}},
        "llmInputTokens": 1000, "llmOutputTokens": 500}),
    );
    let cost = cost(&call(vec![t]), &prices());
    // 1000 × 0.15 + 500 × 0.60, per million.
    assert!(close(cost.total_usd, 0.00045), "{cost:?}");
    assert_eq!(cost.models[0].priced_as, "openai/gpt-4o-mini");
    assert_eq!(cost.turns[0].index, 0);
    assert!(close(cost.stages[&Stage::Llm], 0.00045));
    assert_eq!(cost.prices_version, "2026-12-01");
    assert!(cost.unpriced.is_empty() && !cost.estimated);
}

#[test]
fn cached_prompt_tokens_are_priced_once_at_the_cached_rate() {
    let t = turn(
        0,
        json!({"providers": {"llm": {"provider": "openai", "model": "gpt-4o-mini"}},
        "llmInputTokens": 1000, "llmCachedInputTokens": 400, "llmOutputTokens": 0}),
    );
    let cost = cost(&call(vec![t]), &prices());
    // 600 × 0.15 + 400 × 0.075.
    assert!(close(cost.total_usd, 0.00012), "{cost:?}");
}

#[test]
fn speech_to_speech_audio_tokens_have_their_own_rates() {
    let t = turn(
        0,
        json!({"providers": {"s2s": {"provider": "openai", "model": "gpt-realtime"}},
        "llmInputTokens": 1000, "audioInputTokens": 800, "llmOutputTokens": 500,
        "audioOutputTokens": 500}),
    );
    let cost = cost(&call(vec![t]), &prices());
    // 200 × 4 + 800 × 32 + 500 × 64, per million.
    assert!(close(cost.total_usd, 0.0584), "{cost:?}");
    assert_eq!(cost.models[0].stage, Stage::S2s);
}

#[test]
fn audio_tokens_on_a_model_without_audio_rates_are_unpriced() {
    let t = turn(
        0,
        json!({"providers": {"llm": {"provider": "openai", "model": "gpt-4o-mini"}},
        "llmInputTokens": 1000, "audioInputTokens": 10}),
    );
    let cost = cost(&call(vec![t]), &prices());
    assert_eq!(cost.total_usd, 0.0);
    assert_eq!(cost.unpriced[0].reason, "no_rate");
}

#[test]
fn an_unknown_model_or_provider_is_unpriced_never_zero() {
    let t = turn(
        3,
        json!({"providers": {
            "llm": {"provider": "openai", "model": "gpt-9"},
            "tts": {"provider": "fake", "model": "fake-tts-v1"}},
        "llmInputTokens": 10, "llmOutputTokens": 10, "ttsCharacters": 40}),
    );
    let cost = cost(&call(vec![t]), &prices());
    assert!(cost.models.is_empty() && cost.turns.is_empty(), "{cost:?}");
    let reasons: Vec<(&str, &[u32])> = cost
        .unpriced
        .iter()
        .map(|u| (u.reason.as_str(), u.turns.as_slice()))
        .collect();
    assert_eq!(
        reasons,
        [("unknown_model", &[3][..]), ("unknown_provider", &[3][..])]
    );
}

#[test]
fn stt_audio_is_reported_or_estimated_from_the_stt_spans() {
    let dg = json!({"stt": {"provider": "deepgram", "model": "nova-3"}});
    let reported = turn(0, json!({"providers": dg, "sttAudioMs": 60000}));
    let estimated = turn(1, json!({"providers": dg, "sttDurationMs": 30000}));
    let unknown = turn(2, json!({"providers": dg}));
    let cost = cost(&call(vec![reported, estimated, unknown]), &prices());
    // 1.5 minutes at 0.0059.
    assert!(close(cost.total_usd, 1.5 * 0.0059), "{cost:?}");
    assert!(cost.estimated);
    assert_eq!(cost.models[0].audio_ms, Some(90000));
    assert_eq!(cost.models[0].audio_basis, Some(AudioBasis::SttDuration));
    assert_eq!(cost.unpriced[0].reason, "no_usage");
    assert_eq!(cost.unpriced[0].turns, [2]);
}

#[test]
fn tts_characters_or_the_spoken_texts_length() {
    let cartesia = json!({"tts": {"provider": "Cartesia", "model": "sonic-2"}});
    let counted = turn(0, json!({"providers": cartesia, "ttsCharacters": 1000}));
    let spoken = turn(1, json!({"providers": cartesia, "text": "Hello there"}));
    let cost = cost(&call(vec![counted, spoken]), &prices());
    assert_eq!(cost.models[0].characters, Some(1011));
    assert!(close(cost.total_usd, 1011.0 * 39.20 / 1e6));
    assert!(cost.estimated);
}

#[test]
fn usage_the_metrics_report_is_priced_for_the_call_and_not_estimated_again() {
    let mut log = call(vec![turn(
        0,
        json!({"providers": {"stt": {"provider": "Deepgram", "model": "nova-3"},
                             "tts": {"provider": "Cartesia", "model": "sonic-2"}},
               "sttDurationMs": 2500, "text": "Hi"}),
    )]);
    let mut stt = ReportedUsage::new(Stage::Stt, Some("deepgram".into()), Some("nova-3".into()));
    stt.stt_audio_ms = Some(120_000);
    let mut tts = ReportedUsage::new(Stage::Tts, Some("cartesia".into()), Some("sonic-2".into()));
    tts.tts_characters = Some(100);
    tts.tts_audio_ms = Some(5000);
    log.reported_usage = vec![stt, tts];
    let cost = cost(&log, &prices());
    let expected = 2.0 * 0.0059 + 100.0 * 39.20 / 1e6;
    assert!(close(cost.total_usd, expected), "{cost:?}");
    assert!(
        !cost.estimated,
        "the turn's estimates give way to the reported figures"
    );
    assert!(cost.turns.is_empty(), "call-level usage is in no turn");
    assert!(cost.unpriced.is_empty());
}

#[test]
fn the_configuration_overrides_a_price() {
    let config: PricesConfig = toml::from_str(
        "[[llm]]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\ninput = 1.0\noutput = 1.0\n",
    )
    .unwrap();
    let ours = Prices::resolve(&config).unwrap();
    let t = turn(
        0,
        json!({"providers": {"llm": {"provider": "openai", "model": "gpt-4o-mini"}},
        "llmInputTokens": 500000, "llmOutputTokens": 500000}),
    );
    let cost = cost(&call(vec![t]), &ours);
    assert!(close(cost.total_usd, 1.0), "{cost:?}");
    assert_eq!(cost.prices_version, "2026-12-01+config");
}

#[test]
fn a_stage_that_ran_without_usage_is_unpriced() {
    let t = turn(
        0,
        json!({"providers": {"llm": {"provider": "openai", "model": "gpt-4o"}}}),
    );
    let cost = cost(&call(vec![t]), &prices());
    assert_eq!(cost.unpriced[0].reason, "no_usage");
    assert_eq!(cost.total_usd, 0.0);
}

#[test]
fn rounded_amounts_are_the_nearest_float_to_their_decimal() {
    assert_eq!(round_usd(0.000236), 0.000236);
    assert_eq!(round_usd(0.000_235_999_999_7), 0.000236);
    let json = serde_json::to_string(&round_usd(59.0 * 0.0059 / 60.0 * 0.04)).unwrap();
    assert!(!json.contains("0000000"), "{json}");
}
