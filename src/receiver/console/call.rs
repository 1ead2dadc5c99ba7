//! One call (`/calls/{callId}`, `?traceId=` for one of several calls sharing the id): its
//! header and deliveries, the audio player, the timeline, the latency of each turn split into
//! its stages and the unaccounted rest, the transcript with each turn's events, log lines and
//! issues, and the call log to download (`/calls/{callId}/calllog.json`).
//!
//! Test contract: each turn's transcript section carries `data-turn-index`, `data-stt-ms`,
//! `data-llm-ms`, `data-tts-ms`, `data-latency-ms` (empty when the figure is null) with the
//! call log's values, and `data-start-ms`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::layout::{self, ms, offset, Nav};
use super::timeline::{Segment, Stack, Timeline};
use super::{read, sign_out, ConsoleState};
use crate::receiver::api::handlers::TraceParam;
use crate::receiver::api::FoundCall;
use crate::receiver::calllog::{trace_link, CallEvent, CallLog, Issue, LogLine, Turn};
use crate::receiver::query::{Delivery, DeliveryState};

/// The timeline's drawing width (SVG user units; the SVG scales to the page).
const WIDTH: f64 = 1000.0;
/// Room for the lane labels.
const LABELS: f64 = 124.0;
/// One lane's height and the gap below it.
const LANE: f64 = 20.0;
const LANE_GAP: f64 = 7.0;
/// Above the lanes: the turn labels and the axis.
const AXIS: f64 = 24.0;

async fn found(
    state: &ConsoleState,
    id: String,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<(FoundCall, Vec<Delivery>), Response> {
    let signed = sign_out(state);
    let trace = match trace {
        Ok(Query(t)) => t.trace_id.map(|t| t.to_ascii_lowercase()),
        Err(e) => {
            let message = e.body_text();
            return Err(layout::problem(
                StatusCode::BAD_REQUEST,
                "Bad request",
                &message,
                signed,
            ));
        }
    };
    let lookup = id.clone();
    let answer = read(state, move |r| {
        let Some(found) = r.get_call(&lookup, trace.as_deref())? else {
            return Ok(None);
        };
        let deliveries = r.deliveries(&found.log.id, &found.log.trace_id)?;
        Ok(Some((found, deliveries)))
    })
    .await;
    match answer {
        Ok(Some((mut found, deliveries))) => {
            if let Some(template) = &state.trace_url_template {
                let log = &mut found.log;
                log.links.trace = Some(trace_link(template, &log.trace_id, &log.id));
            }
            Ok((found, deliveries))
        }
        Ok(None) => Err(layout::problem(
            StatusCode::NOT_FOUND,
            "No such call",
            &format!("No call '{id}' is stored."),
            signed,
        )),
        Err(e) => Err(layout::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Store error",
            &e.to_string(),
            signed,
        )),
    }
}

