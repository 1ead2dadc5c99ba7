//! The API (HTTP router and gRPC `CallLogService`) served on loopback over call logs held in
//! memory, or over a store that fails.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use voicetrace::receiver::api::params::parse_time;
use voicetrace::receiver::api::{router, ApiState, CallReader, FoundCall, ReadError};
use voicetrace::receiver::calllog::{CallLog, CallPage, CallQuery, SameIdCall};
use voicetrace::receiver::metrics::ReceiverMetrics;

use super::net::LOOPBACK;

/// Call logs in memory, listed newest first with an offset cursor (`o:N`).
pub struct MemoryReader {
    pub calls: Vec<CallLog>,
}

impl MemoryReader {
    fn started_ms(log: &CallLog) -> i64 {
        parse_time("startedAt", &log.started_at).unwrap_or(0)
    }
}

impl CallReader for MemoryReader {
    fn get_call(&self, id: &str, trace_id: Option<&str>) -> Result<Option<FoundCall>, ReadError> {
        let mut same: Vec<&CallLog> = self.calls.iter().filter(|c| c.id == id).collect();
        same.sort_by_key(|c| std::cmp::Reverse(Self::started_ms(c)));
        let Some(log) = same
            .iter()
            .find(|c| trace_id.is_none_or(|t| c.trace_id == t))
            .map(|c| (*c).clone())
        else {
            return Ok(None);
        };
        let same_id = same
            .iter()
            .filter(|c| c.trace_id != log.trace_id)
            .map(|c| SameIdCall {
                trace_id: c.trace_id.clone(),
                started_at: c.started_at.clone(),
            })
            .collect();
        Ok(Some(FoundCall { log, same_id }))
    }

    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, ReadError> {
        let offset = match &q.cursor {
            None => 0,
            Some(c) => c
                .strip_prefix("o:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| ReadError::invalid_cursor(format!("'{c}' is not a cursor")))?,
        };
        let mut matching: Vec<&CallLog> = self
            .calls
            .iter()
            .filter(|c| {
                q.agent_id
                    .as_ref()
                    .is_none_or(|a| c.agent_id.as_ref() == Some(a))
            })
            .filter(|c| q.status.is_none_or(|s| c.status == s))
            .filter(|c| q.since_ms.is_none_or(|s| Self::started_ms(c) >= s))
            .filter(|c| q.until_ms.is_none_or(|u| Self::started_ms(c) < u))
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse(Self::started_ms(c)));
        let calls: Vec<CallLog> = matching
            .iter()
            .skip(offset)
            .take(q.limit)
            .map(|c| (*c).clone())
            .collect();
        let end = offset + calls.len();
        let next_cursor = (end < matching.len()).then(|| format!("o:{end}"));
        Ok(CallPage { calls, next_cursor })
    }
}

/// A reader whose store is broken.
pub struct FailingReader {
    pub unavailable: bool,
}

impl CallReader for FailingReader {
    fn get_call(&self, _id: &str, _trace: Option<&str>) -> Result<Option<FoundCall>, ReadError> {
        Err(self.error())
    }

    fn list_calls(&self, _q: &CallQuery) -> Result<CallPage, ReadError> {
        Err(self.error())
    }
}

impl FailingReader {
    fn error(&self) -> ReadError {
        if self.unavailable {
            ReadError::Unavailable("database is locked".to_string())
        } else {
            ReadError::new("disk I/O error")
        }
    }
}

/// A served HTTP API.
pub struct Served {
    pub addr: SocketAddr,
    pub ready: Arc<AtomicBool>,
    pub metrics: ReceiverMetrics,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Serves the HTTP API over `reader` on loopback.
pub async fn serve(reader: Arc<dyn CallReader>, template: Option<&str>) -> Served {
    let metrics = ReceiverMetrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let state = ApiState {
        calls: reader,
        metrics: metrics.clone(),
        trace_url_template: template.map(str::to_string),
        ready: ready.clone(),
        recordings: None,
    };
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    Served {
        addr,
        ready,
        metrics,
    }
}
