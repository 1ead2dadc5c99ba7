//! Recordings' metadata (their bytes are files: `crate::receiver::recordings`): what each upload
//! named, the call it belongs to once that call is stored, what the file's header said, and
//! whether its audio is still kept. Plain types in and out, so that another backend can keep
//! the same rows (and the bytes beside them).
//!
//! An upload names a call by its call id (and perhaps trace id), or, from LiveKit, by room and
//! job; it is *pending* until a call it names is stored, then *attached* to that call. A call's
//! recording is its latest attached upload with audio.

use rusqlite::{params, OptionalExtension, Row};

use super::Sqlite;
use crate::receiver::calllog::LiveKitJob;
use crate::receiver::store::recordings::{CallNames, RecordingRow};
use crate::receiver::store::StoreError;

const COLUMNS: &str = "id, source, named_call_id, named_trace_id, room_id, job_id, call_id,
    trace_id, media_type, bytes, duration_ms, channels, sample_rate, started_at_ms, received_ms,
    removed";

/// The statement of [`Sqlite::call_recording`] (run for every call log stored).
pub(super) fn call_recording_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM recordings
         WHERE call_id = ?1 AND trace_id = ?2 AND media_type IS NOT NULL
         ORDER BY received_ms DESC, id DESC LIMIT 1"
    )
}

/// The statement of [`Sqlite::pending_for_call`] (run for every call log stored).
pub(super) fn pending_for_call_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM recordings
         WHERE call_id IS NULL AND (
             (named_call_id = ?1 AND (named_trace_id IS NULL OR named_trace_id = ?2))
             OR (?4 IS NOT NULL AND job_id = ?4)
             OR (?3 IS NOT NULL AND room_id = ?3 AND (job_id IS NULL OR ?4 IS NULL)))
         ORDER BY received_ms, id"
    )
}

fn row(r: &Row<'_>) -> rusqlite::Result<RecordingRow> {
    Ok(RecordingRow {
        id: r.get(0)?,
        source: r.get(1)?,
        named_call_id: r.get(2)?,
        named_trace_id: r.get(3)?,
        room_id: r.get(4)?,
        job_id: r.get(5)?,
        call_id: r.get(6)?,
        trace_id: r.get(7)?,
        media_type: r.get(8)?,
        bytes: r.get::<_, i64>(9)?.max(0) as u64,
        duration_ms: r.get(10)?,
        channels: r.get(11)?,
        sample_rate: r.get(12)?,
        started_at_ms: r.get(13)?,
        received_ms: r.get(14)?,
        removed: r.get(15)?,
    })
}

impl Sqlite {
    /// Stores a new recording's row (pending, or attached if `row.call_id` is set), with the
    /// LiveKit chat history when the upload had one.
    pub fn insert_recording(
        &self,
        row: &RecordingRow,
        chat_history: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.execute(
            &format!(
                "INSERT INTO recordings ({COLUMNS}, chat_history)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ),
            params![
                row.id,
                row.source,
                row.named_call_id,
                row.named_trace_id,
                row.room_id,
                row.job_id,
                row.call_id,
                row.trace_id,
                row.media_type,
                i64::try_from(row.bytes).unwrap_or(i64::MAX),
                row.duration_ms,
                row.channels,
                row.sample_rate,
                row.started_at_ms,
                row.received_ms,
                row.removed,
                chat_history,
            ],
        )?;
        Ok(())
    }

    /// One recording's row.
    pub fn recording(&self, id: &str) -> Result<Option<RecordingRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM recordings WHERE id = ?1"))?;
        Ok(stmt.query_row(params![id], row).optional()?)
    }

