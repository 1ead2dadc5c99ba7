//! Recordings' rows in PostgreSQL: the same rows as SQLite's, shared by the fleet (their audio
//! is beside them in chunks, `audio`).

use tokio_postgres::Row;

use super::calls::{borrowed, Params};
use super::{execute, query, query_one, query_opt, Postgres};
use crate::receiver::calllog::LiveKitJob;
use crate::receiver::store::recordings::{CallNames, RecordingRow};
use crate::receiver::store::StoreError;

const COLUMNS: &str = "id, source, named_call_id, named_trace_id, room_id, job_id, call_id,
    trace_id, media_type, bytes, duration_ms, channels, sample_rate, started_at_ms, received_ms,
    removed";

fn row(r: &Row) -> RecordingRow {
    RecordingRow {
        id: r.get(0),
        source: r.get(1),
        named_call_id: r.get(2),
        named_trace_id: r.get(3),
        room_id: r.get(4),
        job_id: r.get(5),
        call_id: r.get(6),
        trace_id: r.get(7),
        media_type: r.get(8),
        bytes: r.get::<_, i64>(9).max(0) as u64,
        duration_ms: r.get(10),
        channels: r.get::<_, Option<i32>>(11).map(|v| v.max(0) as u32),
        sample_rate: r.get::<_, Option<i32>>(12).map(|v| v.max(0) as u32),
        started_at_ms: r.get(13),
        received_ms: r.get(14),
        removed: r.get(15),
    }
}

/// A PostgreSQL INTEGER from an optional count (larger values saturate).
fn int(value: Option<u32>) -> Option<i32> {
    value.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

/// Inserts a recording's row, with [`insert_params`].
pub(super) const INSERT: &str =
    "INSERT INTO recordings (id, source, named_call_id, named_trace_id, room_id, job_id,
         call_id, trace_id, media_type, bytes, duration_ms, channels, sample_rate,
         started_at_ms, received_ms, removed, chat_history)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// The parameters of [`INSERT`].
pub(super) fn insert_params(r: &RecordingRow, chat_history: Option<&str>) -> Params {
    vec![
        Box::new(r.id.clone()),
        Box::new(r.source.clone()),
        Box::new(r.named_call_id.clone()),
        Box::new(r.named_trace_id.clone()),
        Box::new(r.room_id.clone()),
        Box::new(r.job_id.clone()),
        Box::new(r.call_id.clone()),
        Box::new(r.trace_id.clone()),
        Box::new(r.media_type.clone()),
        Box::new(i64::try_from(r.bytes).unwrap_or(i64::MAX)),
        Box::new(r.duration_ms),
        Box::new(int(r.channels)),
        Box::new(int(r.sample_rate)),
        Box::new(r.started_at_ms),
        Box::new(r.received_ms),
        Box::new(r.removed.clone()),
        Box::new(chat_history.map(str::to_owned)),
    ]
}

impl Postgres {
    /// `SELECT` the recordings' columns `{rest}` with `params`.
    fn select_recordings(
        &self,
        rest: &str,
        params: Params,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM recordings r {rest}");
        self.run(|pool| async move {
            let rows = query(&pool, &sql, &borrowed(&params)).await?;
            Ok(rows.iter().map(row).collect())
        })
    }

    /// A statement that changes rows; returns how many.
    fn change(&self, sql: &'static str, params: Params) -> Result<u64, StoreError> {
        self.run(|pool| async move { execute(&pool, sql, &borrowed(&params)).await })
    }

    pub(super) fn insert_recording(
        &self,
        r: &RecordingRow,
        chat_history: Option<&str>,
    ) -> Result<(), StoreError> {
        self.change(INSERT, insert_params(r, chat_history))?;
        Ok(())
    }

    pub(super) fn recording(&self, id: &str) -> Result<Option<RecordingRow>, StoreError> {
        let rows = self.select_recordings("WHERE id = $1", vec![Box::new(id.to_owned())])?;
        Ok(rows.into_iter().next())
    }

    pub(super) fn call_recording(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<RecordingRow>, StoreError> {
        let rows = self.select_recordings(
            "WHERE call_id = $1 AND trace_id = $2 AND media_type IS NOT NULL
             ORDER BY received_ms DESC, id DESC LIMIT 1",
            vec![Box::new(call_id.to_owned()), Box::new(trace_id.to_owned())],
        )?;
        Ok(rows.into_iter().next())
    }

    pub(super) fn chat_history(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (call_id, trace_id) = (call_id.to_owned(), trace_id.to_owned());
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                "SELECT chat_history FROM recordings
                     WHERE call_id = $1 AND trace_id = $2 AND chat_history IS NOT NULL
                     ORDER BY received_ms DESC, id DESC LIMIT 1",
                &[&call_id, &trace_id],
            )
            .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub(super) fn pending_recordings(&self) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_recordings("WHERE call_id IS NULL ORDER BY received_ms, id", Vec::new())
    }

