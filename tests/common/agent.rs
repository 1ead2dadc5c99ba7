//! The crate's own agent side driving a receiver: its OTLP pipeline scoped to one dispatcher
//! (never the process-global subscriber, so the tests of one binary can each run an agent in
//! parallel threads), the simulated agent run through it, and the check that a call log holds
//! exactly what the simulated agent recorded.

use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};
use voicetrace::instrument::simulate::{self, SimConfig, SimulatedCall};
use voicetrace::instrument::{Config, Protocol, VoicetraceGuard};
use voicetrace::receiver::calllog::{CallLog, CallStatus, TimingSource};

/// What `Config::init` exports by default: `info` and above from the agent, nothing from the
/// crates the exporter runs on (their lines would land as events on the agent's spans).
const EXPORT_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,\
                             reqwest=off,opentelemetry=off,opentelemetry_sdk=off,\
                             opentelemetry_otlp=off";

/// The pipeline of an agent under test, shut down (everything ended is exported) on drop.
pub struct Agent {
    dispatch: Dispatch,
    guard: VoicetraceGuard,
}

impl Agent {
    /// The pipeline `config` describes, filtered as `Config::init` would filter it.
    pub fn start(config: Config) -> Agent {
        let (layer, guard) = config.build_layer::<Registry>().expect("pipeline builds");
        let subscriber =
            tracing_subscriber::registry().with(layer.with_filter(EnvFilter::new(EXPORT_FILTER)));
        Agent {
            dispatch: Dispatch::new(subscriber),
            guard,
        }
    }

    /// [`Agent::start`] exporting over `protocol` to `endpoint`, batches sent every
    /// `batch_delay`.
    pub fn exporting(protocol: Protocol, endpoint: &str, batch_delay: Duration) -> Agent {
        Agent::start(
            Config::from_env()
                .protocol(protocol)
                .endpoint(endpoint)
                .batch_delay(batch_delay),
        )
    }

    /// Runs `f` on this thread with this agent's pipeline as the subscriber: the spans `f`
    /// opens are the agent's.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Runs the simulated agent through this pipeline, on a thread of its own with a
    /// current-thread runtime: the tasks it spawns run where the pipeline is the subscriber.
    pub async fn simulate(&self, config: &SimConfig) -> Vec<SimulatedCall> {
        let (dispatch, config) = (self.dispatch.clone(), config.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("agent runtime");
            let calls = tracing::dispatcher::with_default(&dispatch, || {
                runtime.block_on(simulate::run(&config))
            });
            let _ = tx.send(calls);
        });
        rx.await.expect("the simulated agent ran")
    }

    /// Exports every span that has ended, now.
    pub fn flush(&self) {
        self.guard.flush().expect("the agent's spans are exported");
    }
}

/// Asserts that `log` is the call log of `call`: its trace, completed, and per turn exactly
/// the figures the simulated agent recorded (CONVENTIONS.md section 4).
pub fn assert_simulated(log: &CallLog, call: &SimulatedCall) {
    let id = &call.call_id;
    assert_eq!(log.trace_id, call.trace_id, "{id}: trace id");
    assert_eq!(log.status, CallStatus::Completed, "{id}: status");
    assert_eq!(log.turns.len(), call.turns.len(), "{id}: turns");
    for (got, want) in log.turns.iter().zip(&call.turns) {
        let at = format!("{id} turn {}", want.index);
        assert_eq!(got.index, want.index, "{at}");
        assert_eq!(got.stt_ms, Some(want.stt_ms), "{at}: sttMs");
        assert_eq!(got.llm_ms, Some(want.llm_ms), "{at}: llmMs");
        assert_eq!(got.tts_ms, Some(want.tts_ms), "{at}: ttsMs");
        assert_eq!(got.latency_ms, want.latency_ms, "{at}: latencyMs");
        assert_eq!(got.interrupted, want.interrupted, "{at}: interrupted");
        assert_eq!(got.user_text, want.user_text, "{at}: userText");
        assert_eq!(
            got.text.as_deref(),
            Some(want.agent_text.as_str()),
            "{at}: text"
        );
        let tools: Vec<&str> = got.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tools, want.tools, "{at}: tools");
        // Speech lengths from the marks: each edge is rounded to the ms on its own. A caller's
        // end the agent did not mark is the stt span's start, after the speech.
        let user = got.user_start_ms.zip(got.user_end_ms).map(|(a, b)| b - a);
        assert_eq!(
            user.is_some(),
            want.user_speech_ms.is_some(),
            "{at}: user speech"
        );
        if let (Some(spoke), Some(want)) = (user, want.user_speech_ms) {
            let marked = got.timing_source.get("userEndMs") == Some(&TimingSource::Spans);
            let fits = if marked {
                (spoke - want).abs() <= 1
            } else {
                spoke >= want - 1
            };
            assert!(fits, "{at}: the caller spoke {spoke} ms, not {want}");
        }
        let agent = got.agent_start_ms.zip(got.agent_end_ms).map(|(a, b)| b - a);
        let want_agent = want.agent_speech_ms;
        assert!(
            agent.is_some_and(|got| (got - want_agent).abs() <= 1),
            "{at}: the agent spoke {agent:?} ms, not {want_agent}"
        );
    }
}
