//! The call log over gRPC: `voicetrace.v1.CallLogService` (`proto/voicetrace/v1/call_log.proto`),
//! served by tonic beside OTLP on the receiver's gRPC port.
//!
//! - `GetCall` and `ListCalls` read the store through the same [`CallReader`] as the HTTP API,
//!   with the same rules (page size 1 to 100, default 20; unknown ids are `NOT_FOUND`, bad
//!   filters `INVALID_ARGUMENT` naming the field).
//! - `WatchCalls` streams every call log finished or revised from the moment the watch starts,
//!   fed by the receiver's broadcast of finished call logs. A watcher too slow to keep up loses
//!   the oldest call logs it missed (a warning says how many) and carries on with the newer ones:
//!   the stream is never closed for being slow. A watch is endless, and an open stream holds
//!   up a graceful shutdown of the gRPC server: [`call_log_service_until`] ends every watch
//!   (with `UNAVAILABLE`, so clients reconnect) once its stop signal is set.
//!
//! [`pb`] is generated at build time (see `build.rs`); the `From` conversions here map the call
//! log types of [`crate::receiver::calllog`] onto it field by field (enums by name, JSON values
//! onto `google.protobuf.Value`).

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};
use tonic::codec::CompressionEncoding;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{CallReader, ReadError};
use crate::receiver::calllog::{self, CallLog, CallQuery};

/// Code generated from `proto/voicetrace/v1/call_log.proto` (package `voicetrace.v1`): the
/// messages, the `CallLogService` server and a client.
pub mod pb {
    // Generated code: fields documented only where the .proto comments them.
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("voicetrace.v1");
}

use pb::call_log_service_server::{CallLogService, CallLogServiceServer};

/// Call logs queued between the broadcast and one watcher's gRPC stream. Small: a watcher that
/// falls further behind than this makes the broadcast (1024 call logs in the receiver) lag, and
/// lagging is reported and survived.
const WATCH_BUFFER: usize = 16;

/// The `CallLogService` over a [`CallReader`] and the receiver's broadcast of finished call logs,
/// ready for `tonic::transport::Server::add_service`. Accepts and (when the client does) sends
/// gzip, like the OTLP services beside it.
///
/// Watches end only when their client hangs up or every sender of `finished` is gone; a server
/// that shuts down gracefully wants [`call_log_service_until`].
pub fn call_log_service(
    calls: Arc<dyn CallReader>,
    finished: broadcast::Sender<Arc<CallLog>>,
) -> CallLogServiceServer<CallLogApi> {
    server(CallLogApi {
        calls,
        finished,
        stop: None,
    })
}

/// [`call_log_service`] whose watches end with `UNAVAILABLE` once `stop` holds `true` (the
/// receiver's shutdown signal): a graceful shutdown of the gRPC server waits for every open
/// stream, and a watch never ends by itself.
pub fn call_log_service_until(
    calls: Arc<dyn CallReader>,
    finished: broadcast::Sender<Arc<CallLog>>,
    stop: watch::Receiver<bool>,
) -> CallLogServiceServer<CallLogApi> {
    server(CallLogApi {
        calls,
        finished,
        stop: Some(stop),
    })
}

fn server(api: CallLogApi) -> CallLogServiceServer<CallLogApi> {
    CallLogServiceServer::new(api)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

/// The implementation of `CallLogService`; build it with [`call_log_service`] or
/// [`call_log_service_until`].
pub struct CallLogApi {
    calls: Arc<dyn CallReader>,
    finished: broadcast::Sender<Arc<CallLog>>,
    stop: Option<watch::Receiver<bool>>,
}

impl CallLogApi {
    /// Runs a store read off the async threads (the store is SQLite).
    async fn read<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&dyn CallReader) -> Result<T, ReadError> + Send + 'static,
    {
        let calls = self.calls.clone();
        tokio::task::spawn_blocking(move || f(calls.as_ref()))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "gRPC store read task failed");
                Status::internal("reading the call store failed")
            })?
            .map_err(read_status)
    }
}

