//! Unit tests of analysis over hand-built call logs.

use super::*;
use crate::receiver::calllog::{
    bare_call_log, Interruption, Speaker, Stage, StageError, StageProvider, ToolExecution, Turn,
};

fn turn(index: u32, latency: Option<i64>) -> Turn {
    Turn {
        index,
        speaker: if latency.is_some() {
            Speaker::User
        } else {
            Speaker::Agent
        },
        text: Some("Sure.".to_string()),
        start_ms: i64::from(index) * 1000,
        end_ms: i64::from(index) * 1000 + 900,
        stt_ms: Some(100),
        llm_ms: Some(300),
        tts_ms: Some(200),
        latency_ms: latency,
        ..Turn::default()
    }
}

fn call(turns: Vec<Turn>) -> CallLog {
    CallLog {
        id: "call_1".to_string(),
        agent_id: Some("agent_a".to_string()),
        ended_at: "2026-03-21T10:05:30.000Z".to_string(),
        turns,
        metrics: CallMetrics {
            total_duration_ms: 330_000,
            errors: 2,
            ..CallMetrics::default()
        },
        span_count: 10,
        ..bare_call_log("call_1")
    }
}

fn tool(name: &str) -> ToolExecution {
    ToolExecution {
        name: name.to_string(),
        input: None,
        output: None,
        start_ms: 0,
        duration_ms: Some(10),
        error: None,
    }
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&[], 50), None);
    assert_eq!(nearest_rank(&[7], 95), Some(7));
    let v: Vec<i64> = (1..=20).map(|i| i * 10).collect();
    assert_eq!(nearest_rank(&v, 50), Some(100)); // rank 10
    assert_eq!(nearest_rank(&v, 95), Some(190)); // rank 19
    assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), Some(2)); // rank 2
    assert_eq!(nearest_rank(&[1, 2, 3, 4], 95), Some(4)); // rank ceil(3.8) = 4
}

#[test]
fn metrics_from_turns_keep_duration_and_errors() {
    let mut t0 = turn(0, None);
    t0.tools = vec![tool("lookup")];
    t0.llm_input_tokens = Some(100);
    t0.llm_output_tokens = Some(20);
    t0.tts_characters = Some(30);
    let mut t1 = turn(1, Some(801));
    t1.interrupted = true;
    t1.tools = vec![tool("a"), tool("b")];
    t1.llm_input_tokens = Some(150);
    t1.tts_characters = Some(12);
    let t2 = turn(2, Some(900));
    let t3 = turn(3, Some(1200));
    let mut log = call(vec![t0, t1, t2, t3]);
    analyze(&mut log, &AnalysisConfig::default());
    let m = &log.metrics;
    assert_eq!(m.total_duration_ms, 330_000, "assembly's figure is kept");
    assert_eq!(m.errors, 2, "assembly's figure is kept");
    assert_eq!(m.turns, 4);
    assert_eq!(m.tool_executions, 3);
    assert_eq!(m.interruptions, 1);
    assert_eq!(m.llm_input_tokens, 250);
    assert_eq!(m.llm_output_tokens, 20);
    assert_eq!(m.tts_characters, 42);
    // (801 + 900 + 1200) / 3 = 967
    assert_eq!(m.avg_turn_latency_ms, Some(967));
    assert_eq!(m.p50_turn_latency_ms, Some(900));
    assert_eq!(m.p95_turn_latency_ms, Some(1200));
    assert!(log.issues.is_empty(), "{:?}", log.issues);
}

#[test]
fn no_latencies_no_averages() {
    let mut log = call(vec![turn(0, None)]);
    analyze(&mut log, &AnalysisConfig::default());
    assert_eq!(log.metrics.avg_turn_latency_ms, None);
    assert_eq!(log.metrics.p95_turn_latency_ms, None);
}

#[test]
fn tts_spike_reads_like_the_reference_and_names_the_provider() {
    let mut t = turn(5, Some(1400));
    t.tts_ms = Some(2300);
    t.providers.insert(
        Stage::Tts,
        StageProvider {
            provider: Some("cartesia".to_string()),
            model: Some("sonic-2".to_string()),
        },
    );
    let mut log = call(vec![t]);
    analyze(&mut log, &AnalysisConfig::default());
    assert_eq!(log.issues.len(), 1, "{:?}", log.issues);
    let issue = &log.issues[0];
    assert_eq!(issue.kind, "high_latency");
    assert_eq!(issue.turn, Some(5));
    assert_eq!(issue.stage, Some(Stage::Tts));
    assert_eq!(issue.value_ms, Some(2300));
    assert_eq!(issue.target_ms, Some(900));
    assert_eq!(
        issue.description,
        "TTS latency spike to 2.3s (target: <900ms)"
    );
    assert!(
        issue.recommendation.contains("cartesia, model sonic-2"),
        "{}",
        issue.recommendation
    );
}

