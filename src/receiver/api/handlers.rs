//! One handler per route. Store reads run on the blocking pool (the store is SQLite).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::error::ApiError;
use super::params::{self, RawParams, Window};
use super::{ApiState, CallReader, FoundCall, ReadError};
use crate::receiver::analyze::nearest_rank;
use crate::receiver::calllog::{
    trace_link, CallLog, CallQuery, CallStatus, Issue, Links, SameIdCall,
};
use crate::receiver::metrics::{wants_openmetrics, ReceiverMetrics};

/// The interruption-quality aggregate reads at most this many calls (100 pages of the largest
/// size), so one request's work stays bounded; the answer says when the window held more.
pub const MAX_SCANNED_CALLS: usize = 10_000;

/// One row of a list answer: a call at a glance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallSummary {
    /// The call id.
    pub id: String,
    /// The trace id.
    pub trace_id: String,
    /// The agent.
    pub agent_id: Option<String>,
    /// How the call ended.
    pub status: CallStatus,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub ended_at: String,
    /// `metrics.totalDurationMs`.
    pub duration_ms: i64,
    /// Number of turns.
    pub turns: u32,
    /// `metrics.avgTurnLatencyMs`.
    pub avg_turn_latency_ms: Option<i64>,
    /// `metrics.p95TurnLatencyMs`.
    pub p95_turn_latency_ms: Option<i64>,
    /// Number of issues found.
    pub issues: usize,
    /// The call log's revision.
    pub revision: u32,
    /// Link to the trace.
    pub links: Links,
}

impl CallSummary {
    fn of(log: &CallLog) -> Self {
        CallSummary {
            id: log.id.clone(),
            trace_id: log.trace_id.clone(),
            agent_id: log.agent_id.clone(),
            status: log.status,
            started_at: log.started_at.clone(),
            ended_at: log.ended_at.clone(),
            duration_ms: log.metrics.total_duration_ms,
            turns: log.metrics.turns,
            avg_turn_latency_ms: log.metrics.avg_turn_latency_ms,
            p95_turn_latency_ms: log.metrics.p95_turn_latency_ms,
            issues: log.issues.len(),
            revision: log.revision,
            links: log.links.clone(),
        }
    }
}

/// A list answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAnswer {
    /// The calls of this page, newest first.
    pub data: Vec<CallSummary>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
    /// Whether there is a next page.
    pub has_more: bool,
}

/// Count and nearest-rank percentiles of one interruption figure.
#[derive(Debug, Serialize, PartialEq)]
pub struct Distribution {
    /// How many interruptions recorded the figure.
    pub count: usize,
    /// Median.
    pub p50: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
}

impl Distribution {
    fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        Distribution {
            count: values.len(),
            p50: nearest_rank(&values, 50),
            p95: nearest_rank(&values, 95),
        }
    }
}

type QueryParams = Result<Query<RawParams>, QueryRejection>;

fn raw_params(query: QueryParams) -> Result<RawParams, ApiError> {
    query
        .map(|Query(raw)| raw)
        .map_err(|rejection| ApiError::invalid_parameter("query", rejection.body_text()))
}

/// Runs a store read on the blocking pool.
async fn read<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn CallReader) -> Result<T, ReadError> + Send + 'static,
{
    let calls = state.calls.clone();
    tokio::task::spawn_blocking(move || f(calls.as_ref()))
        .await
        .map_err(|e| ReadError::Store(format!("read task failed: {e}")))?
        .map_err(ApiError::from)
}

fn with_link(mut log: CallLog, state: &ApiState) -> CallLog {
    if let Some(template) = &state.trace_url_template {
        log.links.trace = Some(trace_link(template, &log.trace_id, &log.id));
    }
    super::recordings::sign_recording(log, state.recordings.as_ref())
}

async fn list(state: ApiState, query: QueryParams) -> Result<Json<ListAnswer>, ApiError> {
    let q = params::parse_list(&raw_params(query)?)?;
    let page = read(&state, move |calls| calls.list_calls(&q)).await?;
    let data = page
        .calls
        .into_iter()
        .map(|log| CallSummary::of(&with_link(log, &state)))
        .collect();
    Ok(Json(ListAnswer {
        data,
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
    }))
}

/// `?traceId=` on a call's routes: which of several calls sharing an id.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceParam {
    /// The trace id of the call wanted.
    pub trace_id: Option<String>,
}

/// A call's answer: its call log, and the other calls with the same id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswer {
    /// The call log.
    #[serde(flatten)]
    pub log: CallLog,
    /// The other calls stored with this call id (other traces), newest first: `?traceId=`
    /// picks one.
    pub same_id_calls: Vec<SameIdCall>,
}

