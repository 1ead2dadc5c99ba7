//! Each figure, text and count of a turn from a few hand-built spans.

use super::super::dialect::{GENAI, LIVEKIT, PIPECAT, VOICETRACE};
use super::super::figures::{
    estimated_latency, ENDPOINTING_MS, LATENCY_MS, LLM_MS, STT_MS, TTS_MS,
};
use super::super::group::turns;
use super::super::test_support::{attrs, span, SpanBuilder, T0};
use super::*;
use crate::receiver::calllog::{Speaker, TimingSource};
use crate::semconv::{self, genai, livekit, pipecat};

/// The first turn of a call of these spans, as `rules` group and build it.
fn first_turn(spans: &[SpanRecord], rules: &Rules) -> Turn {
    let index = SpanIndex::new(spans);
    let parts = turns(&index, rules);
    build_turn(&index, rules, &parts[0], 0, T0)
}

fn turn() -> SpanBuilder {
    span(1, semconv::SPAN_TURN).at(0, 1000)
}

fn stt() -> SpanBuilder {
    span(2, semconv::SPAN_STT).parent(1).at(0, 300)
}

fn llm() -> SpanBuilder {
    span(3, semconv::SPAN_LLM).parent(1).at(300, 800)
}

fn tts() -> SpanBuilder {
    span(4, semconv::SPAN_TTS).parent(1).at(800, 1000)
}

fn source(turn: &Turn, figure: &str) -> Option<TimingSource> {
    turn.timing_source.get(figure).copied()
}