#[test]
fn every_stage_over_budget_is_an_issue_at_the_budget_is_not() {
    let mut t = turn(1, Some(1500));
    t.stt_ms = Some(501);
    t.llm_ms = Some(1000);
    t.tts_ms = Some(901);
    let mut slow = turn(2, Some(4000));
    slow.stt_ms = Some(100);
    slow.llm_ms = Some(3200);
    slow.tts_ms = Some(300);
    slow.llm_input_tokens = Some(5400);
    slow.providers.insert(
        Stage::Llm,
        StageProvider {
            provider: Some("openai".to_string()),
            model: Some("gpt-4o".to_string()),
        },
    );
    let mut log = call(vec![t, slow]);
    analyze(&mut log, &AnalysisConfig::default());
    let got: Vec<(Option<u32>, Option<Stage>)> =
        log.issues.iter().map(|i| (i.turn, i.stage)).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Some(Stage::Stt)),
            (Some(1), Some(Stage::Tts)),
            (Some(2), Some(Stage::Llm)),
            (Some(2), Some(Stage::VoiceToVoice)),
        ]
    );
    let llm = &log.issues[2];
    assert!(
        llm.recommendation.contains("5400 prompt tokens"),
        "{}",
        llm.recommendation
    );
    let v2v = &log.issues[3];
    assert_eq!(
        v2v.description,
        "Voice-to-voice latency spike to 4s (target: <1.5s)"
    );
    assert!(
        v2v.recommendation.contains("LLM (openai, model gpt-4o)"),
        "the dominant stage is named: {}",
        v2v.recommendation
    );
}

#[test]
fn slow_turn_without_a_dominant_stage_points_at_the_gap() {
    let mut t = turn(1, Some(3000));
    t.endpointing_ms = Some(1800);
    let mut log = call(vec![t]);
    analyze(&mut log, &AnalysisConfig::default());
    assert_eq!(log.issues.len(), 1);
    let r = &log.issues[0].recommendation;
    assert!(r.contains("add up to 600ms of the 3s"), "{r}");
    assert!(r.contains("1.8s"), "{r}");
}

#[test]
fn per_agent_budgets_override_the_default() {
    let mut config = AnalysisConfig::default();
    config.agents.insert(
        "agent_a".to_string(),
        Budgets {
            llm_ms: 200,
            ..Budgets::default()
        },
    );
    let mut log = call(vec![turn(1, Some(700))]);
    analyze(&mut log, &config);
    assert_eq!(log.issues.len(), 1);
    assert_eq!(log.issues[0].stage, Some(Stage::Llm));
    assert_eq!(log.issues[0].target_ms, Some(200));

    log.agent_id = Some("agent_b".to_string());
    analyze(&mut log, &config);
    assert!(log.issues.is_empty(), "agent_b has the default budgets");
}

#[test]
fn failed_stages_slow_interruptions_and_incomplete_calls() {
    let mut t = turn(3, Some(900));
    t.errors = vec![StageError {
        stage: Stage::Llm,
        message: "429 Too Many Requests".to_string(),
    }];
    t.providers.insert(
        Stage::Llm,
        StageProvider {
            provider: Some("openai".to_string()),
            model: None,
        },
    );
    t.interrupted = true;
    t.interruption = Some(Interruption {
        detection_latency_ms: Some(120),
        stop_latency_ms: Some(800),
        bleed_through_words: Some(4),
    });
    let mut log = call(vec![t]);
    log.status = CallStatus::Incomplete;
    analyze(&mut log, &AnalysisConfig::default());
    let kinds: Vec<&str> = log.issues.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["stage_failed", "slow_interruption_stop", "incomplete_call"]
    );
    let failed = &log.issues[0];
    assert_eq!(failed.description, "LLM failed: 429 Too Many Requests");
    assert!(
        failed.recommendation.contains("openai"),
        "{}",
        failed.recommendation
    );
    let stop = &log.issues[1];
    assert_eq!(stop.turn, Some(3));
    assert_eq!(stop.value_ms, Some(800));
    assert_eq!(stop.target_ms, Some(500));
    assert!(
        stop.recommendation.contains("4 more agent words"),
        "{}",
        stop.recommendation
    );
    let incomplete = &log.issues[2];
    assert_eq!(incomplete.stage, None);
    assert!(incomplete.description.contains("never ended"));
}

#[test]
fn analysis_is_idempotent() {
    let mut t = turn(1, Some(2000));
    t.tts_ms = Some(1000);
    let mut log = call(vec![t]);
    analyze(&mut log, &AnalysisConfig::default());
    let once = log.clone();
    analyze(&mut log, &AnalysisConfig::default());
    assert_eq!(log, once);
}

#[test]
fn budgets_deserialize_with_defaults_for_missing_fields() {
    let config: AnalysisConfig =
        toml::from_str("[default]\ntts_ms = 700\n[agents.support]\nllm_ms = 2000\n").unwrap();
    assert_eq!(config.default.tts_ms, 700);
    assert_eq!(config.default.stt_ms, 500);
    assert_eq!(config.budgets_for(Some("support")).llm_ms, 2000);
    assert_eq!(config.budgets_for(None).tts_ms, 700);
    assert!(toml::from_str::<AnalysisConfig>("[default]\nttsms = 1\n").is_err());
}

#[test]
fn durations_read_like_a_person_writes_them() {
    use issues::format_ms;
    assert_eq!(format_ms(900), "900ms");
    assert_eq!(format_ms(2300), "2.3s");
    assert_eq!(format_ms(1250), "1.25s");
    assert_eq!(format_ms(2000), "2s");
}