pub(super) async fn one(
    state: &ApiState,
    kind: &str,
    id: String,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<FoundCall, ApiError> {
    let Query(trace) =
        trace.map_err(|rejection| ApiError::invalid_parameter("query", rejection.body_text()))?;
    let lookup = id.clone();
    let trace_id = trace.trace_id.map(|t| t.to_ascii_lowercase());
    match read(state, move |calls| {
        calls.get_call(&lookup, trace_id.as_deref())
    })
    .await?
    {
        Some(found) => Ok(FoundCall {
            log: with_link(found.log, state),
            same_id: found.same_id,
        }),
        None => Err(ApiError::call_not_found(kind, &id)),
    }
}

fn answer(found: FoundCall) -> Json<CallAnswer> {
    Json(CallAnswer {
        log: found.log,
        same_id_calls: found.same_id,
    })
}

/// The root-cause answer: `{sessionId|callId, issues}` (plus the trace link).
fn root_cause(key: &str, log: &CallLog) -> serde_json::Value {
    let issues: &[Issue] = &log.issues;
    json!({key: log.id, "traceId": log.trace_id, "issues": issues, "links": log.links})
}

/// `GET /v1/observability/sessions`
pub async fn list_sessions(
    State(state): State<ApiState>,
    query: QueryParams,
) -> Result<Json<ListAnswer>, ApiError> {
    list(state, query).await
}

/// `GET /v1/observability/calls`
pub async fn list_calls(
    State(state): State<ApiState>,
    query: QueryParams,
) -> Result<Json<ListAnswer>, ApiError> {
    list(state, query).await
}

/// `GET /v1/observability/sessions/{sessionId}`
pub async fn get_session(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<Json<CallAnswer>, ApiError> {
    one(&state, "session", id, trace).await.map(answer)
}

/// `GET /v1/observability/calls/{callId}`
pub async fn get_call(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<Json<CallAnswer>, ApiError> {
    one(&state, "call", id, trace).await.map(answer)
}

/// `GET /v1/observability/sessions/{sessionId}/root-cause`
pub async fn session_root_cause(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let found = one(&state, "session", id, trace).await?;
    Ok(Json(root_cause("sessionId", &found.log)))
}

/// `GET /v1/observability/calls/{callId}/root-cause`
pub async fn call_root_cause(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let found = one(&state, "call", id, trace).await?;
    Ok(Json(root_cause("callId", &found.log)))
}

/// `GET /v1/observability/sessions/interruption-quality`: detection latency, stop latency and
/// bleed-through words over the calls that started in a time window.
pub async fn interruption_quality(
    State(state): State<ApiState>,
    query: QueryParams,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let window = params::parse_window(&raw_params(query)?, now_ms)?;
    let scan_window = window.clone();
    let (calls, truncated) = read(&state, move |reader| scan(reader, &scan_window)).await?;
    Ok(Json(interruption_summary(&window, &calls, truncated)))
}

/// Reads the window's calls page by page, up to [`MAX_SCANNED_CALLS`].
fn scan(reader: &dyn CallReader, window: &Window) -> Result<(Vec<CallLog>, bool), ReadError> {
    let mut query = CallQuery {
        agent_id: window.agent_id.clone(),
        since_ms: Some(window.since_ms),
        until_ms: Some(window.until_ms),
        limit: params::MAX_LIMIT,
        ..CallQuery::default()
    };
    let mut calls = Vec::new();
    loop {
        let page = reader.list_calls(&query)?;
        calls.extend(page.calls);
        match page.next_cursor {
            Some(_) if calls.len() >= MAX_SCANNED_CALLS => return Ok((calls, true)),
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok((calls, false)),
        }
    }
}

/// The interruption-quality answer for the calls of a window.
pub fn interruption_summary(
    window: &Window,
    calls: &[CallLog],
    truncated: bool,
) -> serde_json::Value {
    let mut detection = Vec::new();
    let mut stop = Vec::new();
    let mut bleed = Vec::new();
    let mut interruptions = 0usize;
    for turn in calls.iter().flat_map(|c| &c.turns) {
        if turn.interrupted || turn.interruption.is_some() {
            interruptions += 1;
        }
        if let Some(i) = &turn.interruption {
            detection.extend(i.detection_latency_ms);
            stop.extend(i.stop_latency_ms);
            bleed.extend(i.bleed_through_words);
        }
    }
    json!({
        "window": {
            "since": params::format_time(window.since_ms),
            "until": params::format_time(window.until_ms),
        },
        "agentId": window.agent_id,
        "sessions": calls.len(),
        "interruptions": interruptions,
        "detectionLatencyMs": Distribution::of(detection),
        "stopLatencyMs": Distribution::of(stop),
        "bleedThroughWords": Distribution::of(bleed),
        "truncated": truncated,
    })
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 once the receiver is ready, 503 before.
pub async fn readyz(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.ready.load(Ordering::Acquire) {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_ready",
            message: "the receiver is starting".to_string(),
        })
    }
}

/// `GET /metrics`: OpenMetrics (with exemplars) when the scraper asks for it, else Prometheus
/// text.
pub async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let openmetrics = wants_openmetrics(accept);
    let body = state.metrics.encode(openmetrics);
    (
        [(
            header::CONTENT_TYPE,
            ReceiverMetrics::content_type(openmetrics),
        )],
        body,
    )
        .into_response()
}

/// `GET /openapi.json`
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

/// Any path the API does not serve.
pub async fn route_not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "route_not_found",
        message: "no such route; see /openapi.json".to_string(),
    }
}

/// A served path with a method it does not take (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "this route only answers GET".to_string(),
    }
}
