//! The console's reads as plain queries and plain rows, behind one interface
//! ([`ConsoleReader`]) that a store implements: no SQL and no SQLite type crosses it, so a
//! second backend (PostgreSQL) answers the same structs. The JSON API's reads are
//! [`crate::receiver::api::CallReader`]; the console reads through both.
//!
//! Filters of the calls list are [`CallQuery`]'s; this module adds the rows the list shows
//! ([`CallRow`]), a call's delivery state per sink ([`Delivery`]), the fleet's aggregates
//! ([`FleetQuery`] → [`Fleet`]) and the deployments ([`DeploymentRow`]).

use crate::receiver::api::{CallReader, ReadError};
use crate::receiver::calllog::{CallQuery, CallStatus};
use crate::receiver::store::SinkStats;

/// One call of the list, at a glance: only what the list shows (no call log body is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// The call id.
    pub call_id: String,
    /// The trace id.
    pub trace_id: String,
    /// The agent.
    pub agent_id: Option<String>,
    /// `deployment.id`.
    pub deployment_id: Option<String>,
    /// How it ended.
    pub status: CallStatus,
    /// Start, Unix ms.
    pub started_at_ms: i64,
    /// `metrics.totalDurationMs`.
    pub duration_ms: i64,
    /// Number of turns.
    pub turns: u32,
    /// Median voice-to-voice latency.
    pub p50_latency_ms: Option<i64>,
    /// 95th percentile voice-to-voice latency.
    pub p95_latency_ms: Option<i64>,
    /// Turns the caller interrupted.
    pub interruptions: u32,
    /// Issues by type and how many of each, by type.
    pub issues: Vec<(String, u32)>,
}

/// One page of the list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallRowPage {
    /// The rows.
    pub rows: Vec<CallRow>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Where one call stands with one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// The sink received the call (its latest delivered revision is given beside).
    Delivered,
    /// Waiting for a first attempt.
    Pending,
    /// Failed at least once; will be tried again.
    Retrying,
    /// Parked as a dead letter.
    Dead,
    /// Nothing was ever queued for this sink (it did not want the call, or was added later).
    NotSent,
}

impl DeliveryState {
    /// As the console writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Dead => "dead",
            DeliveryState::NotSent => "not sent",
        }
    }
}

/// A call's delivery to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The sink's name.
    pub sink: String,
    /// Its kind.
    pub kind: String,
    /// The worst state of the call's entries (dead, then retrying, then pending), else
    /// delivered when the sink received it.
    pub state: DeliveryState,
    /// The latest revision the sink received.
    pub delivered_revision: Option<u32>,
    /// The last error of an entry still in the outbox.
    pub last_error: Option<String>,
}

/// A per-turn figure the fleet aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// `sttMs`.
    Stt,
    /// `endpointingMs`.
    Endpointing,
    /// `llmMs`.
    Llm,
    /// `ttsMs`.
    Tts,
    /// `latencyMs`.
    VoiceToVoice,
    /// The interruption's detection latency.
    InterruptionDetection,
    /// The interruption's stop latency.
    InterruptionStop,
}

impl Figure {
    /// Every figure, in the order the fleet shows them.
    pub const ALL: [Figure; 7] = [
        Figure::VoiceToVoice,
        Figure::Stt,
        Figure::Endpointing,
        Figure::Llm,
        Figure::Tts,
        Figure::InterruptionDetection,
        Figure::InterruptionStop,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::Stt => "stt",
            Figure::Endpointing => "endpointing",
            Figure::Llm => "llm",
            Figure::Tts => "tts",
            Figure::VoiceToVoice => "voice_to_voice",
            Figure::InterruptionDetection => "interruption_detection",
            Figure::InterruptionStop => "interruption_stop",
        }
    }
}

/// The fleet over a time window, in buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetQuery {
    /// Window start, Unix ms.
    pub since_ms: i64,
    /// Window end (exclusive), Unix ms.
    pub until_ms: i64,
    /// Bucket width, ms (> 0).
    pub bucket_ms: i64,
    /// Only this agent.
    pub agent_id: Option<String>,
}

