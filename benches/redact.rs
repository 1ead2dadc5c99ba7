//! Redaction's cost against assembly's on a typical call, and on hostile input.
//!
//! - `redact/assemble_30_turns`: assembly of one call of 30 turns (stt, llm and tts spans per
//!   turn, a tool call every fifth turn, texts of the length callers and agents speak, a
//!   card number, an email and a phone number among them): spans in, call log out.
//! - `redact/redact_30_turns`: redaction of that call log (every detector on).
//! - `redact/hostile/*`: redaction of a 1 MiB text of digits, of digits with spaces, of digit
//!   words, of near-emails, of birth cues without dates (bytes/s: linear time).
//!
//! After criterion's figures it prints both per-call times of a run of its own, where each call
//! log is redacted right after its assembly as in the receiver, and their ratio (the target:
//! redaction under 5% of assembly).
//!
//! `cargo bench --bench redact`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::trace::v1::Span;
use voicetrace::receiver::assemble::{Assembler, AssemblerConfig};
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::ingest::decode::decode_traces;
use voicetrace::receiver::redact::walk::{self, Visit};
use voicetrace::receiver::redact::{RedactionConfig, Redactor};
use voicetrace::receiver::span::SpanRecord;
use voicetrace::semconv;

// The tests' OTLP builders (tests/common).
#[path = "../tests/common/otlp.rs"]
mod otlp;

/// Turns of the typical call.
const TURNS: usize = 30;
/// Calls assembled per run of the summary, to average over.
const SUMMARY_CALLS: usize = 200;

const USER: &[&str] = &[
    "Hi, I'm calling about my order, it was supposed to arrive yesterday.",
    "It's order A-1042, placed on Monday.",
    "Yes, the delivery address is still the same as last time.",
    "Sure, my email is jane.doe@example.com if you need it.",
    "Can you tell me when it will arrive? I need it before Friday at 10:30.",
    "Okay. And how much would express shipping cost?",
    "Fine, let's do that. My card number is 4111 1111 1111 1111.",
    "The expiry is next year, and I'd rather not say the code out loud.",
    "You can call me back at (415) 555-0199 if anything changes.",
    "No, that's everything, thank you.",
];

const AGENT: &[&str] = &[
    "I'm sorry to hear that. Let me look that up for you; could you give me the order number?",
    "Thank you. I can see order A-1042 here: it left our warehouse on Tuesday and is with the carrier.",
    "Great. The carrier shows it out for delivery tomorrow between 9 and 12.",
    "Got it, I've noted your email for the tracking updates.",
    "It should arrive tomorrow morning, well before Friday. I can also upgrade it to express.",
    "Express shipping is $12.99, and it would arrive by 10:30 tomorrow.",
    "Thank you, the payment of $12.99 went through. You'll get a confirmation shortly.",
    "That's perfectly fine, we have everything we need.",
    "Noted. Is there anything else I can help you with today?",
    "Thanks for calling, and have a great day!",
];