/// A store failure as a gRPC status (the HTTP API's mapping, in gRPC codes).
fn read_status(error: ReadError) -> Status {
    match error {
        ReadError::InvalidCursor(why) => Status::invalid_argument(format!("cursor: {why}")),
        ReadError::Unavailable(why) => {
            tracing::warn!(%why, "store unavailable for a gRPC read");
            Status::unavailable("the call store is unavailable, retry later")
        }
        ReadError::Store(why) => {
            tracing::error!(%why, "store read failed");
            Status::internal("reading the call store failed")
        }
    }
}

/// The stream `WatchCalls` answers with.
type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::CallLog, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl CallLogService for CallLogApi {
    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::CallLog>, Status> {
        let request = request.into_inner();
        let id = request.id;
        if id.is_empty() {
            return Err(Status::invalid_argument("id: must not be empty"));
        }
        let lookup = id.clone();
        let trace_id =
            (!request.trace_id.is_empty()).then(|| request.trace_id.to_ascii_lowercase());
        match self
            .read(move |calls| calls.get_call(&lookup, trace_id.as_deref()))
            .await?
        {
            Some(found) => Ok(Response::new(to_pb(&found.log))),
            None => Err(Status::not_found(format!("no call with id '{id}'"))),
        }
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        let query = call_query(request.into_inner())?;
        let page = self.read(move |calls| calls.list_calls(&query)).await?;
        Ok(Response::new(pb::ListCallsResponse {
            calls: page.calls.iter().map(to_pb).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    type WatchCallsStream = WatchStream;

    async fn watch_calls(
        &self,
        request: Request<pb::WatchCallsRequest>,
    ) -> Result<Response<Self::WatchCallsStream>, Status> {
        let agent_id = request.into_inner().agent_id;
        if agent_id.as_deref() == Some("") {
            return Err(Status::invalid_argument("agent_id: must not be empty"));
        }
        // Subscribed before answering: every call log finished after the watch is accepted
        // reaches it.
        let finished = self.finished.subscribe();
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(forward_finished(finished, agent_id, tx, self.stop.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Copies finished call logs of the watched agent (all agents when `None`) to one watcher until
/// it hangs up, the broadcast closes or `stop` is set.
async fn forward_finished(
    mut finished: broadcast::Receiver<Arc<CallLog>>,
    agent_id: Option<String>,
    tx: mpsc::Sender<Result<pb::CallLog, Status>>,
    stop: Option<watch::Receiver<bool>>,
) {
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        let log = tokio::select! {
            received = finished.recv() => received,
            () = tx.closed() => return,
            () = &mut stopping => {
                let bye = Status::unavailable("the receiver is shutting down");
                // Without waiting: a watcher that reads nothing must not hold up the shutdown.
                let _ = tx.try_send(Err(bye));
                return;
            }
        };
        match log {
            Ok(log) => {
                if agent_id.is_some() && log.agent_id != agent_id {
                    continue;
                }
                if tx.send(Ok(to_pb(&log))).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    agent_id = agent_id.as_deref(),
                    "WatchCalls watcher fell behind; skipped the oldest call logs and carries on"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Resolves once `stop` holds `true`; never without a signal. A dropped signal counts as set:
/// nobody is left to stop the watch otherwise.
async fn stopped(stop: Option<watch::Receiver<bool>>) {
    match stop {
        Some(mut stop) => {
            let _ = stop.wait_for(|s| *s).await;
        }
        None => std::future::pending().await,
    }
}

/// `ListCalls` as a store query, with the HTTP API's rules.
fn call_query(request: pb::ListCallsRequest) -> Result<CallQuery, Status> {
    let status = match request.status {
        None => None,
        Some(raw) => Some(match pb::CallStatus::try_from(raw) {
            Ok(pb::CallStatus::Completed) => calllog::CallStatus::Completed,
            Ok(pb::CallStatus::Failed) => calllog::CallStatus::Failed,
            Ok(pb::CallStatus::Incomplete) => calllog::CallStatus::Incomplete,
            Ok(pb::CallStatus::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "status: {raw} is not COMPLETED, FAILED or INCOMPLETE"
                )))
            }
        }),
    };
    let limit = match usize::try_from(request.limit) {
        Ok(0) => DEFAULT_LIMIT,
        Ok(n) if n <= MAX_LIMIT => n,
        _ => {
            return Err(Status::invalid_argument(format!(
                "limit: {} is not from 1 to {MAX_LIMIT} (0 means {DEFAULT_LIMIT})",
                request.limit
            )))
        }
    };
    if let (Some(since), Some(until)) = (request.since_ms, request.until_ms) {
        if since >= until {
            return Err(Status::invalid_argument(
                "until_ms: must be later than since_ms",
            ));
        }
    }
    Ok(CallQuery {
        agent_id: non_empty("agent_id", request.agent_id)?,
        status,
        since_ms: request.since_ms,
        until_ms: request.until_ms,
        limit,
        cursor: non_empty("cursor", request.cursor)?,
        ..CallQuery::default()
    })
}

fn non_empty(field: &str, value: Option<String>) -> Result<Option<String>, Status> {
    match value {
        Some(v) if v.is_empty() => Err(Status::invalid_argument(format!(
            "{field}: must not be empty"
        ))),
        other => Ok(other),
    }
}

impl From<calllog::CallStatus> for pb::CallStatus {
    fn from(status: calllog::CallStatus) -> Self {
        match status {
            calllog::CallStatus::Completed => pb::CallStatus::Completed,
            calllog::CallStatus::Failed => pb::CallStatus::Failed,
            calllog::CallStatus::Incomplete => pb::CallStatus::Incomplete,
        }
    }
}

impl From<calllog::Dialect> for pb::Dialect {
    fn from(dialect: calllog::Dialect) -> Self {
        match dialect {
            calllog::Dialect::Voicetrace => pb::Dialect::Voicetrace,
            calllog::Dialect::Pipecat => pb::Dialect::Pipecat,
            calllog::Dialect::Livekit => pb::Dialect::Livekit,
            calllog::Dialect::Genai => pb::Dialect::Genai,
        }
    }
}

impl From<calllog::Stage> for pb::Stage {
    fn from(stage: calllog::Stage) -> Self {
        match stage {
            calllog::Stage::Stt => pb::Stage::Stt,
            calllog::Stage::Llm => pb::Stage::Llm,
            calllog::Stage::Tts => pb::Stage::Tts,
            calllog::Stage::Tool => pb::Stage::Tool,
            calllog::Stage::S2s => pb::Stage::S2s,
            calllog::Stage::VoiceToVoice => pb::Stage::VoiceToVoice,
        }
    }
}

impl From<calllog::TimingSource> for pb::TimingSource {
    fn from(source: calllog::TimingSource) -> Self {
        match source {
            calllog::TimingSource::Ttfb => pb::TimingSource::Ttfb,
            calllog::TimingSource::Duration => pb::TimingSource::Duration,
            calllog::TimingSource::Estimated => pb::TimingSource::Estimated,
            calllog::TimingSource::Spans => pb::TimingSource::Spans,
            calllog::TimingSource::Derived => pb::TimingSource::Derived,
        }
    }
}

/// A call log as its protobuf message. (`pb::CallLog::from(&log)` does not name the `From`
/// conversion: prost generates an inherent `from()` getter for the `from` field.)
pub fn to_pb(log: &CallLog) -> pb::CallLog {
    <pb::CallLog as From<&CallLog>>::from(log)
}

impl From<&CallLog> for pb::CallLog {
    fn from(log: &CallLog) -> Self {
        pb::CallLog {
            id: log.id.clone(),
            trace_id: log.trace_id.clone(),
            revision: log.revision,
            dialect: pb::Dialect::from(log.dialect).into(),
            agent_id: log.agent_id.clone(),
            agent_name: log.agent_name.clone(),
            service_name: log.service_name.clone(),
            status: pb::CallStatus::from(log.status).into(),
            end_reason: log.end_reason.clone(),
            started_at: log.started_at.clone(),
            ended_at: log.ended_at.clone(),
            direction: log.direction.clone(),
            from: log.from.clone(),
            to: log.to.clone(),
            recording_url: log.recording_url.clone(),
            metadata: json_map(&log.metadata),
            turns: log.turns.iter().map(pb::Turn::from).collect(),
            metrics: Some(pb::CallMetrics::from(&log.metrics)),
            issues: log.issues.iter().map(pb::Issue::from).collect(),
            events: log.events.iter().map(pb::CallEvent::from).collect(),
            logs: log.logs.iter().map(pb::LogLine::from).collect(),
            custom_metrics: json_map(&log.custom_metrics),
            links: Some(pb::Links {
                trace: log.links.trace.clone(),
            }),
            span_count: u64::try_from(log.span_count).unwrap_or(u64::MAX),
            reported_usage: log
                .reported_usage
                .iter()
                .map(pb::ReportedUsage::from)
                .collect(),
            cost: log.cost.as_ref().map(pb::CallCost::from),
            livekit: log.livekit.as_ref().map(|job| pb::LiveKitJob {
                room_id: job.room_id.clone(),
                job_id: job.job_id.clone(),
            }),
            deployment: log.deployment.as_ref().map(|d| pb::Deployment {
                id: d.id.clone(),
                version: d.version.clone(),
                environment: d.environment.clone(),
            }),
            recording: log.recording.as_ref().map(|r| pb::Recording {
                url: r.url.clone(),
                media_type: r.media_type.clone(),
                duration_ms: r.duration_ms,
                start_offset_ms: r.start_offset_ms,
            }),
            redactions: log
                .redactions
                .iter()
                .map(|(kind, n)| (kind.to_string(), n))
                .collect(),
        }
    }
}

impl From<&calllog::ReportedUsage> for pb::ReportedUsage {
    fn from(u: &calllog::ReportedUsage) -> Self {
        pb::ReportedUsage {
            stage: pb::Stage::from(u.stage).into(),
            provider: u.provider.clone(),
            model: u.model.clone(),
            llm_input_tokens: u.llm_input_tokens,
            llm_cached_input_tokens: u.llm_cached_input_tokens,
            llm_output_tokens: u.llm_output_tokens,
            audio_input_tokens: u.audio_input_tokens,
            audio_output_tokens: u.audio_output_tokens,
            llm_session_ms: u.llm_session_ms,
            stt_audio_ms: u.stt_audio_ms,
            tts_characters: u.tts_characters,
            tts_audio_ms: u.tts_audio_ms,
        }
    }
}

/// Amounts by stage, keyed by the stage's JSON name.
fn by_stage(amounts: &BTreeMap<calllog::Stage, f64>) -> HashMap<String, f64> {
    amounts
        .iter()
        .map(|(stage, usd)| (stage.as_str().to_string(), *usd))
        .collect()
}

impl From<&calllog::CallCost> for pb::CallCost {
    fn from(c: &calllog::CallCost) -> Self {
        pb::CallCost {
            total_usd: c.total_usd,
            prices_version: c.prices_version.clone(),
            stages: by_stage(&c.stages),
            models: c
                .models
                .iter()
                .map(|l| pb::CostLine {
                    stage: pb::Stage::from(l.stage).into(),
                    provider: l.provider.clone(),
                    model: l.model.clone(),
                    priced_as: l.priced_as.clone(),
                    usd: l.usd,
                    input_tokens: l.input_tokens,
                    cached_input_tokens: l.cached_input_tokens,
                    output_tokens: l.output_tokens,
                    audio_input_tokens: l.audio_input_tokens,
                    audio_output_tokens: l.audio_output_tokens,
                    audio_ms: l.audio_ms,
                    characters: l.characters,
                    audio_basis: l.audio_basis.and_then(|b| {
                        serde_json::to_value(b)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                    }),
                })
                .collect(),
            turns: c
                .turns
                .iter()
                .map(|t| pb::TurnCost {
                    index: t.index,
                    usd: t.usd,
                    stages: by_stage(&t.stages),
                })
                .collect(),
            unpriced: c
                .unpriced
                .iter()
                .map(|u| pb::Unpriced {
                    stage: pb::Stage::from(u.stage).into(),
                    provider: u.provider.clone(),
                    model: u.model.clone(),
                    reason: u.reason.clone(),
                    turns: u.turns.clone(),
                })
                .collect(),
            estimated: c.estimated,
        }
    }
}

impl From<&calllog::Turn> for pb::Turn {
    fn from(turn: &calllog::Turn) -> Self {
        pb::Turn {
            index: turn.index,
            speaker: turn.speaker.as_str().to_string(),
            text: turn.text.clone(),
            user_text: turn.user_text.clone(),
            start_ms: turn.start_ms,
            end_ms: turn.end_ms,
            stt_ms: turn.stt_ms,
            llm_ms: turn.llm_ms,
            tts_ms: turn.tts_ms,
            latency_ms: turn.latency_ms,
            endpointing_ms: turn.endpointing_ms,
            stt_duration_ms: turn.stt_duration_ms,
            llm_duration_ms: turn.llm_duration_ms,
            tts_duration_ms: turn.tts_duration_ms,
            tool_ms: turn.tool_ms,
            interrupted: turn.interrupted,
            interruption: turn.interruption.as_ref().map(|i| pb::Interruption {
                detection_latency_ms: i.detection_latency_ms,
                stop_latency_ms: i.stop_latency_ms,
                bleed_through_words: i.bleed_through_words,
            }),
            tools: turn.tools.iter().map(pb::ToolExecution::from).collect(),
            timing_source: turn
                .timing_source
                .iter()
                .map(|(figure, source)| (figure.clone(), pb::TimingSource::from(*source).into()))
                .collect(),
            providers: turn
                .providers
                .iter()
                .map(|(stage, p)| {
                    let provider = pb::StageProvider {
                        provider: p.provider.clone(),
                        model: p.model.clone(),
                    };
                    (stage.as_str().to_string(), provider)
                })
                .collect(),
            llm_input_tokens: turn.llm_input_tokens,
            llm_output_tokens: turn.llm_output_tokens,
            llm_cached_input_tokens: turn.llm_cached_input_tokens,
            llm_reasoning_tokens: turn.llm_reasoning_tokens,
            audio_input_tokens: turn.audio_input_tokens,
            audio_output_tokens: turn.audio_output_tokens,
            tts_characters: turn.tts_characters,
            stt_audio_ms: turn.stt_audio_ms,
            s2s_ms: turn.s2s_ms,
            user_start_ms: turn.user_start_ms,
            user_end_ms: turn.user_end_ms,
            agent_start_ms: turn.agent_start_ms,
            agent_end_ms: turn.agent_end_ms,
            agent_speech: turn
                .agent_speech
                .iter()
                .map(|s| pb::SpeechSegment {
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                })
                .collect(),
            stage_spans: turn
                .stage_spans
                .iter()
                .map(|s| pb::StageExtent {
                    stage: pb::Stage::from(s.stage).into(),
                    start_ms: s.start_ms,
                    duration_ms: s.duration_ms,
                })
                .collect(),
            ended_by_call: turn.ended_by_call,
            discarded_generations: turn.discarded_generations,
            errors: turn
                .errors
                .iter()
                .map(|e| pb::StageError {
                    stage: pb::Stage::from(e.stage).into(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

impl From<&calllog::ToolExecution> for pb::ToolExecution {
    fn from(tool: &calllog::ToolExecution) -> Self {
        pb::ToolExecution {
            name: tool.name.clone(),
            input: tool.input.clone(),
            output: tool.output.clone(),
            start_ms: tool.start_ms,
            duration_ms: tool.duration_ms,
            error: tool.error.clone(),
        }
    }
}

impl From<&calllog::CallMetrics> for pb::CallMetrics {
    fn from(m: &calllog::CallMetrics) -> Self {
        pb::CallMetrics {
            total_duration_ms: m.total_duration_ms,
            avg_turn_latency_ms: m.avg_turn_latency_ms,
            p50_turn_latency_ms: m.p50_turn_latency_ms,
            p95_turn_latency_ms: m.p95_turn_latency_ms,
            turns: m.turns,
            tool_executions: m.tool_executions,
            interruptions: m.interruptions,
            llm_input_tokens: m.llm_input_tokens,
            llm_output_tokens: m.llm_output_tokens,
            tts_characters: m.tts_characters,
            errors: m.errors,
        }
    }
}

impl From<&calllog::Issue> for pb::Issue {
    fn from(issue: &calllog::Issue) -> Self {
        pb::Issue {
            r#type: issue.kind.clone(),
            turn: issue.turn,
            stage: issue.stage.map(|s| pb::Stage::from(s).into()),
            value_ms: issue.value_ms,
            target_ms: issue.target_ms,
            description: issue.description.clone(),
            recommendation: issue.recommendation.clone(),
        }
    }
}

impl From<&calllog::CallEvent> for pb::CallEvent {
    fn from(event: &calllog::CallEvent) -> Self {
        pb::CallEvent {
            name: event.name.clone(),
            at_ms: event.at_ms,
            span: event.span.clone(),
            turn: event.turn,
            attributes: json_map(&event.attributes),
        }
    }
}

impl From<&calllog::LogLine> for pb::LogLine {
    fn from(line: &calllog::LogLine) -> Self {
        pb::LogLine {
            at_ms: line.at_ms,
            level: line.level.clone(),
            message: line.message.clone(),
            turn: line.turn,
            fields: json_map(&line.fields),
        }
    }
}

/// A JSON object's entries as a protobuf `map<string, google.protobuf.Value>`.
fn json_map(map: &BTreeMap<String, serde_json::Value>) -> HashMap<String, prost_types::Value> {
    map.iter()
        .map(|(key, value)| (key.clone(), json_value(value)))
        .collect()
}

/// A JSON value as `google.protobuf.Value`. Numbers become doubles, as in the protobuf JSON
/// mapping (integers above 2^53 lose precision there too).
pub fn json_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value as Json;
    let kind = match value {
        Json::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_value).collect(),
        }),
        Json::Object(fields) => Kind::StructValue(prost_types::Struct {
            fields: fields
                .iter()
                .map(|(key, value)| (key.clone(), json_value(value)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::value::Kind;

    #[test]
    fn json_values_map_onto_protobuf_values() {
        let json = serde_json::json!({"n": 3, "s": "x", "b": true, "z": null, "l": [1.5, "a"]});
        let Some(Kind::StructValue(fields)) = json_value(&json).kind else {
            panic!("an object must become a Struct");
        };
        let kind = |key: &str| fields.fields[key].kind.clone();
        assert_eq!(kind("n"), Some(Kind::NumberValue(3.0)));
        assert_eq!(kind("s"), Some(Kind::StringValue("x".to_string())));
        assert_eq!(kind("b"), Some(Kind::BoolValue(true)));
        assert_eq!(kind("z"), Some(Kind::NullValue(0)));
        let Some(Kind::ListValue(list)) = kind("l") else {
            panic!("an array must become a ListValue");
        };
        assert_eq!(list.values[0].kind, Some(Kind::NumberValue(1.5)));
        assert_eq!(
            list.values[1].kind,
            Some(Kind::StringValue("a".to_string()))
        );
    }

    #[test]
    fn list_requests_follow_the_http_rules() {
        let q = call_query(pb::ListCallsRequest::default()).unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.status, None);

        let bad_limit = pb::ListCallsRequest {
            limit: 101,
            ..Default::default()
        };
        let err = call_query(bad_limit).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().starts_with("limit:"), "{}", err.message());

        let bad_status = pb::ListCallsRequest {
            status: Some(pb::CallStatus::Unspecified.into()),
            ..Default::default()
        };
        assert!(call_query(bad_status)
            .unwrap_err()
            .message()
            .starts_with("status:"));

        let backwards = pb::ListCallsRequest {
            since_ms: Some(10),
            until_ms: Some(10),
            ..Default::default()
        };
        assert!(call_query(backwards)
            .unwrap_err()
            .message()
            .starts_with("until_ms:"));

        let failed = pb::ListCallsRequest {
            status: Some(pb::CallStatus::Failed.into()),
            agent_id: Some("a".to_string()),
            limit: 5,
            ..Default::default()
        };
        let q = call_query(failed).unwrap();
        assert_eq!(q.status, Some(calllog::CallStatus::Failed));
        assert_eq!(q.agent_id.as_deref(), Some("a"));
        assert_eq!(q.limit, 5);
    }
}
