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

/// The figures `turn_figures` holds, a column each, in the table's order.
pub(super) const FIGURE_COLUMNS: [Figure; 7] = [
    Figure::Stt,
    Figure::Endpointing,
    Figure::Llm,
    Figure::Tts,
    Figure::VoiceToVoice,
    Figure::InterruptionDetection,
    Figure::InterruptionStop,
];

/// The columns of [`FIGURE_COLUMNS`], in that order: each figure's name and `_ms`
/// (`figure_columns_are_named_after_their_figures`).
pub(super) const FIGURE_COLUMN_NAMES: &str = "stt_ms, endpointing_ms, llm_ms, tts_ms, \
     voice_to_voice_ms, interruption_detection_ms, interruption_stop_ms";

/// A turn's figures as a row of `turn_figures` holds them: a value or NULL per column of
/// [`FIGURE_COLUMNS`].
pub(super) type FigureRow = [Option<i64>; FIGURE_COLUMNS.len()];

/// A turn's row of `turn_figures`; `None` when it has no figure.
pub(super) fn figure_row(turn: &Turn) -> Option<FigureRow> {
    let mut row = FigureRow::default();
    let mut any = false;
    for (figure, value) in figures(turn) {
        if let Some(i) = FIGURE_COLUMNS.iter().position(|&f| f == figure) {
            row[i] = Some(value);
            any = true;
        }
    }
    any.then_some(row)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_columns_are_named_after_their_figures() {
        let names: Vec<String> = FIGURE_COLUMNS
            .iter()
            .map(|f| format!("{}_ms", f.as_str()))
            .collect();
        assert_eq!(FIGURE_COLUMN_NAMES, names.join(", "));
        assert!(Figure::ALL.iter().all(|f| FIGURE_COLUMNS.contains(f)));
    }
}