/// The spans of the typical call, decoded as ingest hands them to assembly.
fn typical_call() -> Vec<SpanRecord> {
    let trace = [0x42; 16];
    let ms = 1_000_000u64;
    let t0 = 1_800_000_000_000_000_000u64;
    let root = [1u8; 8];
    let mut spans: Vec<Span> = Vec::new();
    for k in 0..TURNS {
        let start = t0 + k as u64 * 4000 * ms;
        let id = |n: u8| [2, k as u8, n, 0, 0, 0, 0, 1];
        let (user, agent) = (USER[k % USER.len()], AGENT[k % AGENT.len()]);
        let mut turn_attrs = vec![
            otlp::kv_i64(semconv::TURN_INDEX, k as i64),
            otlp::kv_str(semconv::TURN_AGENT_TEXT, agent),
        ];
        if k > 0 {
            turn_attrs.push(otlp::kv_str(semconv::TURN_USER_TEXT, user));
        }
        spans.push(otlp::span(
            &trace,
            &id(0),
            Some(&root),
            semconv::SPAN_TURN,
            start,
            start + 3500 * ms,
            turn_attrs,
        ));
        let stage = |n: u8, name: &str, from: u64, to: u64, attrs| {
            otlp::span(
                &trace,
                &id(n),
                Some(&id(0)),
                name,
                start + from * ms,
                start + to * ms,
                attrs,
            )
        };
        spans.push(stage(
            1,
            semconv::SPAN_STT,
            0,
            250,
            vec![
                otlp::kv_str(semconv::STT_TRANSCRIPT, user),
                otlp::kv_f64(semconv::METRICS_TTFB, 0.18),
            ],
        ));
        spans.push(stage(
            2,
            semconv::SPAN_LLM,
            250,
            900,
            vec![
                otlp::kv_str(semconv::GEN_AI_REQUEST_MODEL, "gpt-4o-mini"),
                otlp::kv_f64(semconv::METRICS_TTFB, 0.42),
                otlp::kv_i64(semconv::GEN_AI_USAGE_INPUT_TOKENS, 900 + 40 * k as i64),
                otlp::kv_i64(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 35),
            ],
        ));
        if k % 5 == 4 {
            spans.push(stage(
                3,
                semconv::SPAN_TOOL_CALL,
                900,
                1100,
                vec![
                    otlp::kv_str(semconv::FUNCTION_NAME, "lookup_order"),
                    otlp::kv_str(semconv::FUNCTION_INPUT, r#"{"order_id":"A-1042"}"#),
                    otlp::kv_str(
                        semconv::FUNCTION_OUTPUT,
                        r#"{"status":"in_transit","eta":"tomorrow 09:00-12:00","carrier":"UPS"}"#,
                    ),
                ],
            ));
        }
        spans.push(stage(
            4,
            semconv::SPAN_TTS,
            1100,
            1600,
            vec![
                otlp::kv_str(semconv::TEXT, agent),
                otlp::kv_f64(semconv::METRICS_TTFB, 0.21),
                otlp::kv_i64(semconv::TTS_CHARACTERS, agent.len() as i64),
            ],
        ));
    }
    spans.push(otlp::span(
        &trace,
        &root,
        None,
        semconv::SPAN_CONVERSATION,
        t0,
        t0 + TURNS as u64 * 4000 * ms,
        vec![
            otlp::kv_str(semconv::CONVERSATION_ID, "call-typical"),
            otlp::kv_str(semconv::GEN_AI_AGENT_ID, "support-agent"),
            otlp::kv_str(semconv::CALL_FROM, "+14155550123"),
            otlp::kv_str(semconv::CALL_TO, "+14155550100"),
            otlp::kv_str("call.metadata.campaign", "spring-returns"),
        ],
    ));
    decode_traces(otlp::request(Some("agent"), spans)).spans
}

/// Assembles one call from its spans.
fn assemble(spans: Vec<SpanRecord>) -> CallLog {
    let mut assembler = Assembler::new(AssemblerConfig::default());
    assembler.add_spans(spans, 1);
    let mut updates = assembler.poll(10_000_000_000);
    match updates.pop() {
        Some(voicetrace::receiver::calllog::CallUpdate::Finished(log)) => *log,
        other => panic!("expected the call log, got {other:?}"),
    }
}

fn redactor() -> Redactor {
    Redactor::new(&RedactionConfig::default()).expect("the default configuration")
}

fn bench_call(c: &mut Criterion) {
    let spans = typical_call();
    let log = assemble(spans.clone());
    assert_eq!(log.turns.len(), TURNS);
    let redactor = redactor();
    let mut group = c.benchmark_group("redact");
    group.bench_function("assemble_30_turns", |b| {
        b.iter_batched(
            || spans.clone(),
            |spans| black_box(assemble(spans)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("redact_30_turns", |b| {
        b.iter_batched(
            || log.clone(),
            |mut log| {
                redactor.call_log(&mut log);
                black_box(log)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_hostile(c: &mut Criterion) {
    let redactor = redactor();
    let mib = 1 << 20;
    let inputs = [
        ("digits", "7".repeat(mib)),
        ("spaced_digits", "7 ".repeat(mib / 2)),
        ("digit_words", "seven ".repeat(mib / 6)),
        ("near_emails", "a@".repeat(mib / 2)),
        ("birth_cues", "born ".repeat(mib / 5)),
    ];
    let mut group = c.benchmark_group("redact/hostile");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, text) in &inputs {
        let base = sample(text);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || base.clone(),
                |mut log| {
                    redactor.call_log(&mut log);
                    black_box(log)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// A call log whose one end reason is `text` (a text the walk visits).
fn sample(text: &str) -> CallLog {
    let mut log = assemble(typical_call());
    log.turns.clear();
    log.end_reason = Some(text.to_string());
    log
}

/// Per-call times of assembly and of redaction over [`SUMMARY_CALLS`] calls, as the receiver
/// runs them: each call log is redacted right after it is assembled (while it is in the
/// cache), and each stage is timed on its own; the best of five runs each, and their ratio.
/// The call logs are dropped after the clock stops: freeing a call log is neither stage's work.
fn summary(_: &mut Criterion) {
    let spans = typical_call();
    let redactor = redactor();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let batches: Vec<Vec<SpanRecord>> = (0..SUMMARY_CALLS).map(|_| spans.clone()).collect();
        let mut logs = Vec::with_capacity(SUMMARY_CALLS);
        let (mut assembly, mut redaction) = (Duration::ZERO, Duration::ZERO);
        for batch in batches {
            let started = Instant::now();
            let mut log = black_box(assemble(batch));
            let assembled = Instant::now();
            redactor.call_log(&mut log);
            redaction += assembled.elapsed();
            assembly += assembled - started;
            logs.push(black_box(log));
        }
        runs.push((assembly, redaction));
    }
    let assembly = runs.iter().map(|r| r.0).min().unwrap_or_default();
    let redaction = runs.iter().map(|r| r.1).min().unwrap_or_default();
    let log = assemble(spans.clone());
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / SUMMARY_CALLS as f64;
    let mut texts = TextSize::default();
    walk::call_log(&mut log.clone(), &mut texts);
    println!(
        "typical call ({TURNS} turns, {} spans, {} texts of {} bytes): assembly {:.1} µs, \
         redaction {:.1} µs per call: redaction is {:.1}% of assembly (target < 5%)",
        spans.len(),
        texts.count,
        texts.bytes,
        per_call(assembly),
        per_call(redaction),
        100.0 * redaction.as_secs_f64() / assembly.as_secs_f64()
    );
}

/// Counts the texts redaction visits.
#[derive(Default)]
struct TextSize {
    count: usize,
    bytes: usize,
}

impl Visit for TextSize {
    fn text(&mut self, text: &mut String) {
        self.count += 1;
        self.bytes += text.len();
    }

    fn number(&mut self, _: &mut serde_json::Value) {}

    fn caller_number(&mut self, _: &mut String) {}
}

criterion_group!(benches, bench_call, bench_hostile, summary);
criterion_main!(benches);
