//! The database schema and its migrations, versioned with SQLite's `PRAGMA user_version`.
//!
//! Each migration runs once, in its own transaction, and moves `user_version` to its position
//! in [`MIGRATIONS`] (1-based). A migration is never edited once released: a change to the
//! schema is a new entry at the end.

use rusqlite::Connection;

use crate::receiver::journal::Entry;
use crate::receiver::store::StoreError;

/// The migrations, in order. `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
///
/// Version 1:
/// - `call_logs`: every stored revision of every call log (the JSON body plus the columns the
///   queries filter on).
/// - `calls`: the latest revision of each call, for listing newest first.
/// - `sinks`: the sinks the forwarder was started with, and how many entries each delivered
///   (delivered entries leave the outbox, their count stays here).
/// - `outbox`: what each sink still has to deliver. A `Finished` entry points at its call log
///   (`payload` NULL); a live event carries its update as JSON in `payload`. `in_flight` marks an
///   entry claimed by a delivery loop; `next_attempt_ms` is then its lease.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE call_logs (
    call_id       TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    trace_id      TEXT    NOT NULL,
    agent_id      TEXT,
    status        TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    stored_at_ms  INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (call_id, revision)
) WITHOUT ROWID;

CREATE TABLE calls (
    call_id       TEXT    PRIMARY KEY,
    revision      INTEGER NOT NULL,
    agent_id      TEXT,
    status        TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX calls_newest_first ON calls (started_at_ms DESC, call_id DESC);

CREATE TABLE sinks (
    name      TEXT    PRIMARY KEY,
    kind      TEXT    NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sink            TEXT    NOT NULL,
    call_id         TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT,
    dead            INTEGER NOT NULL DEFAULT 0,
    in_flight       INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    enqueued_ms     INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (sink, dead, next_attempt_ms);
CREATE INDEX outbox_per_call ON outbox (sink, call_id, id);
"#,
    // Version 2: the span journal (see `store::journal_table`): what ingest accepted for calls whose
    // call log is not stored yet, one row per trace per request.
    r#"
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id    BLOB    NOT NULL,
    received_ms INTEGER NOT NULL,
    payload     BLOB    NOT NULL
);
CREATE INDEX journal_by_trace ON journal (trace_id);
"#,
    // Version 3: a sink's live entries in id order, so claiming the next due entries walks
    // from the oldest and stops at the limit instead of sorting the whole outbox.
    r#"
CREATE INDEX outbox_live_in_order ON outbox (sink, id) WHERE dead = 0;
"#,
    // Version 4: the journal's rows of a call are found in memory (see `store::journal_table`), so
    // group commits append to the table instead of rewriting random pages of a trace id index.
    r#"
DROP INDEX IF EXISTS journal_by_trace;
"#,
    // Version 5: a call is (call id, trace id). Two traces that share a call id (a LiveKit room
    // name or an app's conversation id reused) are two calls, each with its own revisions; before,
    // the second was stored as a later revision of the first. Existing rows are split by their
    // trace id and renumbered from 1 per trace (bodies and outbox entries follow).
    r#"
CREATE TEMP TABLE renumbered AS
    SELECT call_id, trace_id, revision AS old_revision,
           ROW_NUMBER() OVER (PARTITION BY call_id, trace_id ORDER BY revision) AS revision
    FROM call_logs;

CREATE TABLE call_logs_v5 (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    agent_id      TEXT,
    status        TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    stored_at_ms  INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (call_id, trace_id, revision)
) WITHOUT ROWID;
INSERT INTO call_logs_v5
    SELECT l.call_id, l.trace_id, r.revision, l.agent_id, l.status, l.started_at_ms,
           l.stored_at_ms, json_set(l.body, '$.revision', r.revision)
    FROM call_logs l
    JOIN renumbered r ON r.call_id = l.call_id AND r.old_revision = l.revision;

CREATE TABLE calls_v5 (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    agent_id      TEXT,
    status        TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    PRIMARY KEY (call_id, trace_id)
) WITHOUT ROWID;
INSERT INTO calls_v5
    SELECT l.call_id, l.trace_id, l.revision, l.agent_id, l.status, l.started_at_ms
    FROM call_logs_v5 l
    WHERE l.revision = (SELECT MAX(m.revision) FROM call_logs_v5 m
                        WHERE m.call_id = l.call_id AND m.trace_id = l.trace_id);

ALTER TABLE outbox ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
UPDATE outbox SET
    trace_id = COALESCE((SELECT r.trace_id FROM renumbered r
                         WHERE r.call_id = outbox.call_id AND r.old_revision = outbox.revision), ''),
    revision = COALESCE((SELECT r.revision FROM renumbered r
                         WHERE r.call_id = outbox.call_id AND r.old_revision = outbox.revision),
                        outbox.revision)
    WHERE payload IS NULL;
UPDATE outbox SET trace_id = COALESCE(json_extract(payload, '$.traceId'), '')
    WHERE payload IS NOT NULL;

DROP TABLE calls;
DROP TABLE call_logs;
DROP TABLE renumbered;
ALTER TABLE call_logs_v5 RENAME TO call_logs;
ALTER TABLE calls_v5 RENAME TO calls;
CREATE INDEX calls_newest_first ON calls (started_at_ms DESC, call_id DESC, trace_id DESC);
CREATE INDEX calls_by_id ON calls (call_id, started_at_ms DESC);
"#,
    // Version 6: recordings (see `store::recordings`): what agents uploaded about their calls
    // (audio kept as a file in the data directory, a LiveKit chat history), what each upload
    // named (a call id, or a LiveKit room and job), and the call it was attached to (NULL while
    // its call is not stored yet); `removed` says why its audio is gone (retention, quota, a
    // newer upload). `livekit_calls`: the LiveKit room and job of each stored call, what a
    // LiveKit upload is matched by.
    r#"
CREATE TABLE recordings (
    id             TEXT    PRIMARY KEY,
    source         TEXT    NOT NULL,
    named_call_id  TEXT,
    named_trace_id TEXT,
    room_id        TEXT,
    job_id         TEXT,
    call_id        TEXT,
    trace_id       TEXT,
    media_type     TEXT,
    bytes          INTEGER NOT NULL DEFAULT 0,
    duration_ms    INTEGER,
    channels       INTEGER,
    sample_rate    INTEGER,
    started_at_ms  INTEGER,
    received_ms    INTEGER NOT NULL,
    attached_ms    INTEGER,
    removed        TEXT,
    chat_history   TEXT
) WITHOUT ROWID;
CREATE INDEX recordings_by_call ON recordings (call_id, trace_id, received_ms)
    WHERE call_id IS NOT NULL;
CREATE INDEX recordings_pending ON recordings (received_ms) WHERE call_id IS NULL;
CREATE INDEX recordings_kept ON recordings (received_ms)
    WHERE media_type IS NOT NULL AND removed IS NULL;

CREATE TABLE livekit_calls (
    call_id  TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    room_id  TEXT,
    job_id   TEXT,
    PRIMARY KEY (call_id, trace_id)
) WITHOUT ROWID;
CREATE INDEX livekit_calls_by_job ON livekit_calls (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX livekit_calls_by_room ON livekit_calls (room_id) WHERE room_id IS NOT NULL;
"#,
    // Version 7: what the console lists and filters on, indexed instead of read from every
    // call log body. On `calls`: the deployment, duration, turns, latency percentiles, the
    // slowest turn, interruptions and issue counts (JSON `{type: count}`) of the latest
    // revision. `call_issues`: one row per call and issue type. `call_search` + `call_text`:
    // the transcript in an FTS5 index (rowid = `call_search.id`). `turn_figures`: one row per
    // turn and figure (stt, endpointing, llm, tts, voice_to_voice, interruption latencies) for
    // the fleet's percentiles. `deliveries`: the latest revision each sink received of each
    // call (delivered entries leave the outbox). Existing calls are backfilled from their
    // stored bodies.
    r#"
ALTER TABLE calls ADD COLUMN deployment_id TEXT;
ALTER TABLE calls ADD COLUMN deployment_version TEXT;
ALTER TABLE calls ADD COLUMN deployment_environment TEXT;
ALTER TABLE calls ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN p50_latency_ms INTEGER;
ALTER TABLE calls ADD COLUMN p95_latency_ms INTEGER;
ALTER TABLE calls ADD COLUMN max_latency_ms INTEGER;
ALTER TABLE calls ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN issue_counts TEXT NOT NULL DEFAULT '{}';

UPDATE calls SET (deployment_id, deployment_version, deployment_environment, duration_ms, turns,
                  p50_latency_ms, p95_latency_ms, max_latency_ms, interruptions, issue_counts) =
    (SELECT json_extract(l.body, '$.deployment.id'),
            json_extract(l.body, '$.deployment.version'),
            json_extract(l.body, '$.deployment.environment'),
            COALESCE(json_extract(l.body, '$.metrics.totalDurationMs'), 0),
            COALESCE(json_extract(l.body, '$.metrics.turns'), 0),
            json_extract(l.body, '$.metrics.p50TurnLatencyMs'),
            json_extract(l.body, '$.metrics.p95TurnLatencyMs'),
            (SELECT MAX(json_extract(t.value, '$.latencyMs')) FROM json_each(l.body, '$.turns') t),
            COALESCE(json_extract(l.body, '$.metrics.interruptions'), 0),
            COALESCE((SELECT json_group_object(k, n) FROM
                         (SELECT json_extract(i.value, '$.type') AS k, COUNT(*) AS n
                          FROM json_each(l.body, '$.issues') i GROUP BY k)), '{}')
     FROM call_logs l
     WHERE l.call_id = calls.call_id AND l.trace_id = calls.trace_id
       AND l.revision = calls.revision);
CREATE INDEX calls_by_agent ON calls (agent_id, started_at_ms DESC);
CREATE INDEX calls_by_deployment ON calls (deployment_id, started_at_ms DESC);

CREATE TABLE call_issues (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    agent_id      TEXT,
    started_at_ms INTEGER NOT NULL,
    PRIMARY KEY (call_id, trace_id, type)
) WITHOUT ROWID;
CREATE INDEX call_issues_by_type ON call_issues (type, started_at_ms DESC);
INSERT INTO call_issues (call_id, trace_id, type, count, agent_id, started_at_ms)
    SELECT c.call_id, c.trace_id, j.key, j.value, c.agent_id, c.started_at_ms
    FROM calls c, json_each(c.issue_counts) j;

CREATE TABLE call_search (
    id       INTEGER PRIMARY KEY,
    call_id  TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    UNIQUE (call_id, trace_id)
);
CREATE VIRTUAL TABLE call_text USING fts5(transcript, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO call_search (call_id, trace_id) SELECT call_id, trace_id FROM calls;
INSERT INTO call_text (rowid, transcript)
    SELECT s.id, (SELECT group_concat(COALESCE(json_extract(t.value, '$.userText'), '') || ' ' ||
                                      COALESCE(json_extract(t.value, '$.text'), ''), ' ')
                  FROM json_each(l.body, '$.turns') t)
    FROM call_search s
    JOIN calls c ON c.call_id = s.call_id AND c.trace_id = s.trace_id
    JOIN call_logs l ON l.call_id = c.call_id AND l.trace_id = c.trace_id
                    AND l.revision = c.revision;

CREATE TABLE turn_figures (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    agent_id      TEXT,
    started_at_ms INTEGER NOT NULL,
    turn          INTEGER NOT NULL,
    figure        TEXT    NOT NULL,
    value_ms      INTEGER NOT NULL
);
CREATE INDEX turn_figures_by_time ON turn_figures (started_at_ms);
CREATE INDEX turn_figures_by_call ON turn_figures (call_id, trace_id);
INSERT INTO turn_figures (call_id, trace_id, agent_id, started_at_ms, turn, figure, value_ms)
    SELECT c.call_id, c.trace_id, c.agent_id, c.started_at_ms,
           json_extract(t.value, '$.index'), f.figure, json_extract(t.value, f.path)
    FROM calls c
    JOIN call_logs l ON l.call_id = c.call_id AND l.trace_id = c.trace_id
                    AND l.revision = c.revision
    JOIN json_each(l.body, '$.turns') t
    JOIN (SELECT 'stt' AS figure, '$.sttMs' AS path, '$.timingSource.sttMs' AS present
          UNION ALL SELECT 'endpointing', '$.endpointingMs', '$.endpointingMs'
          UNION ALL SELECT 'llm', '$.llmMs', '$.llmMs'
          UNION ALL SELECT 'tts', '$.ttsMs', '$.ttsMs'
          UNION ALL SELECT 'voice_to_voice', '$.latencyMs', '$.latencyMs'
          UNION ALL SELECT 'interruption_detection', '$.interruption.detectionLatencyMs',
                           '$.interruption.detectionLatencyMs'
          UNION ALL SELECT 'interruption_stop', '$.interruption.stopLatencyMs',
                           '$.interruption.stopLatencyMs') f
    WHERE json_extract(t.value, f.present) IS NOT NULL
      AND json_extract(t.value, f.path) IS NOT NULL;

CREATE TABLE deliveries (
    sink         TEXT    NOT NULL,
    call_id      TEXT    NOT NULL,
    trace_id     TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    delivered_ms INTEGER NOT NULL,
    PRIMARY KEY (sink, call_id, trace_id)
) WITHOUT ROWID;
"#,
    // Version 8: the span journal left the database for segment files of its own (see
    // `receiver::journal::segments`): nothing per span or per trace is stored here any more. Its
    // table is dropped with its freed pages zeroed (`secure_delete`), so that no raw span stays
    // in the file after it (redaction's `store` mode). What it still held (calls in flight when
    // the older receiver stopped) was copied into the journal's files first
    // (`move_journal_out`).
    r#"
PRAGMA secure_delete = ON;
DROP TABLE IF EXISTS journal;
PRAGMA secure_delete = OFF;
"#,
    // Version 9: `turn_figures` holds one row per turn, a column per figure (NULL where the
    // turn has none), instead of one row per turn and figure: storing a call log wrote five
    // to seven rows per turn, each in three B-trees, a tenth of the receiver's CPU at full
    // load. Existing rows are folded into their turn's.
    r#"
CREATE TABLE turn_figures_by_turn (
    call_id                   TEXT    NOT NULL,
    trace_id                  TEXT    NOT NULL,
    agent_id                  TEXT,
    started_at_ms             INTEGER NOT NULL,
    turn                      INTEGER NOT NULL,
    stt_ms                    INTEGER,
    endpointing_ms            INTEGER,
    llm_ms                    INTEGER,
    tts_ms                    INTEGER,
    voice_to_voice_ms         INTEGER,
    interruption_detection_ms INTEGER,
    interruption_stop_ms      INTEGER
);
INSERT INTO turn_figures_by_turn
    SELECT call_id, trace_id, MAX(agent_id), MAX(started_at_ms), turn,
           MAX(CASE figure WHEN 'stt' THEN value_ms END),
           MAX(CASE figure WHEN 'endpointing' THEN value_ms END),
           MAX(CASE figure WHEN 'llm' THEN value_ms END),
           MAX(CASE figure WHEN 'tts' THEN value_ms END),
           MAX(CASE figure WHEN 'voice_to_voice' THEN value_ms END),
           MAX(CASE figure WHEN 'interruption_detection' THEN value_ms END),
           MAX(CASE figure WHEN 'interruption_stop' THEN value_ms END)
    FROM turn_figures GROUP BY call_id, trace_id, turn;
DROP TABLE turn_figures;
ALTER TABLE turn_figures_by_turn RENAME TO turn_figures;
CREATE INDEX turn_figures_by_time ON turn_figures (started_at_ms);
CREATE INDEX turn_figures_by_call ON turn_figures (call_id, trace_id);
"#,
];

/// The version whose migration drops the span journal's table.
const JOURNAL_DROPPED: i64 = 8;

/// Before the migration that drops the span journal's table: copies what the table holds (calls
/// in flight when an older receiver stopped) into the journal's segment files in `data_dir`, so
/// that the next start replays them.
pub fn move_journal_out(conn: &Connection, data_dir: &std::path::Path) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal')",
        [],
        |row| row.get(0),
    )?;
    if current >= JOURNAL_DROPPED || !has_table {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT trace_id, payload FROM journal ORDER BY id")?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<Entry> = rows
        .into_iter()
        // A trace id that is not 16 bytes was not written by voicetrace: left out.
        .filter_map(|(trace, payload)| {
            Some(Entry {
                trace_id: trace.try_into().ok()?,
                payload,
            })
        })
        .collect();
    if !entries.is_empty() {
        crate::receiver::journal::segments::import(data_dir, &entries)?;
        tracing::info!(
            entries = entries.len(),
            "the span journal moved out of the database into its segment files"
        );
    }
    Ok(())
}

/// Brings the database to the latest schema version.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let latest = MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}
