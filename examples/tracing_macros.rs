//! The same kind of call as `simulated_agent`, written with plain `tracing` only: a
//! `#[tracing::instrument(name = "llm", ...)]` function, `info_span!("tts", ...)`, and the
//! crate's small span macros. The only voicetrace type is the call's root ([`Call`]), which
//! gives the trace its id and stamps `conversation.id` on every span below it.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 cargo run --example tracing_macros
//! ```

use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing::Instrument as _;
use voicetrace::instrument::{Call, EndReason};
use voicetrace::semconv;

/// An LLM request as an instrumented function: the span is named `llm` and declares the
/// fields voicetrace reads, recorded once known.
#[tracing::instrument(
    name = "llm",
    skip_all,
    fields(
        gen_ai.operation.name = "chat",
        openinference.span.kind = "LLM",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o-mini",
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        metrics.ttfb = Empty,
    )
)]
async fn ask_model(prompt: &str) -> String {
    let started = Instant::now();
    tracing::info!(prompt_chars = prompt.len() as i64, "asking the model");
    tokio::time::sleep(Duration::from_millis(420)).await; // first token
    let span = tracing::Span::current();
    span.record(semconv::METRICS_TTFB, started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_millis(150)).await; // the rest streams
    span.record(semconv::GEN_AI_USAGE_INPUT_TOKENS, 512i64);
    span.record(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, 24i64);
    "Your order A-1042 arrives on Thursday.".to_string()
}

async fn exchange(index: i64, user_text: &str) {
    let turn = tracing::info_span!(
        "turn",
        openinference.span.kind = "CHAIN",
        turn.index = index,
        turn.user.text = user_text,
        turn.agent.text = Empty,
        turn.was_interrupted = false,
    );
    async {
        // The crate's macro: an `stt` span with the operation name and empty fields declared.
        let stt = voicetrace::stt_span!(stt.transcript = user_text, stt.provider = "deepgram");
        stt.record(semconv::GEN_AI_PROVIDER_NAME, "deepgram");
        tokio::time::sleep(Duration::from_millis(180)).await;
        voicetrace::instrument::record_ttfb(&stt, Duration::from_millis(180));
        drop(stt);

        let answer = ask_model(user_text).await;
        tracing::Span::current().record(semconv::TURN_AGENT_TEXT, answer.as_str());

        let tts = tracing::info_span!(
            "tts",
            gen_ai.operation.name = "tts",
            openinference.span.kind = "LLM",
            gen_ai.provider.name = "cartesia",
            tts.provider = "cartesia",
            text = answer.as_str(),
            tts.characters = answer.chars().count() as i64,
            metrics.ttfb = Empty,
        );
        async {
            tokio::time::sleep(Duration::from_millis(210)).await;
            tracing::Span::current().record(semconv::METRICS_TTFB, 0.21);
            tracing::info!("first audio byte sent");
        }
        .instrument(tts)
        .await;
    }
    .instrument(turn)
    .await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = voicetrace::init()?;
    let call = Call::builder("macro-call-1")
        .agent_id("macro-agent")
        .start();
    println!("call {}  trace {}", call.id(), call.trace_id());
    async {
        exchange(0, "Where is my order?").await;
        exchange(1, "Thanks, bye.").await;
    }
    .instrument(call.span().clone())
    .await;
    call.end(EndReason::ClientHangup);
    guard.shutdown()?;
    Ok(())
}
