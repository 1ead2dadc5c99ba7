//! `proto/voicetrace/v1/call_log.proto` has the same fields as the call log JSON: every message
//! that mirrors a JSON object lists exactly that object's keys (snake_case ↔ camelCase).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use voicetrace::receiver::calllog;

/// Field names of each message of a .proto file (a small reader for the subset the file uses:
/// one field per line, no nested messages).
fn proto_fields(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut messages = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("message ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            messages.insert(name.clone(), BTreeSet::new());
            current = Some(name);
        } else if line == "}" {
            current = None;
        } else if let (Some(message), Some((decl, _))) = (&current, line.split_once('=')) {
            if let Some(field) = decl.split_whitespace().last() {
                messages.get_mut(message).unwrap().insert(field.to_string());
            }
        }
    }
    messages
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn proto_messages_mirror_the_call_log_json() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proto/voicetrace/v1/call_log.proto"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let messages = proto_fields(&text);
    let camel_fields = |message: &str| -> BTreeSet<String> {
        messages
            .get(message)
            .unwrap_or_else(|| panic!("no message {message}"))
            .iter()
            .map(|f| camel(f))
            .collect()
    };

    // Every optional field set, so that the JSON names them all (absent ones are skipped).
    let mut full = crate::common::calllog::sample_calls()[0].clone();
    let t = &mut full.turns[1];
    t.s2s_ms = Some(1);
    t.agent_speech = vec![voicetrace::receiver::calllog::SpeechSegment {
        start_ms: 1,
        end_ms: 2,
    }];
    t.discarded_generations = 1;
    t.llm_cached_input_tokens = Some(1);
    t.llm_reasoning_tokens = Some(1);
    t.audio_input_tokens = Some(1);
    t.audio_output_tokens = Some(1);
    t.stage_spans = vec![calllog::StageExtent {
        stage: calllog::Stage::Stt,
        start_ms: 1,
        duration_ms: 2,
    }];
    full.livekit = Some(calllog::LiveKitJob {
        room_id: Some("RM_1".into()),
        job_id: Some("AJ_1".into()),
    });
    full.deployment = Some(calllog::Deployment {
        id: Some("d".into()),
        version: Some("1".into()),
        environment: Some("prod".into()),
    });
    full.recording = Some(calllog::Recording {
        url: "/v1/recordings/call_a".into(),
        media_type: "audio/wav".into(),
        duration_ms: 1,
        start_offset_ms: 0,
    });
    full.redactions = calllog::Redactions::from([("email", 1)]);
    let call = serde_json::to_value(&full).unwrap();
    let turn = &call["turns"][1];
    assert!(!turn["interruption"].is_null() && !turn["providers"].as_object().unwrap().is_empty());
    let tool_turn = &call["turns"][2];
    let issue = &call["issues"][0];
    let event = serde_json::json!({"name": "x", "atMs": 0, "span": "turn", "turn": null,
                                   "attributes": {}});
    let event_keys = keys(
        &serde_json::to_value(
            serde_json::from_value::<voicetrace::receiver::calllog::CallEvent>(event).unwrap(),
        )
        .unwrap(),
    );
    let line = serde_json::json!({"atMs": 0, "level": "INFO", "message": "m", "turn": null,
                                  "fields": {}});
    let line_keys = keys(
        &serde_json::to_value(
            serde_json::from_value::<voicetrace::receiver::calllog::LogLine>(line).unwrap(),
        )
        .unwrap(),
    );

    let error_keys = keys(
        &serde_json::to_value(voicetrace::receiver::calllog::StageError {
            stage: voicetrace::receiver::calllog::Stage::Llm,
            message: "m".to_string(),
        })
        .unwrap(),
    );

    let cost = &call["cost"];
    assert!(!cost.is_null() && !call["reportedUsage"].as_array().unwrap().is_empty());
    let every = |value: Value, kind: &str| -> BTreeSet<String> {
        let object = match kind {
            "line" => serde_json::to_value(
                serde_json::from_value::<voicetrace::receiver::calllog::CostLine>(value).unwrap(),
            ),
            _ => serde_json::to_value(
                serde_json::from_value::<voicetrace::receiver::calllog::ReportedUsage>(value)
                    .unwrap(),
            ),
        };
        keys(&object.unwrap())
    };
    let line_all = every(
        serde_json::json!({"stage": "llm", "provider": "p", "model": "m", "pricedAs": "p/m",
            "usd": 1.0, "inputTokens": 1, "cachedInputTokens": 1, "outputTokens": 1,
            "audioInputTokens": 1, "audioOutputTokens": 1, "audioMs": 1, "characters": 1,
            "audioBasis": "reported"}),
        "line",
    );
    let usage_all = every(
        serde_json::json!({"stage": "llm", "provider": "p", "model": "m", "llmInputTokens": 1,
            "llmCachedInputTokens": 1, "llmOutputTokens": 1, "audioInputTokens": 1,
            "audioOutputTokens": 1, "llmSessionMs": 1, "sttAudioMs": 1, "ttsCharacters": 1,
            "ttsAudioMs": 1}),
        "usage",
    );

    let cases: [(&str, BTreeSet<String>); 20] = [
        ("CallLog", keys(&call)),
        ("Turn", keys(turn)),
        ("CallMetrics", keys(&call["metrics"])),
        ("Issue", keys(issue)),
        ("Interruption", keys(&turn["interruption"])),
        ("StageProvider", keys(&turn["providers"]["tts"])),
        ("ToolExecution", keys(&tool_turn["tools"][0])),
        ("Links", keys(&call["links"])),
        ("CallEvent", event_keys),
        ("LogLine", line_keys),
        ("StageError", error_keys),
        ("CallCost", keys(cost)),
        ("CostLine", line_all),
        ("TurnCost", keys(&cost["turns"][0])),
        ("Unpriced", keys(&cost["unpriced"][0])),
        ("ReportedUsage", usage_all),
        ("LiveKitJob", keys(&call["livekit"])),
        ("Deployment", keys(&call["deployment"])),
        ("Recording", keys(&call["recording"])),
        ("StageExtent", keys(&turn["stageSpans"][0])),
    ];
    for (message, json_keys) in cases {
        assert_eq!(camel_fields(message), json_keys, "message {message}");
    }
    assert!(text.contains("service CallLogService"));
    for rpc in ["rpc GetCall(", "rpc ListCalls(", "rpc WatchCalls("] {
        assert!(text.contains(rpc), "{rpc}");
    }
}