/// `GET /calls/{callId}`
pub async fn page(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Response {
    match found(&state, id, trace).await {
        Ok((found, deliveries)) => {
            let title = format!("Call {}", found.log.id);
            let body = body(&found, &deliveries, state.requeue.is_some());
            layout::page(&title, Nav::None, sign_out(&state), body)
        }
        Err(problem) => problem,
    }
}

/// `GET /calls/{callId}/calllog.json`: the call log as the API serves it, as a download.
pub async fn download(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Response {
    match found(&state, id, trace).await {
        Ok((found, _)) => {
            let body = serde_json::to_string_pretty(&found.log).unwrap_or_default();
            let name: String = found
                .log
                .id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let disposition = format!("attachment; filename=\"calllog-{name}.json\"");
            let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(problem) => problem,
    }
}

fn body(found: &FoundCall, deliveries: &[Delivery], can_requeue: bool) -> Markup {
    let log = &found.log;
    html! {
        (header_panel(found, deliveries, can_requeue))
        @if let Some(player) = player(log) { (player) }
        div.callgrid {
            div {
                div.panel {
                    h2 { "Timeline" }
                    (timeline_svg(&Timeline::of(log)))
                }
                div.panel {
                    h2 { "Voice-to-voice latency by turn" }
                    (stack_svg(log))
                    div.legend {
                        span.stt { "STT" } span.endpointing { "endpointing" } span.llm { "LLM" }
                        span.tts { "TTS" } span.unaccounted { "unaccounted" }
                    }
                }
                (issues_panel(&log.issues))
                (call_level_panel(log))
            }
            div.panel.transcript {
                h2 { "Transcript" }
                @if log.turns.is_empty() { p.muted { "No turns." } }
                @for turn in &log.turns { (turn_section(log, turn)) }
            }
        }
    }
}

fn fact(label: &str, value: Markup) -> Markup {
    html! { div { dt { (label) } dd { (value) } } }
}

fn text(value: Option<&str>) -> Markup {
    html! {
        @match value {
            Some(v) => (v),
            None => span.muted { "–" },
        }
    }
}

fn header_panel(found: &FoundCall, deliveries: &[Delivery], can_requeue: bool) -> Markup {
    let log = &found.log;
    let deployment = log.deployment.clone().unwrap_or_default();
    let json_href = format!(
        "/calls/{}/calllog.json?traceId={}",
        layout::encode(&log.id),
        layout::encode(&log.trace_id)
    );
    html! {
        div.panel {
            h1 { "Call " code { (log.id) } }
            dl.facts {
                (fact("Trace id", html! {
                    code { (log.trace_id) } " "
                    @if let Some(trace) = &log.links.trace {
                        a.button href=(trace) target="_blank" rel="noopener noreferrer" { "Open trace" }
                    }
                }))
                (fact("Agent", text(log.agent_id.as_deref())))
                (fact("Deployment", html! {
                    @match &deployment.id {
                        Some(id) => a href={ "/deployments/" (layout::encode(id)) } { (id) },
                        None => span.muted { "–" },
                    }
                    @if let Some(v) = &deployment.version { " · " (v) }
                    @if let Some(e) = &deployment.environment { " · " (e) }
                }))
                (fact("Status", html! { span class={ "status " (log.status.as_str()) } { (log.status.as_str()) } }))
                (fact("End reason", text(log.end_reason.as_deref())))
                (fact("Direction", text(log.direction.as_deref())))
                (fact("From", text(log.from.as_deref())))
                (fact("To", text(log.to.as_deref())))
                (fact("Started (UTC)", html! { (layout::rfc3339(&log.started_at)) }))
                (fact("Duration", html! { (ms(Some(log.metrics.total_duration_ms))) }))
                (fact("Turns", html! { (log.metrics.turns) }))
                (fact("p50 / p95 voice-to-voice", html! {
                    (ms(log.metrics.p50_turn_latency_ms)) " / " (ms(log.metrics.p95_turn_latency_ms))
                }))
                (fact("Revision", html! { (log.revision) }))
                (fact("Call log", html! { a href=(json_href) download { "Download JSON" } }))
            }
            @if !found.same_id.is_empty() {
                p.muted {
                    "Other calls with this id: "
                    @for other in &found.same_id {
                        a href=(layout::call_href(&log.id, &other.trace_id)) {
                            (layout::rfc3339(&other.started_at)) " (" code { (other.trace_id.get(..8).unwrap_or(&other.trace_id)) } ")"
                        } " "
                    }
                }
            }
            @if !deliveries.is_empty() {
                h2 { "Deliveries" }
                table.deliveries {
                    thead { tr { th { "Sink" } th { "Kind" } th { "State" } th.num { "Revision" } th { "Last error" } th {} } }
                    tbody {
                        @for d in deliveries {
                            tr data-sink=(d.sink) data-state=(d.state.as_str()) {
                                td { (d.sink) }
                                td { (d.kind) }
                                td { span class={ "state " (d.state.as_str()) } { (d.state.as_str()) } }
                                td.num { @if let Some(r) = d.delivered_revision { (r) } }
                                td { @if let Some(e) = &d.last_error { span.error { (e) } } }
                                td {
                                    @if d.state == DeliveryState::Dead && can_requeue {
                                        form method="post" action={ "/console/sinks/" (layout::encode(&d.sink)) "/retry-dead" } {
                                            button.quiet type="submit" { "Re-queue dead letters" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The audio player, when the call has a recording: play/pause, and a bar with each turn
/// marked (clicking a turn anywhere seeks to it).
fn player(log: &CallLog) -> Option<Markup> {
    let recording = log.recording.as_ref()?;
    let offset_ms = recording.start_offset_ms;
    let span = match recording.duration_ms {
        0 => log.metrics.total_duration_ms + offset_ms,
        known => known,
    }
    .max(1);
    let x = |at_ms: i64| ((at_ms + offset_ms) as f64 / span as f64 * WIDTH).clamp(0.0, WIDTH);
    Some(html! {
        div.panel.player {
            audio data-recording src=(recording.url) preload="metadata"
                  data-start-offset-ms=(offset_ms) data-media-type=(recording.media_type) {}
            button type="button" data-play { "Play" }
            svg.timebar viewBox={ "0 0 " (WIDTH) " 24" } data-duration-ms=(span) data-width=(WIDTH) {
                rect x="0" y="8" width=(WIDTH) height="8" rx="4" class="band" {}
                @for turn in &log.turns {
                    rect.marker x=(format!("{:.1}", x(turn.start_ms))) y="4" width="4" height="16"
                         data-turn=(turn.index) {
                        title { "Turn " (turn.index) " at " (offset(turn.start_ms)) }
                    }
                }
                line.playhead x1="0" x2="0" y1="0" y2="24" {}
            }
        }
    })
}

/// A tick step for an axis of `span_ms`: about ten ticks, on round values.
pub fn tick_step(span_ms: i64) -> i64 {
    const STEPS: &[i64] = &[
        100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
        1_800_000, 3_600_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|step| span_ms / step <= 10)
        .unwrap_or(3_600_000)
}

fn timeline_svg(tl: &Timeline) -> Markup {
    let plot = WIDTH - LABELS - 8.0;
    let x = |ms: i64| LABELS + ms.max(0) as f64 / tl.span_ms as f64 * plot;
    let height = AXIS + tl.lanes.len() as f64 * (LANE + LANE_GAP) + 4.0;
    let lane_y = |lane: &str| {
        let i = tl.lanes.iter().position(|(l, _)| *l == lane).unwrap_or(0);
        AXIS + i as f64 * (LANE + LANE_GAP)
    };
    let step = tick_step(tl.span_ms);
    let ticks: Vec<i64> = (0..=tl.span_ms / step).map(|i| i * step).collect();
    let f = |v: f64| format!("{v:.1}");
    html! {
        @if tl.lanes.is_empty() {
            p.muted { "The call log has no stage spans to draw." }
        }
        svg.timeline viewBox={ "0 0 " (WIDTH) " " (f(height)) } role="img" aria-label="timeline" {
            @for (i, band) in tl.bands.iter().enumerate() {
                rect class={ "band" @if i % 2 == 1 { " odd" } } data-turn=(band.turn)
                     x=(f(x(band.start_ms))) y=(f(AXIS - 4.0))
                     width=(f((x(band.end_ms) - x(band.start_ms)).max(1.0))) height=(f(height - AXIS + 4.0)) {
                    title { "Turn " (band.turn) " · " (offset(band.start_ms)) "–" (offset(band.end_ms)) }
                }
                text x=(f(x(band.start_ms) + 2.0)) y="15" { "T" (band.turn) }
            }
            @for tick in &ticks {
                line.grid x1=(f(x(*tick))) x2=(f(x(*tick))) y1=(f(AXIS - 4.0)) y2=(f(height)) {}
            }
            @for (lane, label) in &tl.lanes {
                text.lane-label x="4" y=(f(lane_y(lane) + LANE - 5.0)) { (label) }
            }
            @for bar in &tl.bars {
                rect class={ "bar " (bar.lane) } data-turn=(bar.turn) data-lane=(bar.lane)
                     x=(f(x(bar.start_ms))) y=(f(lane_y(bar.lane)))
                     width=(f((x(bar.end_ms) - x(bar.start_ms)).max(1.5))) height=(f(LANE)) {
                    title { (bar.title) }
                }
            }
        }
        div.muted {
            "Axis: " (offset(0)) " to " (offset(tl.span_ms)) ", a line every " (ms(Some(step)))
            ". Hover a bar for its figure and timing source."
        }
    }
}

fn stack_svg(log: &CallLog) -> Markup {
    let stacks: Vec<Stack> = log.turns.iter().filter_map(Stack::of).collect();
    if stacks.is_empty() {
        return html! { p.muted { "No turn has a voice-to-voice latency." } };
    }
    let scale = stacks
        .iter()
        .map(|s| s.latency_ms.max(s.segments.iter().map(|g| g.ms).sum()))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let row = 26.0;
    let left = 44.0;
    let plot = WIDTH - left - 260.0;
    let height = stacks.len() as f64 * row + 4.0;
    let f = |v: f64| format!("{v:.1}");
    html! {
        svg.stack viewBox={ "0 0 " (WIDTH) " " (f(height)) } role="img" aria-label="latency by turn" {
            @for (i, stack) in stacks.iter().enumerate() {
                @let y = i as f64 * row + 2.0;
                g data-turn=(stack.turn) data-unaccounted-ms=(stack.unaccounted_ms()) {
                    text x="2" y=(f(y + 15.0)) { "T" (stack.turn) }
                    @for (at, w, seg) in placed(stack, left, plot / scale) {
                        rect class={ "seg " (seg.class) } x=(f(at)) y=(f(y)) width=(f(w.max(0.5))) height="19" {
                            title { "Turn " (stack.turn) " · " (seg.title) }
                        }
                    }
                    text x=(f(left + plot + 8.0)) y=(f(y + 15.0)) {
                        (ms(Some(stack.latency_ms)))
                        @if stack.estimated { " (estimated)" }
                        @if stack.overlap_ms > 0 { " · stages overlap " (ms(Some(stack.overlap_ms))) }
                    }
                }
            }
        }
    }
}

/// Each segment of a stack with its x and width, one after the other from `left`.
fn placed(stack: &Stack, left: f64, per_ms: f64) -> Vec<(f64, f64, &Segment)> {
    let mut at = left;
    stack
        .segments
        .iter()
        .map(|seg| {
            let w = seg.ms as f64 * per_ms;
            at += w;
            (at - w, w, seg)
        })
        .collect()
}

fn issues_panel(issues: &[Issue]) -> Markup {
    html! {
        div.panel {
            h2 { "Issues" }
            @if issues.is_empty() { p.muted { "No issue found." } }
            @for issue in issues {
                div.issue data-issue=(issue.kind) {
                    p {
                        span class={ "badge " (issue.kind) } { (issue.kind) }
                        @if let Some(turn) = issue.turn { a href={ "#turn-" (turn) } { "turn " (turn) } " · " }
                        (issue.description)
                    }
                    p.muted { (issue.recommendation) }
                }
            }
        }
    }
}

fn call_level_panel(log: &CallLog) -> Markup {
    let events: Vec<&CallEvent> = log.events.iter().filter(|e| e.turn.is_none()).collect();
    let logs: Vec<&LogLine> = log.logs.iter().filter(|l| l.turn.is_none()).collect();
    html! {
        div.panel {
            h2 { "Call events, metrics and logs" }
            @if events.is_empty() && logs.is_empty() && log.custom_metrics.is_empty() {
                p.muted { "None outside the turns." }
            }
            @if !log.custom_metrics.is_empty() {
                table.metrics {
                    thead { tr { th { "Custom metric" } th { "Value" } } }
                    tbody {
                        @for (name, value) in &log.custom_metrics {
                            tr { td { (name) } td.mono { (value_text(value)) } }
                        }
                    }
                }
            }
            (attached(&events, &logs))
        }
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn attached(events: &[&CallEvent], logs: &[&LogLine]) -> Markup {
    let mut items: Vec<(i64, Markup)> = Vec::new();
    for e in events {
        let message = e
            .attributes
            .get("log.message")
            .map(value_text)
            .unwrap_or_else(|| {
                let others: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_text(v)))
                    .collect();
                others.join(" ")
            });
        items.push((
            e.at_ms,
            html! {
                li.event data-event=(e.name) {
                    span.kind { "event" } code { (offset(e.at_ms)) } " " strong { (e.name) } " " (message)
                }
            },
        ));
    }
    for l in logs {
        items.push((
            l.at_ms,
            html! {
                li.log data-level=(l.level) {
                    span.kind { (l.level) } code { (offset(l.at_ms)) } " " (l.message)
                }
            },
        ));
    }
    items.sort_by_key(|(at, _)| *at);
    html! {
        @if !items.is_empty() {
            ul.attached { @for (_, item) in items { (item) } }
        }
    }
}

fn data(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn turn_section(log: &CallLog, turn: &Turn) -> Markup {
    let events: Vec<&CallEvent> = log
        .events
        .iter()
        .filter(|e| e.turn == Some(turn.index))
        .collect();
    let logs: Vec<&LogLine> = log
        .logs
        .iter()
        .filter(|l| l.turn == Some(turn.index))
        .collect();
    let issues: Vec<&Issue> = log
        .issues
        .iter()
        .filter(|i| i.turn == Some(turn.index))
        .collect();
    html! {
        section.turn id={ "turn-" (turn.index) } data-turn-index=(turn.index)
                data-stt-ms=(data(turn.stt_ms)) data-llm-ms=(data(turn.llm_ms))
                data-tts-ms=(data(turn.tts_ms)) data-latency-ms=(data(turn.latency_ms))
                data-start-ms=(turn.start_ms) {
            h3 {
                "Turn " (turn.index) " · " (offset(turn.start_ms))
                @if turn.latency_ms.is_some() { " · v2v " (ms(turn.latency_ms)) }
                " · STT " (ms(turn.stt_ms)) " · LLM " (ms(turn.llm_ms)) " · TTS " (ms(turn.tts_ms))
                @if turn.interrupted { " " span.badge { "interrupted" } }
            }
            @if let Some(user) = &turn.user_text {
                p.line.user { span.who { "User" } (user) }
            }
            @if let Some(agent) = &turn.text {
                p.line.agent { span.who { "Agent" } (agent) }
            }
            @if !turn.tools.is_empty() || !turn.errors.is_empty() || !issues.is_empty() {
                ul.attached {
                    @for tool in &turn.tools {
                        li.tool {
                            span.kind { "tool" } code { (tool.name) } " " (ms(tool.duration_ms))
                            @if let Some(input) = &tool.input { " · in " code { (input) } }
                            @if let Some(output) = &tool.output { " · out " code { (output) } }
                            @if let Some(e) = &tool.error { " " span.error { (e) } }
                        }
                    }
                    @for e in &turn.errors {
                        li { span.kind { "error" } (e.stage.as_str()) ": " span.error { (e.message) } }
                    }
                    @for issue in &issues {
                        li { span class={ "badge " (issue.kind) } { (issue.kind) } (issue.description) }
                    }
                }
            }
            (attached(&events, &logs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_about_ten() {
        assert_eq!(tick_step(900), 100);
        assert_eq!(tick_step(12_000), 2000);
        assert_eq!(tick_step(330_000), 60_000);
    }
}