    pub(super) fn pending_for_call(
        &self,
        call: CallNames<'_>,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        let (room, job) = call
            .livekit
            .map_or((None, None), |l| (l.room_id.clone(), l.job_id.clone()));
        self.select_recordings(
            "WHERE call_id IS NULL AND (
                 (named_call_id = $1 AND (named_trace_id IS NULL OR named_trace_id = $2))
                 OR ($4::TEXT IS NOT NULL AND job_id = $4)
                 OR ($3::TEXT IS NOT NULL AND room_id = $3 AND (job_id IS NULL OR $4 IS NULL)))
             ORDER BY received_ms, id",
            vec![
                Box::new(call.call_id.to_owned()),
                Box::new(call.trace_id.to_owned()),
                Box::new(room),
                Box::new(job),
            ],
        )
    }

    pub(super) fn call_for_recording(
        &self,
        recording: &RecordingRow,
    ) -> Result<Option<(String, String)>, StoreError> {
        let (sql, params): (&'static str, Params) = match &recording.named_call_id {
            Some(call_id) => (
                "SELECT call_id, trace_id FROM calls
                 WHERE call_id = $1 AND ($2::TEXT IS NULL OR trace_id = $2)
                 ORDER BY started_at_ms DESC, trace_id DESC LIMIT 1",
                vec![
                    Box::new(call_id.clone()),
                    Box::new(recording.named_trace_id.clone()),
                ],
            ),
            None => (
                "SELECT l.call_id, l.trace_id FROM livekit_calls l
                 JOIN calls c ON c.call_id = l.call_id AND c.trace_id = l.trace_id
                 WHERE ($2::TEXT IS NOT NULL AND l.job_id = $2)
                    OR ($1::TEXT IS NOT NULL AND l.room_id = $1
                        AND ($2::TEXT IS NULL OR l.job_id IS NULL))
                 ORDER BY c.started_at_ms DESC LIMIT 1",
                vec![
                    Box::new(recording.room_id.clone()),
                    Box::new(recording.job_id.clone()),
                ],
            ),
        };
        self.run(|pool| async move {
            let row = query_opt(&pool, sql, &borrowed(&params)).await?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    pub(super) fn attach_recording(
        &self,
        id: &str,
        call_id: &str,
        trace_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.change(
            "UPDATE recordings SET call_id = $2, trace_id = $3, attached_ms = $4
             WHERE id = $1 AND call_id IS NULL",
            vec![
                Box::new(id.to_owned()),
                Box::new(call_id.to_owned()),
                Box::new(trace_id.to_owned()),
                Box::new(now_ms),
            ],
        )?;
        Ok(changed == 1)
    }

    pub(super) fn note_livekit_call(
        &self,
        call_id: &str,
        trace_id: &str,
        livekit: &LiveKitJob,
    ) -> Result<(), StoreError> {
        self.change(
            "INSERT INTO livekit_calls (call_id, trace_id, room_id, job_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (call_id, trace_id) DO UPDATE SET
                 room_id = excluded.room_id, job_id = excluded.job_id",
            vec![
                Box::new(call_id.to_owned()),
                Box::new(trace_id.to_owned()),
                Box::new(livekit.room_id.clone()),
                Box::new(livekit.job_id.clone()),
            ],
        )?;
        Ok(())
    }

    pub(super) fn recordings_bytes(&self) -> Result<u64, StoreError> {
        self.run(|pool| async move {
            let row = query_one(
                &pool,
                "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM recordings
                     WHERE media_type IS NOT NULL AND removed IS NULL",
                &[],
            )
            .await?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    pub(super) fn orphaned_recordings(
        &self,
        before_ms: i64,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_recordings(
            "WHERE call_id IS NULL AND received_ms < $1 ORDER BY received_ms",
            vec![Box::new(before_ms)],
        )
    }

    pub(super) fn kept_recordings_before(
        &self,
        before_ms: i64,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_recordings(
            "WHERE media_type IS NOT NULL AND removed IS NULL AND received_ms < $1
             ORDER BY received_ms, id",
            vec![Box::new(before_ms)],
        )
    }

    pub(super) fn replaced_recordings(&self) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_recordings(
            "WHERE r.call_id IS NOT NULL AND r.media_type IS NOT NULL AND r.removed IS NULL
               AND EXISTS (SELECT 1 FROM recordings n
                           WHERE n.call_id = r.call_id AND n.trace_id = r.trace_id
                             AND n.media_type IS NOT NULL AND n.removed IS NULL
                             AND (n.received_ms > r.received_ms
                                  OR (n.received_ms = r.received_ms AND n.id > r.id)))",
            Vec::new(),
        )
    }

    pub(super) fn remove_recording_audio(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let changed = self.change(
            "UPDATE recordings SET removed = $2 WHERE id = $1 AND removed IS NULL",
            vec![Box::new(id.to_owned()), Box::new(reason.to_owned())],
        )?;
        Ok(changed == 1)
    }

    pub(super) fn delete_pending_recording(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.change(
            "DELETE FROM recordings WHERE id = $1 AND call_id IS NULL",
            vec![Box::new(id.to_owned())],
        )?;
        Ok(n == 1)
    }

    pub(super) fn kept_recording_ids(&self) -> Result<Vec<String>, StoreError> {
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT id FROM recordings WHERE media_type IS NOT NULL AND removed IS NULL",
                &[],
            )
            .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