impl FleetQuery {
    /// The bucket a time falls in (0-based from `since_ms`).
    pub fn bucket_of(&self, at_ms: i64) -> i64 {
        (at_ms - self.since_ms).div_euclid(self.bucket_ms.max(1))
    }

    /// How many buckets the window holds.
    pub fn buckets(&self) -> i64 {
        let width = self.bucket_ms.max(1);
        ((self.until_ms - self.since_ms).max(0) + width - 1) / width
    }
}

/// Count and percentiles of one figure of one agent in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigurePoint {
    /// The agent.
    pub agent_id: Option<String>,
    /// The figure.
    pub figure: Figure,
    /// The bucket (0-based from the window's start).
    pub bucket: i64,
    /// Turns with the figure.
    pub count: u64,
    /// Median (nearest rank).
    pub p50: Option<i64>,
    /// 95th percentile (nearest rank).
    pub p95: Option<i64>,
}

/// Calls of one agent that started in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    /// The agent.
    pub agent_id: Option<String>,
    /// The bucket.
    pub bucket: i64,
    /// Calls.
    pub calls: u64,
    /// Of which failed.
    pub failed: u64,
}

/// Issues of one type over one agent's calls in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCount {
    /// The agent.
    pub agent_id: Option<String>,
    /// The issue type.
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// Turns and interrupted turns of one agent over the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCount {
    /// The agent.
    pub agent_id: Option<String>,
    /// Turns.
    pub turns: u64,
    /// Turns the caller interrupted.
    pub interrupted: u64,
}

/// What the fleet page draws.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fleet {
    /// Per agent, figure and bucket (no point for an empty bucket).
    pub points: Vec<FigurePoint>,
    /// Per agent and figure over the whole window (`bucket` is -1).
    pub totals: Vec<FigurePoint>,
    /// Calls per agent and bucket.
    pub calls: Vec<CallCount>,
    /// Issues per agent and type.
    pub issues: Vec<IssueCount>,
    /// Turns per agent.
    pub turns: Vec<TurnCount>,
    /// The window held more per-turn figures than one answer reads; the figures are of the
    /// newest part.
    pub truncated: bool,
}

/// One deployment: the calls whose root's resource named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    /// `deployment.id`.
    pub id: Option<String>,
    /// `service.version`.
    pub version: Option<String>,
    /// The environment.
    pub environment: Option<String>,
    /// The agent.
    pub agent_id: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Of which failed.
    pub failed: u64,
    /// First call's start, Unix ms.
    pub first_ms: i64,
    /// Last call's start, Unix ms.
    pub last_ms: i64,
}

/// The console's reads. The store implements it; every method blocks (run it on the blocking
/// pool).
pub trait ConsoleReader: CallReader {
    /// One page of rows matching the query, newest first.
    fn call_rows(&self, q: &CallQuery) -> Result<CallRowPage, ReadError>;
    /// The call's delivery state with every known sink, by sink name.
    fn deliveries(&self, call_id: &str, trace_id: &str) -> Result<Vec<Delivery>, ReadError>;
    /// The fleet's aggregates over a window.
    fn fleet(&self, q: &FleetQuery) -> Result<Fleet, ReadError>;
    /// The deployments seen, most recently active first (at most `limit`).
    fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRow>, ReadError>;
    /// The agents seen, by name.
    fn agents(&self) -> Result<Vec<String>, ReadError>;
    /// Each sink's delivery counts.
    fn sinks(&self) -> Result<Vec<SinkStats>, ReadError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_have_names_of_their_own() {
        let names: std::collections::BTreeSet<&str> = Figure::ALL.map(Figure::as_str).into();
        assert_eq!(names.len(), Figure::ALL.len());
    }

    #[test]
    fn buckets_count_from_the_windows_start() {
        let q = FleetQuery {
            since_ms: 1000,
            until_ms: 4500,
            bucket_ms: 1000,
            agent_id: None,
        };
        assert_eq!(q.buckets(), 4);
        assert_eq!(q.bucket_of(1000), 0);
        assert_eq!(q.bucket_of(1999), 0);
        assert_eq!(q.bucket_of(4499), 3);
    }
}
