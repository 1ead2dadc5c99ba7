//! The fleet (`/fleet?window=hour|day|week&agent=`): per agent and per stage, p50/p95 latency
//! over the window, calls per interval, issue counts by type and interruption quality; and
//! each sink's delivery counts. Aggregates come from the store ([`FleetQuery`]); the charts are
//! drawn here ([`super::chart`]).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};

use super::chart::{self, Pair};
use super::layout::{self, ms, Nav};
use super::{read, sign_out, ConsoleState};
use crate::receiver::query::{Figure, FigurePoint, Fleet, FleetQuery};
use crate::receiver::store::SinkStats;

/// The windows offered: name, length and bucket width (ms), about two dozen buckets each.
pub const WINDOWS: &[(&str, i64, i64)] = &[
    ("hour", 3_600_000, 300_000),
    ("day", 86_400_000, 3_600_000),
    ("week", 604_800_000, 21_600_000),
];

/// The page's parameters.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct FleetParams {
    /// `hour`, `day` (default) or `week`.
    pub window: String,
    /// Only this agent.
    pub agent: String,
}

/// The store query for a window ending now: buckets aligned on their width, the last one
/// holding now.
pub fn window_query(params: &FleetParams, now_ms: i64) -> (&'static str, FleetQuery) {
    let (name, length, bucket) = WINDOWS
        .iter()
        .copied()
        .find(|(n, _, _)| *n == params.window)
        .unwrap_or(WINDOWS[1]);
    let until = (now_ms.div_euclid(bucket) + 1) * bucket;
    let agent = params.agent.trim();
    (
        name,
        FleetQuery {
            since_ms: until - length,
            until_ms: until,
            bucket_ms: bucket,
            agent_id: (!agent.is_empty()).then(|| agent.to_string()),
        },
    )
}

/// `GET /fleet`
pub async fn page(
    State(state): State<ConsoleState>,
    params: Result<Query<FleetParams>, QueryRejection>,
) -> Response {
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (name, q) = window_query(&params, now_ms);
    let query = q.clone();
    let answer = read(&state, move |r| Ok((r.fleet(&query)?, r.sinks()?))).await;
    let body = match answer {
        Ok((fleet, sinks)) => body(name, &params, &q, &fleet, &sinks, state.requeue.is_some()),
        Err(e) => html! { div.panel { h1 { "Fleet" } p.error { (e.to_string()) } } },
    };
    layout::page("Fleet", Nav::Fleet, sign_out(&state), body)
}

fn body(
    window: &str,
    params: &FleetParams,
    q: &FleetQuery,
    fleet: &Fleet,
    sinks: &[SinkStats],
    can_requeue: bool,
) -> Markup {
    let agents: BTreeSet<Option<String>> = fleet
        .calls
        .iter()
        .map(|c| c.agent_id.clone())
        .chain(fleet.totals.iter().map(|p| p.agent_id.clone()))
        .collect();
    let label = |bucket: i64| {
        let t = layout::time(q.since_ms + bucket * q.bucket_ms);
        t.get(5..16).unwrap_or(&t).to_string()
    };
    let agent_query = match params.agent.trim() {
        "" => String::new(),
        a => format!("&agent={}", layout::encode(a)),
    };
    html! {
        div.panel {
            h1 { "Fleet" }
            p.tabs {
                @for (name, _, _) in WINDOWS {
                    a href={ "/fleet?window=" (name) (agent_query) } class=[(*name == window).then_some("here")] {
                        "last " (name)
                    }
                }
                span.muted { "UTC " (layout::time(q.since_ms)) " – " (layout::time(q.until_ms)) ", one point per " (ms(Some(q.bucket_ms))) }
            }
            @if fleet.truncated { p.error { "More turns than one page reads: the figures are of the newest part of the window." } }
            @if agents.is_empty() { p.muted { "No call in this window." } }
        }
        @for agent in &agents {
            (agent_panel(agent.as_deref(), q, fleet, &label, window))
        }
        (sinks_panel(sinks, can_requeue))
    }
}

fn pairs(points: &[FigurePoint], agent: Option<&str>, figure: Figure) -> Vec<Pair> {
    points
        .iter()
        .filter(|p| p.agent_id.as_deref() == agent && p.figure == figure)
        .map(|p| Pair {
            bucket: p.bucket,
            p50: p.p50,
            p95: p.p95,
        })
        .collect()
}

fn total<'a>(fleet: &'a Fleet, agent: Option<&str>, figure: Figure) -> Option<&'a FigurePoint> {
    fleet
        .totals
        .iter()
        .find(|p| p.agent_id.as_deref() == agent && p.figure == figure)
}

