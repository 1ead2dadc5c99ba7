//! The deployments (`/deployments`): each rollout an agent's resource named (`deployment.id`,
//! `service.version`, the environment) with its calls; one deployment (`/deployments/{id}`)
//! lists its calls and the events and log lines of its latest ones.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};

use super::calls::rows_markup;
use super::layout::{self, offset, Nav};
use super::{read, sign_out, ConsoleState};
use crate::receiver::calllog::{CallLog, CallQuery};
use crate::receiver::query::{CallRowPage, DeploymentRow};

/// Deployments listed at most.
const MAX_DEPLOYMENTS: usize = 200;
/// Calls of a deployment whose logs its page shows (the newest).
const LOGGED_CALLS: usize = 20;
/// Calls of a deployment its page lists (the newest; the calls page pages through the rest).
const LISTED_CALLS: usize = 50;

/// `GET /deployments`
pub async fn list(State(state): State<ConsoleState>) -> Response {
    let body = match read(&state, |r| r.deployments(MAX_DEPLOYMENTS)).await {
        Ok(rows) => table(&rows),
        Err(e) => html! { p.error { (e.to_string()) } },
    };
    let body = html! {
        div.panel {
            h1 { "Deployments" }
            p.muted {
                "From the resource attributes of each call's agent: deployment.id, service.version, "
                "deployment.environment.name."
            }
            (body)
        }
    };
    layout::page("Deployments", Nav::Deployments, sign_out(&state), body)
}

fn table(rows: &[DeploymentRow]) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { "No call named its deployment yet." } }
        @else {
            table {
                thead { tr {
                    th { "Deployment" } th { "Version" } th { "Environment" } th { "Agent" }
                    th.num { "Calls" } th.num { "Failed" } th { "First call (UTC)" } th { "Last call (UTC)" }
                } }
                tbody {
                    @for d in rows {
                        tr data-deployment=[d.id.as_deref()] {
                            td {
                                @match &d.id {
                                    Some(id) => a href={ "/deployments/" (layout::encode(id)) } { (id) },
                                    None => span.muted { "(no id)" },
                                }
                            }
                            td { (d.version.as_deref().unwrap_or("–")) }
                            td { (d.environment.as_deref().unwrap_or("–")) }
                            td { (d.agent_id.as_deref().unwrap_or("–")) }
                            td.num { (d.calls) } td.num { (d.failed) }
                            td.mono { (layout::time(d.first_ms)) } td.mono { (layout::time(d.last_ms)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /deployments/{deploymentId}`
pub async fn page(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let wanted = id.clone();
    let answer = read(&state, move |r| {
        let listed = r.call_rows(&CallQuery {
            deployment_id: Some(wanted.clone()),
            limit: LISTED_CALLS,
            ..CallQuery::default()
        })?;
        let logged = r.list_calls(&CallQuery {
            deployment_id: Some(wanted),
            limit: LOGGED_CALLS,
            ..CallQuery::default()
        })?;
        Ok((listed, logged.calls))
    })
    .await;
    let body = match answer {
        Ok((listed, logged)) => body(&id, &listed, &logged),
        Err(e) => html! { div.panel { p.error { (e.to_string()) } } },
    };
    layout::page(
        &format!("Deployment {id}"),
        Nav::Deployments,
        sign_out(&state),
        body,
    )
}

fn body(id: &str, listed: &CallRowPage, logged: &[CallLog]) -> Markup {
    let deployment = logged
        .first()
        .and_then(|l| l.deployment.clone())
        .unwrap_or_default();
    html! {
        div.panel {
            h1 { "Deployment " code { (id) } }
            p {
                @if let Some(v) = &deployment.version { "version " strong { (v) } " · " }
                @if let Some(e) = &deployment.environment { "environment " strong { (e) } " · " }
                a href={ "/?deployment=" (layout::encode(id)) } { "all its calls" }
            }
        }
        div.panel {
            h2 { "Calls" }
            table.calls {
                thead { tr {
                    th { "Start (UTC)" } th { "Call" } th { "Agent" } th { "Deployment" }
                    th { "Status" } th.num { "Duration" } th.num { "Turns" }
                    th.num { "p50 v2v" } th.num { "p95 v2v" } th { "Issues" }
                } }
                tbody { (rows_markup(&listed.rows)) }
            }
            @if listed.rows.is_empty() { p.muted { "No call of this deployment." } }
        }
        div.panel {
            h2 { "Logs of its latest calls" }
            @for log in logged {
                h3 { a href=(layout::call_href(&log.id, &log.trace_id)) { (log.id) } " · " (layout::rfc3339(&log.started_at)) }
                @if log.logs.is_empty() && log.events.is_empty() { p.muted { "No log line or event." } }
                ul.attached {
                    @for e in &log.events {
                        li.event { span.kind { "event" } code { (offset(e.at_ms)) } " " strong { (e.name) }
                            @if let Some(t) = e.turn { " · turn " (t) } }
                    }
                    @for l in &log.logs {
                        li.log { span.kind { (l.level) } code { (offset(l.at_ms)) } " " (l.message)
                            @if let Some(t) = l.turn { " · turn " (t) } }
                    }
                }
            }
        }
    }
}
