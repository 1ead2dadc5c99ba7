//! `voicetrace sinks`: each sink's delivery counts as a table.

use crate::receiver::store::SinkStats;

/// One row per sink: name, kind, delivered, pending, retrying, dead.
pub fn format_sink_stats(stats: &[SinkStats]) -> String {
    if stats.is_empty() {
        return "no sinks\n".to_string();
    }
    let header = ["SINK", "KIND", "DELIVERED", "PENDING", "RETRYING", "DEAD"];
    let rows: Vec<[String; 6]> = stats
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.kind.clone(),
                s.delivered.to_string(),
                s.pending.to_string(),
                s.retrying.to_string(),
                s.dead.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            // Names left-aligned, counts right-aligned.
            if i < 2 {
                text.push_str(&format!("{cell:<w$}"));
            } else {
                text.push_str(&format!("{cell:>w$}"));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_aligned_counts() {
        let text = format_sink_stats(&[
            SinkStats {
                name: "cekura".into(),
                kind: "cekura".into(),
                delivered: 1200,
                pending: 3,
                retrying: 1,
                dead: 0,
            },
            SinkStats {
                name: "ops-webhook".into(),
                kind: "webhook".into(),
                delivered: 7,
                pending: 0,
                retrying: 0,
                dead: 2,
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "SINK         KIND     DELIVERED  PENDING  RETRYING  DEAD"
        );
        assert_eq!(
            lines[1],
            "cekura       cekura        1200        3         1     0"
        );
        assert_eq!(
            lines[2],
            "ops-webhook  webhook          7        0         0     2"
        );
        assert_eq!(format_sink_stats(&[]), "no sinks\n");
    }
}
