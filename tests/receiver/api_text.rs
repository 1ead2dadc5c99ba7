//! The terminal tables `voicetrace calls` and `voicetrace call ID` print.

use voicetrace::receiver::api::text::{format_call, format_calls_table};

use crate::common::calllog::sample_calls;

#[test]
fn calls_table_has_one_row_per_call() {
    let calls = sample_calls();
    let table = format_calls_table(&calls);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in [
        "ID", "AGENT", "STARTED", "DURATION", "TURNS", "P95", "ISSUES",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    let a = lines[1];
    assert!(a.starts_with("call_a "), "{a}");
    assert!(a.contains("agent_support"));
    assert!(a.contains("2026-03-21 10:00:00"));
    assert!(a.contains("1m02s"));
    assert!(a.contains("3.1s"), "p95: {a}");
    assert!(
        a.contains("3 (high_latency, slow_interruption_stop)"),
        "{a}"
    );
    // Columns line up: every row's AGENT starts where the header's does.
    let agent_col = lines[0].find("AGENT").unwrap();
    for line in &lines[1..] {
        assert_eq!(line.find("agent_").unwrap(), agent_col, "{table}");
    }
    assert_eq!(format_calls_table(&[]), "no calls\n");
}

#[test]
fn call_view_has_turns_bars_and_issues() {
    let mut call = sample_calls().remove(0);
    call.links.trace = Some("http://jaeger.test/trace/x".to_string());
    call.turns[1].user_start_ms = Some(1500);
    call.turns[1].user_end_ms = Some(2500);
    let text = format_call(&call);
    assert!(text.contains("call call_a"), "{text}");
    assert!(text.contains("http://jaeger.test/trace/x"), "{text}");
    let header = text
        .lines()
        .find(|l| l.contains("SPEAKER"))
        .unwrap_or_else(|| panic!("{text}"));
    for column in [
        "TEXT", "STT", "LLM", "TTS", "LATENCY", "TOOLS", "INT", "SPEECH", "STAGES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let slow = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(slow.contains("user says 1 → agent reply 1"), "{slow}");
    assert!(slow.contains("2300") && slow.contains("3100"), "{slow}");
    assert!(slow.contains("yes"), "interrupted: {slow}");
    assert!(slow.contains("u 1.5-2.5"), "the caller's speech: {slow}");
    // 180 ms STT = 2 marks, 420 ms LLM = 5, 2300 ms TTS = 23.
    assert!(
        slow.ends_with(&format!("ss lllll {}", "t".repeat(23))),
        "{slow}"
    );
    let second = text
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    assert!(second.contains("lookup_order"), "{second}");
    assert!(
        text.contains("[high_latency] turn 1 tts: TTS latency spike to 2.3s (target: <900ms)"),
        "{text}"
    );
}
