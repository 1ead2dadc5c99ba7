//! Plain-text views of call logs for the terminal: `voicetrace calls` (recent calls, one line
//! each) and `voicetrace call ID` (a call's turns with a small bar per stage and their cost,
//! then the call's cost by model and what had no price).

use std::fmt::Write as _;

use crate::receiver::analyze::issues::format_ms;
use crate::receiver::calllog::{CallLog, Turn};

/// One bar mark stands for this many milliseconds (100 ms: a 1.5 s voice-to-voice budget is 15
/// marks, wide enough to compare turns at a glance).
const BAR_MS_PER_MARK: i64 = 100;
/// Bars are cut at this many marks per stage (4 s), so one pathological stage cannot wrap the
/// line; a cut bar ends in `+`.
const BAR_MAX_MARKS: usize = 40;
/// Turn text is cut at this many characters to keep one turn on one line.
const TEXT_WIDTH: usize = 40;

/// Recent calls as a table: id, agent, started, duration, turns, p95 latency, issues.
pub fn format_calls_table(calls: &[CallLog]) -> String {
    let header = [
        "ID", "AGENT", "STARTED", "DURATION", "TURNS", "P95", "ISSUES",
    ];
    let rows: Vec<Vec<String>> = calls
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.agent_id.clone().unwrap_or_else(|| "-".to_string()),
                short_time(&c.started_at),
                format_duration(c.metrics.total_duration_ms),
                c.turns.len().to_string(),
                c.metrics
                    .p95_turn_latency_ms
                    .map(format_ms)
                    .unwrap_or_else(|| "-".to_string()),
                issue_summary(c),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no calls\n".to_string();
    }
    table(
        &header,
        &rows,
        &[false, false, false, true, true, true, false],
    )
}

