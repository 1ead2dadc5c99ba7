//! The calls page (`/`): newest first, filtered in the store by the URL's parameters, paged by
//! cursor; rows of calls that finish while it is open arrive through [`super::live`] and
//! `GET /console/rows` (the same rows, with the page's own parameters).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::filters::{self, ListParams};
use super::layout::{self, Nav};
use super::{read, sign_out, ConsoleState};
use crate::receiver::analyze::issues::{
    HIGH_LATENCY, INCOMPLETE_CALL, SLOW_INTERRUPTION_STOP, STAGE_FAILED,
};
use crate::receiver::query::{CallRow, CallRowPage};

/// The issue types the filter offers (what analysis finds).
pub const ISSUE_TYPES: &[&str] = &[
    HIGH_LATENCY,
    STAGE_FAILED,
    SLOW_INTERRUPTION_STOP,
    INCOMPLETE_CALL,
];

fn params(query: Result<Query<ListParams>, QueryRejection>) -> (ListParams, Vec<String>) {
    match query {
        Ok(Query(p)) => (p, Vec::new()),
        Err(e) => (ListParams::default(), vec![e.body_text()]),
    }
}

/// `GET /`
pub async fn page(
    State(state): State<ConsoleState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let (p, mut problems) = params(query);
    let (q, more) = filters::query(&p);
    problems.extend(more);
    let found = read(&state, move |r| Ok((r.call_rows(&q)?, r.agents()?))).await;
    let (page, agents) = match found {
        Ok(found) => found,
        Err(e) => {
            problems.push(e.to_string());
            (CallRowPage::default(), Vec::new())
        }
    };
    let body = html! {
        div.panel {
            h1 { "Calls" }
            (filter_form(&p, &agents))
            @for problem in &problems { p.error { (problem) } }
        }
        div.panel {
            @if p.cursor.trim().is_empty() {
                p.live data-live-status hidden { "Live: calls appear as they finish" }
            }
            table.calls {
                thead { tr {
                    th { "Start (UTC)" } th { "Call" } th { "Agent" } th { "Deployment" }
                    th { "Status" } th.num { "Duration" } th.num { "Turns" }
                    th.num { "p50 v2v" } th.num { "p95 v2v" } th { "Issues" }
                } }
                tbody data-live-rows { (rows_markup(&page.rows)) }
            }
            @if page.rows.is_empty() { p.muted { "No call matches." } }
            div.pager {
                @if !p.cursor.trim().is_empty() {
                    a href={ "/" (p.query_string(None)) } { "« Newest" } " "
                }
                @if let Some(cursor) = &page.next_cursor {
                    a href={ "/" (p.query_string(Some(cursor))) } rel="next" { "Older »" }
                }
            }
        }
    };
    layout::page("Calls", Nav::Calls, sign_out(&state), body)
}

/// `GET /console/rows`: the first page's rows alone (what the live list swaps in).
pub async fn rows(
    State(state): State<ConsoleState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let (p, _) = params(query);
    let (q, _) = filters::query(&p);
    match read(&state, move |r| r.call_rows(&q)).await {
        Ok(page) => layout::respond(StatusCode::OK, rows_markup(&page.rows)),
        Err(e) => layout::respond(StatusCode::INTERNAL_SERVER_ERROR, html! { (e.to_string()) }),
    }
}

fn filter_form(p: &ListParams, agents: &[String]) -> Markup {
    let option = |value: &str, current: &str, label: &str| {
        html! { option value=(value) selected[value == current] { (label) } }
    };
    html! {
        form.filters method="get" action="/" {
            label { "Agent"
                input name="agent" list="agents" value=(p.agent) placeholder="any";
                datalist id="agents" { @for a in agents { option value=(a) {} } }
            }
            label { "Deployment" input name="deployment" value=(p.deployment) placeholder="any"; }
            label { "Status"
                select name="status" {
                    (option("", &p.status, "any"))
                    (option("completed", &p.status, "completed"))
                    (option("failed", &p.status, "failed"))
                    (option("incomplete", &p.status, "incomplete"))
                }
            }
            label { "Since (UTC)" input name="since" value=(p.since) placeholder="2026-03-21T10:00"; }
            label { "Until (UTC)" input name="until" value=(p.until) placeholder="now"; }
            label { "Issue"
                select name="issue" {
                    (option("", &p.issue, "any"))
                    @for kind in ISSUE_TYPES { (option(kind, &p.issue, kind)) }
                }
            }
            label { "Interrupted"
                select name="interrupted" {
                    (option("", &p.interrupted, "any"))
                    (option("yes", &p.interrupted, "yes"))
                    (option("no", &p.interrupted, "no"))
                }
            }
            label { "Slowest turn ≥ ms"
                input name="minLatency" type="number" min="0" step="50" value=(p.min_latency);
            }
            label { "Transcript" input name="q" type="search" value=(p.q) placeholder="words"; }
            button type="submit" { "Filter" }
            a href="/" { "Clear" }
        }
    }
}

/// The rows of a page (`tbody`'s content).
pub fn rows_markup(rows: &[CallRow]) -> Markup {
    html! {
        @for row in rows {
            tr data-call-key={ (row.call_id) " " (row.trace_id) } data-call-id=(row.call_id)
               data-trace-id=(row.trace_id) {
                td.mono { (layout::time(row.started_at_ms)) }
                td { a href=(layout::call_href(&row.call_id, &row.trace_id)) { (row.call_id) } }
                td { (row.agent_id.as_deref().unwrap_or("–")) }
                td {
                    @match &row.deployment_id {
                        Some(d) => a href={ "/deployments/" (layout::encode(d)) } { (d) },
                        None => span.muted { "–" },
                    }
                }
                td { span class={ "status " (row.status.as_str()) } { (row.status.as_str()) } }
                td.num { (layout::ms(Some(row.duration_ms))) }
                td.num { (row.turns) }
                td.num { (layout::ms(row.p50_latency_ms)) }
                td.num { (layout::ms(row.p95_latency_ms)) }
                td {
                    @for (kind, count) in &row.issues {
                        span class={ "badge " (kind) } title=(kind) {
                            (kind) @if *count > 1 { " ×" (count) }
                        }
                    }
                    @if row.interruptions > 0 {
                        span.badge title="interrupted turns" { "interrupted ×" (row.interruptions) }
                    }
                }
            }
        }
    }
}