    /// A call's recording: its latest attached upload with audio (kept or removed: a removed
    /// one is answered "gone").
    pub fn call_recording(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<RecordingRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&call_recording_sql())?;
        Ok(stmt.query_row(params![call_id, trace_id], row).optional()?)
    }

    /// A call's latest LiveKit chat history (JSON as uploaded).
    pub fn chat_history(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT chat_history FROM recordings
             WHERE call_id = ?1 AND trace_id = ?2 AND chat_history IS NOT NULL
             ORDER BY received_ms DESC, id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![call_id, trace_id], |r| r.get(0))
            .optional()?)
    }

    /// Every pending upload, oldest first.
    pub fn pending_recordings(&self) -> Result<Vec<RecordingRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE call_id IS NULL ORDER BY received_ms, id"
        ))?;
        let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The pending uploads that name this call, oldest first: by call id (and trace id, when
    /// the upload gave one), or by LiveKit job (by room when either side has no job).
    pub fn pending_for_call(&self, call: CallNames<'_>) -> Result<Vec<RecordingRow>, StoreError> {
        let (room, job) = call.livekit.map_or((None, None), |l| {
            (l.room_id.as_deref(), l.job_id.as_deref())
        });
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&pending_for_call_sql())?;
        let rows = stmt
            .query_map(params![call.call_id, call.trace_id, room, job], row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The stored call an upload names, if one is: (call id, trace id) of the most recent
    /// call with the named call id (and trace id), else of the call of the named LiveKit job
    /// (or room, when the upload names no job).
    pub fn call_for_recording(
        &self,
        recording: &RecordingRow,
    ) -> Result<Option<(String, String)>, StoreError> {
        let conn = self.lock()?;
        if let Some(call_id) = &recording.named_call_id {
            let mut stmt = conn.prepare_cached(
                "SELECT call_id, trace_id FROM calls
                 WHERE call_id = ?1 AND (?2 IS NULL OR trace_id = ?2)
                 ORDER BY started_at_ms DESC, trace_id DESC LIMIT 1",
            )?;
            return Ok(stmt
                .query_row(params![call_id, recording.named_trace_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT l.call_id, l.trace_id FROM livekit_calls l
             JOIN calls c ON c.call_id = l.call_id AND c.trace_id = l.trace_id
             WHERE (?2 IS NOT NULL AND l.job_id = ?2)
                OR (?1 IS NOT NULL AND l.room_id = ?1 AND (?2 IS NULL OR l.job_id IS NULL))
             ORDER BY c.started_at_ms DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![recording.room_id, recording.job_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Attaches a pending upload to a call; `false` when it is no longer pending (attached
    /// already, or removed).
    pub fn attach_recording(
        &self,
        id: &str,
        call_id: &str,
        trace_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        let changed = conn.execute(
            "UPDATE recordings SET call_id = ?2, trace_id = ?3, attached_ms = ?4
             WHERE id = ?1 AND call_id IS NULL",
            params![id, call_id, trace_id, now_ms],
        )?;
        Ok(changed == 1)
    }

    /// Remembers a stored call's LiveKit room and job, so that an upload naming them finds it.
    pub fn note_livekit_call(
        &self,
        call_id: &str,
        trace_id: &str,
        livekit: &LiveKitJob,
    ) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.prepare_cached(
            "INSERT INTO livekit_calls (call_id, trace_id, room_id, job_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (call_id, trace_id) DO UPDATE SET
                 room_id = excluded.room_id, job_id = excluded.job_id",
        )?
        .execute(params![call_id, trace_id, livekit.room_id, livekit.job_id])?;
        Ok(())
    }

    /// Bytes of audio kept, over all recordings.
    pub fn recordings_bytes(&self) -> Result<u64, StoreError> {
        let conn = self.lock()?;
        let total: i64 = conn.query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM recordings
             WHERE media_type IS NOT NULL AND removed IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(total.max(0) as u64)
    }

    /// Pending uploads received before `before_ms`: they named no call in time.
    pub fn orphaned_recordings(&self, before_ms: i64) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_rows(
            "WHERE call_id IS NULL AND received_ms < ?1 ORDER BY received_ms",
            before_ms,
        )
    }

    /// Recordings whose audio is kept, oldest first, received before `before_ms`.
    pub fn kept_recordings_before(&self, before_ms: i64) -> Result<Vec<RecordingRow>, StoreError> {
        self.select_rows(
            "WHERE media_type IS NOT NULL AND removed IS NULL AND received_ms < ?1
             ORDER BY received_ms, id",
            before_ms,
        )
    }

    /// Attached recordings whose call has a newer attached recording with audio: replaced.
    pub fn replaced_recordings(&self) -> Result<Vec<RecordingRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM recordings r
             WHERE r.call_id IS NOT NULL AND r.media_type IS NOT NULL AND r.removed IS NULL
               AND EXISTS (SELECT 1 FROM recordings n
                           WHERE n.call_id = r.call_id AND n.trace_id = r.trace_id
                             AND n.media_type IS NOT NULL AND n.removed IS NULL
                             AND (n.received_ms > r.received_ms
                                  OR (n.received_ms = r.received_ms AND n.id > r.id)))"
        ))?;
        let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn select_rows(&self, clause: &str, value: i64) -> Result<Vec<RecordingRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM recordings {clause}"))?;
        let rows = stmt
            .query_map(params![value], row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Marks a recording's audio as gone, for `reason`, keeping its row (a call log that
    /// points at it is answered "gone", and its chat history stays).
    pub fn remove_recording_audio(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        let changed = conn.execute(
            "UPDATE recordings SET removed = ?2 WHERE id = ?1 AND removed IS NULL",
            params![id, reason],
        )?;
        Ok(changed == 1)
    }

    /// Deletes a pending recording's row; `false` when it was attached meanwhile.
    pub fn delete_pending_recording(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        Ok(conn.execute(
            "DELETE FROM recordings WHERE id = ?1 AND call_id IS NULL",
            params![id],
        )? == 1)
    }

    /// The ids of every recording whose audio is kept (the files that must exist).
    pub fn kept_recording_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT id FROM recordings WHERE media_type IS NOT NULL AND removed IS NULL",
        )?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}