/// One call: a header, the per-turn table (speaker, text, sttMs, llmMs, ttsMs, latencyMs, tools,
/// interrupted, and a bar per stage), then its issues.
pub fn format_call(log: &CallLog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "call {}  agent {}  status {}  revision {}",
        log.id,
        log.agent_id.as_deref().unwrap_or("-"),
        log.status.as_str(),
        log.revision
    );
    let _ = writeln!(
        out,
        "started {}  duration {}  turns {}  avg latency {}  p95 latency {}",
        log.started_at,
        format_duration(log.metrics.total_duration_ms),
        log.turns.len(),
        opt_ms(log.metrics.avg_turn_latency_ms),
        opt_ms(log.metrics.p95_turn_latency_ms)
    );
    let _ = writeln!(
        out,
        "trace {}{}",
        log.trace_id,
        log.links
            .trace
            .as_deref()
            .map(|l| format!("  {l}"))
            .unwrap_or_default()
    );
    out.push('\n');

    let header = [
        "#", "SPEAKER", "TEXT", "STT", "LLM", "TTS", "LATENCY", "TOOLS", "INT", "SPEECH", "COST",
        "STAGES",
    ];
    let rows: Vec<Vec<String>> = log
        .turns
        .iter()
        .map(|t| {
            let tools = if t.tools.is_empty() {
                "-".to_string()
            } else {
                t.tools
                    .iter()
                    .map(|tool| tool.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            vec![
                t.index.to_string(),
                t.speaker.as_str().to_string(),
                turn_text(t.user_text.as_deref(), t.text.as_deref()),
                opt_ms_plain(t.stt_ms),
                opt_ms_plain(t.llm_ms),
                opt_ms_plain(t.tts_ms),
                opt_ms_plain(t.latency_ms),
                tools,
                if t.interrupted {
                    "yes"
                } else if t.ended_by_call {
                    "end"
                } else {
                    ""
                }
                .to_string(),
                speech(t),
                turn_cost(log, t.index),
                stage_bars(t.stt_ms, t.llm_ms, t.tts_ms),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no turns\n");
    } else {
        out.push_str(&table(
            &header,
            &rows,
            &[
                true, false, false, true, true, true, true, false, false, false, true, false,
            ],
        ));
        let _ = writeln!(
            out,
            "times in ms; INT: yes = the caller barged in, end = the call ended during the turn; \
             SPEECH: u = caller, a = agent, seconds from the call's start; STAGES: s = STT, \
             l = LLM, t = TTS, one mark per {BAR_MS_PER_MARK} ms"
        );
    }
    out.push_str(&cost_section(log));
    if !log.issues.is_empty() {
        out.push_str("\nissues:\n");
        for issue in &log.issues {
            let place = match (issue.turn, issue.stage) {
                (Some(turn), Some(stage)) => format!("turn {turn} {}", stage.as_str()),
                (Some(turn), None) => format!("turn {turn}"),
                (None, Some(stage)) => stage.as_str().to_string(),
                (None, None) => "call".to_string(),
            };
            let _ = writeln!(out, "  [{}] {place}: {}", issue.kind, issue.description);
            let _ = writeln!(out, "      {}", issue.recommendation);
        }
    }
    out
}

/// A USD amount for a person: four decimals below a cent, two above.
fn usd(amount: f64) -> String {
    if amount != 0.0 && amount.abs() < 0.01 {
        format!("${amount:.4}")
    } else {
        format!("${amount:.2}")
    }
}

/// The turn's cost, `-` when nothing in it was priced.
fn turn_cost(log: &CallLog, index: u32) -> String {
    log.cost
        .as_ref()
        .and_then(|c| c.turns.iter().find(|t| t.index == index))
        .map(|t| usd(t.usd))
        .unwrap_or_else(|| "-".to_string())
}

/// The call's cost: total, by model (with what was priced), and what had no price.
fn cost_section(log: &CallLog) -> String {
    let Some(cost) = &log.cost else {
        return String::new();
    };
    let mut out = String::new();
    let estimated = if cost.estimated {
        ", partly estimated"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\ncost {} at list prices {}{estimated}",
        usd(cost.total_usd),
        cost.prices_version
    );
    for line in &cost.models {
        let named = format!(
            "{} {}/{}",
            line.stage.as_str(),
            line.provider.as_deref().unwrap_or("-"),
            line.model.as_deref().unwrap_or("-")
        );
        let _ = writeln!(out, "  {named:<40} {:>10}", usd(line.usd));
    }
    for miss in &cost.unpriced {
        let _ = writeln!(
            out,
            "  {} {}/{}: unpriced ({})",
            miss.stage.as_str(),
            miss.provider.as_deref().unwrap_or("-"),
            miss.model.as_deref().unwrap_or("-"),
            miss.reason
        );
    }
    out
}

/// `u 0.5-2.0 a 2.8-6.0`: the caller's and the agent's speech, seconds from the call's start
/// (`-` where no span said).
fn speech(turn: &Turn) -> String {
    let secs = |ms: i64| format!("{:.1}", ms as f64 / 1000.0);
    let mut parts = Vec::new();
    if let (Some(from), Some(until)) = (turn.user_start_ms, turn.user_end_ms) {
        parts.push(format!("u {}-{}", secs(from), secs(until)));
    }
    if let (Some(from), Some(until)) = (turn.agent_start_ms, turn.agent_end_ms) {
        parts.push(format!("a {}-{}", secs(from), secs(until)));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

/// `sss lllllll tt`: each stage's time, one mark per [`BAR_MS_PER_MARK`].
fn stage_bars(stt: Option<i64>, llm: Option<i64>, tts: Option<i64>) -> String {
    [(stt, 's'), (llm, 'l'), (tts, 't')]
        .into_iter()
        .filter_map(|(ms, mark)| {
            let ms = ms.filter(|&ms| ms > 0)?;
            // At least one mark for any time at all; round up so 50 ms is visible.
            let marks = ((ms + BAR_MS_PER_MARK - 1) / BAR_MS_PER_MARK) as usize;
            let mut bar: String = std::iter::repeat_n(mark, marks.min(BAR_MAX_MARKS)).collect();
            if marks > BAR_MAX_MARKS {
                bar.push('+');
            }
            Some(bar)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn turn_text(user: Option<&str>, agent: Option<&str>) -> String {
    let text = match (user, agent) {
        (Some(u), Some(a)) => format!("{u} → {a}"),
        (Some(u), None) => u.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => String::new(),
    };
    // One line: newlines and tabs in transcripts would break the table.
    let text: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    truncate(&text, TEXT_WIDTH)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn issue_summary(log: &CallLog) -> String {
    if log.issues.is_empty() {
        return "-".to_string();
    }
    let mut kinds: Vec<&str> = log.issues.iter().map(|i| i.kind.as_str()).collect();
    kinds.dedup();
    let mut unique: Vec<&str> = Vec::new();
    for kind in kinds {
        if !unique.contains(&kind) {
            unique.push(kind);
        }
    }
    format!("{} ({})", log.issues.len(), unique.join(", "))
}

/// `2026-03-21T10:00:00.000Z` → `2026-03-21 10:00:00`.
fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replacen('T', " ", 1);
    let t = t.trim_end_matches('Z');
    match t.split_once('.') {
        Some((whole, _)) => whole.to_string(),
        None => t.to_string(),
    }
}

/// `5m30s`, `12.3s`, `850ms`.
fn format_duration(ms: i64) -> String {
    if ms >= 60_000 {
        let s = ms / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    } else if ms >= 1000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

fn opt_ms(ms: Option<i64>) -> String {
    ms.map(format_ms).unwrap_or_else(|| "-".to_string())
}

fn opt_ms_plain(ms: Option<i64>) -> String {
    ms.map(|ms| ms.to_string())
        .unwrap_or_else(|| "-".to_string())
}

/// Columns padded to their widest cell; `right[i]` right-aligns column i. The last column is
/// not padded (no trailing spaces).
fn table(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i != last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_like_money() {
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.00046), "$0.0005");
        assert_eq!(usd(1.5), "$1.50");
    }

    #[test]
    fn bars_scale_and_cut() {
        assert_eq!(stage_bars(Some(0), Some(250), Some(100)), "lll t");
        assert_eq!(stage_bars(Some(50), None, None), "s");
        let long = stage_bars(None, Some(10_000), None);
        assert_eq!(long.len(), BAR_MAX_MARKS + 1);
        assert!(long.ends_with('+'));
    }

    #[test]
    fn durations_and_text() {
        assert_eq!(format_duration(330_000), "5m30s");
        assert_eq!(format_duration(12_345), "12.3s");
        assert_eq!(format_duration(850), "850ms");
        assert_eq!(
            short_time("2026-03-21T10:00:00.000Z"),
            "2026-03-21 10:00:00"
        );
        let t = turn_text(Some("hi\nthere"), Some(&"x".repeat(100)));
        assert_eq!(t.chars().count(), TEXT_WIDTH);
        assert!(t.starts_with("hi there → x") && t.ends_with('…'));
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["A", "NUM"],
            &[
                vec!["long".to_string(), "1".to_string()],
                vec!["x".to_string(), "200".to_string()],
            ],
            &[false, true],
        );
        assert_eq!(t, "A     NUM\nlong    1\nx     200\n");
    }
}