#[test]
fn stage_figures_read_the_first_byte_key_else_the_duration() {
    let spans = [
        turn().build(),
        stt().attr(semconv::METRICS_TTFB, 0.25).build(),
        llm().build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!(
        (t.stt_ms, source(&t, STT_MS)),
        (Some(250), Some(TimingSource::Ttfb))
    );
    assert_eq!(
        (t.llm_ms, source(&t, LLM_MS)),
        (Some(500), Some(TimingSource::Duration))
    );
    assert_eq!((t.tts_ms, source(&t, TTS_MS)), (None, None));
}

#[test]
fn llm_first_byte_keys_in_order_of_preference() {
    let llm = llm()
        .attr(livekit::RESPONSE_TTFT, 0.3)
        .attr(semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.2);
    let spans = [turn().build(), llm.clone().build()];
    assert_eq!(first_turn(&spans, &VOICETRACE).llm_ms, Some(200));
    let spans = [turn().build(), llm.attr(semconv::METRICS_TTFB, 0.1).build()];
    assert_eq!(first_turn(&spans, &VOICETRACE).llm_ms, Some(100));
}

#[test]
fn tts_reads_livekit_ttfb_on_a_tts_node() {
    let spans = [
        span(1, livekit::SPAN_AGENT_TURN).at(0, 1000).build(),
        span(2, livekit::SPAN_TTS_NODE)
            .parent(1)
            .at(100, 900)
            .attr(livekit::RESPONSE_TTFB, 0.12)
            .build(),
    ];
    let t = first_turn(&spans, &LIVEKIT);
    assert_eq!(
        (t.tts_ms, source(&t, TTS_MS)),
        (Some(120), Some(TimingSource::Ttfb))
    );
}

#[test]
fn without_stt_span_stt_reads_the_transcription_delay_on_the_user_turn() {
    let spans = [
        span(1, livekit::SPAN_USER_TURN)
            .at(0, 100)
            .attr(livekit::TRANSCRIPTION_DELAY, 0.4)
            .attr(livekit::END_OF_TURN_DELAY, 0.6)
            .build(),
        span(2, livekit::SPAN_AGENT_TURN).at(100, 1000).build(),
    ];
    let t = first_turn(&spans, &LIVEKIT);
    assert_eq!(
        (t.stt_ms, source(&t, STT_MS)),
        (Some(400), Some(TimingSource::Ttfb))
    );
    assert_eq!(t.endpointing_ms, Some(600));
    assert_eq!(source(&t, ENDPOINTING_MS), Some(TimingSource::Ttfb));
}

#[test]
fn a_greeting_has_stt_zero_no_latency_and_the_agent_speaks() {
    let spans = [turn().build(), llm().build(), tts().build()];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!(t.stt_ms, Some(0));
    assert_eq!(source(&t, STT_MS), None);
    assert_eq!((t.latency_ms, source(&t, LATENCY_MS)), (None, None));
    assert_eq!(t.speaker, Speaker::Agent);
}

#[test]
fn latency_is_estimated_from_the_stages_only_when_not_measured() {
    let spans = [
        turn().build(),
        stt().attr(semconv::METRICS_TTFB, 0.2).build(),
        llm().attr(semconv::METRICS_TTFB, 0.3).build(),
        tts().attr(semconv::METRICS_TTFB, 0.1).build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!(
        (t.latency_ms, source(&t, LATENCY_MS)),
        (Some(600), Some(TimingSource::Estimated))
    );
    assert_eq!(t.speaker, Speaker::User);
    let mut measured = spans.clone();
    measured[0] = turn()
        .attr(semconv::TURN_USER_BOT_LATENCY_SECONDS, 1.5)
        .build();
    let t = first_turn(&measured, &VOICETRACE);
    assert_eq!(
        (t.latency_ms, source(&t, LATENCY_MS)),
        (Some(1500), Some(TimingSource::Ttfb))
    );
}

#[test]
fn the_users_text_alone_makes_a_user_turn() {
    let spans = [
        turn().attr(semconv::TURN_USER_TEXT, "hi").build(),
        llm().build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!(t.speaker, Speaker::User);
    assert_eq!(t.latency_ms, Some(500));
}

#[test]
fn estimated_latency_saturates() {
    assert_eq!(estimated_latency(1, Some(2), None), 3);
    assert_eq!(estimated_latency(i64::MAX, Some(1), Some(1)), i64::MAX);
}

#[test]
fn the_extent_is_the_turn_span_else_its_stages_and_durations_add_up() {
    let spans = [
        turn().build(),
        llm().build(),
        span(5, "llm").parent(1).at(850, 900).build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!((t.start_ms, t.end_ms), (0, 1000));
    assert_eq!(t.llm_duration_ms, Some(550));
    assert_eq!(t.stt_duration_ms, None);
    let loose = [span(1, semconv::SPAN_S2S).at(100, 400).build()];
    let t = first_turn(&loose, &VOICETRACE);
    assert_eq!((t.start_ms, t.end_ms), (100, 400));
    assert_eq!(total_ms(std::iter::empty()), None);
}

#[test]
fn livekit_extent_spans_the_user_turn_and_the_agent_turn() {
    let spans = [
        span(1, livekit::SPAN_USER_TURN).at(0, 100).build(),
        span(2, livekit::SPAN_AGENT_TURN).at(150, 900).build(),
    ];
    let t = first_turn(&spans, &LIVEKIT);
    assert_eq!((t.start_ms, t.end_ms), (0, 900));
}

#[test]
fn user_text_prefers_the_turn_then_stt_transcripts_joined() {
    let stt2 = span(5, semconv::SPAN_STT).parent(1).at(400, 500);
    let spans = [
        turn().build(),
        stt().attr(semconv::STT_TRANSCRIPT, "hello").build(),
        stt2.attr(pipecat::TRANSCRIPT, "there").build(),
    ];
    assert_eq!(
        first_turn(&spans, &PIPECAT).user_text.as_deref(),
        Some("hello there")
    );
    let mut on_turn = spans.clone();
    on_turn[0] = turn().attr(semconv::TURN_USER_TEXT, "typed").build();
    assert_eq!(
        first_turn(&on_turn, &PIPECAT).user_text.as_deref(),
        Some("typed")
    );
}

#[test]
fn user_text_of_a_model_request_is_its_last_user_message() {
    let messages = r#"[{"role":"user","content":"first"},{"role":"assistant","content":"x"},
        {"role":"user","parts":[{"type":"text","content":"second"},{"content":"part"}]}]"#;
    let spans = [span(1, "chat")
        .attr(semconv::GEN_AI_OPERATION_NAME, "chat")
        .attr(genai::INPUT_MESSAGES, messages)
        .attr(genai::OUTPUT_MESSAGES, "[]")
        .build()];
    let t = first_turn(&spans, &GENAI);
    assert_eq!(t.user_text.as_deref(), Some("second part"));
    assert_eq!(t.text.as_deref(), Some("[]"), "output messages as sent");
    let not_json = attrs(&[(genai::INPUT_MESSAGES, "nope")]);
    assert_eq!(last_user_message(&not_json, genai::INPUT_MESSAGES), None);
}

#[test]
fn livekit_user_text_prefers_the_agent_turn_then_the_user_turn() {
    let user = span(1, livekit::SPAN_USER_TURN)
        .at(0, 100)
        .attr(livekit::PII_USER_TRANSCRIPT, "spoken")
        .build();
    let agent = span(2, livekit::SPAN_AGENT_TURN).at(100, 900);
    let spans = [user.clone(), agent.clone().build()];
    assert_eq!(
        first_turn(&spans, &LIVEKIT).user_text.as_deref(),
        Some("spoken")
    );
    let spans = [user, agent.attr(livekit::PII_USER_INPUT, "input").build()];
    assert_eq!(
        first_turn(&spans, &LIVEKIT).user_text.as_deref(),
        Some("input")
    );
}

#[test]
fn agent_text_prefers_the_turn_then_tts_then_llm_output() {
    let spans = [
        turn().build(),
        llm().attr(pipecat::OUTPUT, "thinking").build(),
        tts().attr(semconv::TEXT, "spoken").build(),
    ];
    assert_eq!(
        first_turn(&spans, &VOICETRACE).text.as_deref(),
        Some("spoken")
    );
    let spans = [
        turn().build(),
        llm().attr(livekit::PII_RESPONSE_TEXT, "reply").build(),
    ];
    assert_eq!(
        first_turn(&spans, &VOICETRACE).text.as_deref(),
        Some("reply")
    );
    let spans = [
        turn().attr(semconv::TURN_AGENT_TEXT, "said").build(),
        tts().attr(semconv::TEXT, "x").build(),
    ];
    assert_eq!(
        first_turn(&spans, &VOICETRACE).text.as_deref(),
        Some("said")
    );
}

#[test]
fn interrupted_and_the_interruption_event() {
    let event = attrs(&[
        (semconv::INTERRUPTION_DETECTION_LATENCY_SECONDS, 0.05),
        (semconv::INTERRUPTION_STOP_LATENCY_SECONDS, 0.2),
    ]);
    let spans = [
        turn().attr(livekit::INTERRUPTED, true).build(),
        tts()
            .event(semconv::EVENT_INTERRUPTION, 900, event)
            .attr(semconv::TTS_INTERRUPTED, true)
            .build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert!(t.interrupted);
    let i = t.interruption.expect("the event's figures");
    assert_eq!(
        (
            i.detection_latency_ms,
            i.stop_latency_ms,
            i.bleed_through_words
        ),
        (Some(50), Some(200), None)
    );
    let quiet = [turn()
        .attr(semconv::TURN_WAS_INTERRUPTED, false)
        .attr(livekit::INTERRUPTED, true)
        .build()];
    let t = first_turn(&quiet, &VOICETRACE);
    assert!(!t.interrupted, "the first key that holds a flag wins");
    assert!(t.interruption.is_none());
}

#[test]
fn providers_by_stage_with_their_fallback_keys() {
    let spans = [
        turn().build(),
        stt().attr(semconv::STT_PROVIDER, "deepgram").build(),
        llm()
            .attr(semconv::GEN_AI_PROVIDER_NAME, "openai")
            .attr(semconv::GEN_AI_REQUEST_MODEL, "gpt-4o")
            .build(),
        tts().attr(semconv::TTS_VOICE, "v").build(),
    ];
    let p = first_turn(&spans, &VOICETRACE).providers;
    assert_eq!(p[&Stage::Stt].provider.as_deref(), Some("deepgram"));
    assert_eq!(p[&Stage::Llm].model.as_deref(), Some("gpt-4o"));
    assert!(
        !p.contains_key(&Stage::Tts),
        "a stage that names neither is left out"
    );
}

#[test]
fn livekit_stt_provider_is_on_the_user_turn() {
    let spans = [
        span(1, livekit::SPAN_USER_TURN)
            .attr(semconv::GEN_AI_PROVIDER_NAME, "deepgram")
            .build(),
        span(2, livekit::SPAN_AGENT_TURN).at(1, 2).build(),
    ];
    let p = first_turn(&spans, &LIVEKIT).providers;
    assert_eq!(p[&Stage::Stt].provider.as_deref(), Some("deepgram"));
}

#[test]
fn tokens_count_below_the_stage_span_characters_by_the_first_key_present() {
    let spans = [
        turn().build(),
        llm().attr(semconv::GEN_AI_USAGE_INPUT_TOKENS, 10).build(),
        span(5, "llm_request")
            .parent(3)
            .at(400, 500)
            .attr(semconv::GEN_AI_USAGE_INPUT_TOKENS, 5)
            .attr(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 7)
            .build(),
        tts().attr(pipecat::CHARACTER_COUNT, 42).build(),
    ];
    let t = first_turn(&spans, &PIPECAT);
    assert_eq!(
        (t.llm_input_tokens, t.llm_output_tokens),
        (Some(15), Some(7))
    );
    assert_eq!(t.tts_characters, Some(42));
}

#[test]
fn usage_details_are_read_under_both_spellings_the_conventions_used() {
    use crate::semconv::usage_legacy;
    let details = |t: &Turn| {
        (
            t.llm_cached_input_tokens,
            t.llm_reasoning_tokens,
            t.audio_input_tokens,
            t.audio_output_tokens,
        )
    };
    let current = [
        turn().build(),
        llm()
            .attr(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 100)
            .attr(semconv::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 20)
            .attr(semconv::GEN_AI_USAGE_AUDIO_INPUT_TOKENS, 300)
            .attr(semconv::GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, 40)
            .build(),
    ];
    let t = first_turn(&current, &VOICETRACE);
    assert_eq!(details(&t), (Some(100), Some(20), Some(300), Some(40)));
    // The older names (LiveKit 1.x, GenAI conventions before 1.37), below the stage span.
    let legacy = [
        turn().build(),
        llm().build(),
        span(5, "llm_request")
            .parent(3)
            .at(400, 500)
            .attr(usage_legacy::INPUT_CACHED_TOKENS, 1)
            .attr(usage_legacy::REASONING_TOKENS, 2)
            .attr(usage_legacy::INPUT_AUDIO_TOKENS, 3)
            .attr(usage_legacy::OUTPUT_AUDIO_TOKENS, 4)
            .build(),
    ];
    let t = first_turn(&legacy, &VOICETRACE);
    assert_eq!(details(&t), (Some(1), Some(2), Some(3), Some(4)));
    let plain = first_turn(&[turn().build(), llm().build()], &VOICETRACE);
    assert_eq!(
        details(&plain),
        (None, None, None, None),
        "absent, not zero"
    );
}

#[test]
fn livekit_tts_text_is_its_input_text() {
    let spans = [
        span(1, livekit::SPAN_AGENT_TURN).at(0, 1000).build(),
        span(2, livekit::SPAN_TTS_NODE)
            .parent(1)
            .at(100, 900)
            .attr(livekit::PII_INPUT_TEXT, "It ships today.")
            .build(),
    ];
    let t = first_turn(&spans, &LIVEKIT);
    assert_eq!(t.text.as_deref(), Some("It ships today."));
}

#[test]
fn errors_are_failed_stages_with_the_exception_message_first() {
    let exception = attrs(&[(semconv::EXCEPTION_MESSAGE, "timeout")]);
    let spans = [
        turn().build(),
        stt().error("").build(),
        llm()
            .error("status")
            .event(semconv::EVENT_EXCEPTION, 500, exception)
            .build(),
    ];
    let errors = first_turn(&spans, &VOICETRACE).errors;
    let got: Vec<(Stage, &str)> = errors
        .iter()
        .map(|e| (e.stage, e.message.as_str()))
        .collect();
    assert_eq!(got, [(Stage::Stt, UNKNOWN_ERROR), (Stage::Llm, "timeout")]);
}

#[test]
fn a_tool_that_reports_its_own_failure_is_an_error() {
    let spans = [
        span(1, livekit::SPAN_AGENT_TURN).at(0, 1000).build(),
        span(2, livekit::SPAN_FUNCTION_TOOL)
            .parent(1)
            .at(100, 350)
            .attr(livekit::FUNCTION_TOOL_NAME, "lookup")
            .attr(livekit::PII_FUNCTION_TOOL_ARGUMENTS, "{}")
            .attr(livekit::FUNCTION_TOOL_IS_ERROR, true)
            .build(),
    ];
    let t = first_turn(&spans, &LIVEKIT);
    assert_eq!(t.errors.len(), 1);
    assert_eq!(t.errors[0].message, TOOL_ERROR);
    let tool = &t.tools[0];
    assert_eq!(
        (
            tool.name.as_str(),
            tool.input.as_deref(),
            tool.output.as_deref()
        ),
        ("lookup", Some("{}"), None)
    );
    assert_eq!((tool.start_ms, tool.duration_ms), (100, Some(250)));
    assert_eq!(tool.error.as_deref(), Some(TOOL_ERROR));
    assert_eq!(t.tool_ms, Some(250));
}

#[test]
fn a_tool_without_a_name_key_is_named_after_its_span() {
    let spans = [
        turn().build(),
        span(2, semconv::SPAN_TOOL_CALL).parent(1).build(),
    ];
    let t = first_turn(&spans, &VOICETRACE);
    assert_eq!(t.tools[0].name, semconv::SPAN_TOOL_CALL);
    assert!(t.tools[0].error.is_none());
}