fn agent_panel(
    agent: Option<&str>,
    q: &FleetQuery,
    fleet: &Fleet,
    label: &dyn Fn(i64) -> String,
    window: &str,
) -> Markup {
    let buckets = q.buckets();
    let charted = [
        (Figure::VoiceToVoice, "Voice-to-voice"),
        (Figure::Stt, "STT"),
        (Figure::Endpointing, "Endpointing"),
        (Figure::Llm, "LLM"),
        (Figure::Tts, "TTS"),
    ];
    let calls: Vec<(i64, u64, u64)> = fleet
        .calls
        .iter()
        .filter(|c| c.agent_id.as_deref() == agent)
        .map(|c| (c.bucket, c.calls, c.failed))
        .collect();
    let total_calls: u64 = calls.iter().map(|c| c.1).sum();
    let turns = fleet.turns.iter().find(|t| t.agent_id.as_deref() == agent);
    let name = agent.unwrap_or("(no agent)");
    let list_href = match agent {
        Some(a) => format!("/?agent={}", layout::encode(a)),
        None => "/".to_string(),
    };
    html! {
        div.panel data-agent=(name) {
            h2 { "Agent " a href=(list_href) { (name) } " · " (total_calls) " calls in the last " (window) }
            div.cards {
                @for (figure, title) in charted {
                    @let series = pairs(&fleet.points, agent, figure);
                    @if !series.is_empty() {
                        div.card data-figure=(figure.as_str()) {
                            h3 { (title) " p50 / p95" }
                            (chart::percentiles(title, &series, buckets, label))
                        }
                    }
                }
                div.card {
                    h3 { "Calls per interval (failed in red)" }
                    (chart::calls(&calls, buckets, label))
                }
            }
            div.legend { span.p50 { "p50" } span.p95 { "p95" } }
            div.cards {
                div.card {
                    h3 { "Per stage over the window" }
                    table {
                        thead { tr { th { "Figure" } th.num { "Turns" } th.num { "p50" } th.num { "p95" } } }
                        tbody {
                            @for figure in Figure::ALL {
                                @if let Some(p) = total(fleet, agent, figure) {
                                    tr data-figure=(figure.as_str()) {
                                        td { (figure.as_str()) } td.num { (p.count) }
                                        td.num { (ms(p.p50)) } td.num { (ms(p.p95)) }
                                    }
                                }
                            }
                        }
                    }
                }
                div.card {
                    h3 { "Issues by type" }
                    @let issues: Vec<_> = fleet.issues.iter().filter(|i| i.agent_id.as_deref() == agent).collect();
                    @if issues.is_empty() { p.muted { "None." } }
                    table {
                        tbody {
                            @for i in issues {
                                tr { td { a href={ (list_href) (if agent.is_some() { "&" } else { "?" }) "issue=" (layout::encode(&i.kind)) } { span class={ "badge " (i.kind) } { (i.kind) } } } td.num { (i.count) } }
                            }
                        }
                    }
                }
                div.card {
                    h3 { "Interruption quality" }
                    @let detection = total(fleet, agent, Figure::InterruptionDetection);
                    @let stop = total(fleet, agent, Figure::InterruptionStop);
                    table {
                        tbody {
                            tr { td { "Interrupted turns" } td.num {
                                @match turns { Some(t) => { (t.interrupted) " of " (t.turns) }, None => "–" }
                            } }
                            tr { td { "Detection p50 / p95" } td.num { (ms(detection.and_then(|p| p.p50))) " / " (ms(detection.and_then(|p| p.p95))) } }
                            tr { td { "Stop p50 / p95" } td.num { (ms(stop.and_then(|p| p.p50))) " / " (ms(stop.and_then(|p| p.p95))) } }
                        }
                    }
                }
            }
        }
    }
}

fn sinks_panel(sinks: &[SinkStats], can_requeue: bool) -> Markup {
    html! {
        div.panel {
            h2 { "Sinks" }
            @if sinks.is_empty() { p.muted { "No sink is configured." } }
            @else {
                table {
                    thead { tr { th { "Sink" } th { "Kind" } th.num { "Delivered" } th.num { "Pending" } th.num { "Retrying" } th.num { "Dead" } th {} } }
                    tbody {
                        @for s in sinks {
                            tr data-sink=(s.name) {
                                td { (s.name) } td { (s.kind) } td.num { (s.delivered) } td.num { (s.pending) }
                                td.num { (s.retrying) } td.num { (s.dead) }
                                td {
                                    @if s.dead > 0 && can_requeue {
                                        form method="post" action={ "/console/sinks/" (layout::encode(&s.name)) "/retry-dead" } {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_with_the_bucket_holding_now() {
        let p = FleetParams {
            window: "hour".into(),
            agent: " bot ".into(),
        };
        let (name, q) = window_query(&p, 3_600_000 * 10 + 301_000);
        assert_eq!(name, "hour");
        assert_eq!(q.until_ms, 3_600_000 * 10 + 600_000);
        assert_eq!(q.until_ms - q.since_ms, 3_600_000);
        assert_eq!(q.buckets(), 12);
        assert_eq!(q.agent_id.as_deref(), Some("bot"));
        let (name, _) = window_query(&FleetParams::default(), 0);
        assert_eq!(name, "day");
    }
}
