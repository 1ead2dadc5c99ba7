//! What the console's indexes hold of a call's latest revision, computed once for every backend:
//! its transcript (searched), its issue types with their counts, and each turn's figures.

use std::collections::BTreeMap;

use crate::receiver::calllog::{CallLog, Turn};
use crate::receiver::query::Figure;

/// Every user and agent text of the call, one after the other.
pub(super) fn transcript(log: &CallLog) -> String {
    log.turns
        .iter()
        .flat_map(|t| [t.user_text.as_deref(), t.text.as_deref()])
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issue types and how many of each, by type.
pub(super) fn issue_counts(log: &CallLog) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for issue in &log.issues {
        *counts.entry(issue.kind.clone()).or_insert(0) += 1;
    }
    counts
}

/// The figures a turn has: `sttMs` only where it was read (0 stands for "no STT" on a
/// greeting), the others where present.
pub(super) fn figures(turn: &Turn) -> Vec<(Figure, i64)> {
    let stt = turn
        .stt_ms
        .filter(|_| turn.timing_source.contains_key("sttMs"));
    let interruption = turn.interruption.as_ref();
    [
        (Figure::Stt, stt),
        (Figure::Endpointing, turn.endpointing_ms),
        (Figure::Llm, turn.llm_ms),
        (Figure::Tts, turn.tts_ms),
        (Figure::VoiceToVoice, turn.latency_ms),
        (
            Figure::InterruptionDetection,
            interruption.and_then(|i| i.detection_latency_ms),
        ),
        (
            Figure::InterruptionStop,
            interruption.and_then(|i| i.stop_latency_ms),
        ),
    ]
    .into_iter()
    .filter_map(|(f, v)| Some((f, v?)))
    .collect()
}
