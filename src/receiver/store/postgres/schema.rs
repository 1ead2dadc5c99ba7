//! The PostgreSQL schema and its migrations, versioned in `voicetrace_schema`.
//!
//! Each migration runs once, in its own transaction, under an advisory lock, so that receivers
//! starting together migrate one after the other. A migration is never edited once released: a
//! change is a new entry at the end.

use deadpool_postgres::Object;

use crate::receiver::store::StoreError;

/// The advisory lock every receiver takes to migrate (any constant: it only has to be the same
/// for every voicetrace).
const MIGRATION_LOCK: i64 = 0x766f_6963_6574_7261;

/// The migrations, in order. `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
///
/// Version 1: the tables of the SQLite store at its version 8, in PostgreSQL's types: call
/// logs and the latest revision of each call with the console's columns (`calls`, its
/// transcript as a `tsvector`), issue types, per-turn figures, sinks, the outbox (a claim is
/// `claimed_by` + `lease_until_ms` instead of SQLite's `in_flight`), deliveries, recordings
/// and LiveKit's room and job per call.
///
/// Version 2: recordings' audio in the database, so that any receiver serves any recording:
/// `recording_chunks` (one row per `audio::CHUNK_BYTES` of a recording, deleted with its
/// recording's row; stored uncompressed, `STORAGE EXTERNAL`: audio formats are compressed
/// already, and an uncompressed value lets `substring` read a range of it without reading the
/// rest), and `shared_keys` (the recordings' link key, one for the fleet).
///
/// Version 3: call logs by the time they were stored, for the listener's catch-up after a
/// reconnection (`notify`), which otherwise reads the whole table.
///
/// Version 4: `turn_figures` holds one row per turn, a column per figure (NULL where the
/// turn has none), as the SQLite store's version 9: a call log's figures are one row per
/// turn to write instead of five to seven. Existing rows are folded into their turn's.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE call_logs (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    agent_id      TEXT,
    status        TEXT    NOT NULL,
    started_at_ms BIGINT  NOT NULL,
    stored_at_ms  BIGINT  NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (call_id, trace_id, revision)
);

CREATE TABLE calls (
    call_id                TEXT    NOT NULL,
    trace_id               TEXT    NOT NULL,
    revision               INTEGER NOT NULL,
    agent_id               TEXT,
    status                 TEXT    NOT NULL,
    started_at_ms          BIGINT  NOT NULL,
    deployment_id          TEXT,
    deployment_version     TEXT,
    deployment_environment TEXT,
    duration_ms            BIGINT  NOT NULL DEFAULT 0,
    turns                  BIGINT  NOT NULL DEFAULT 0,
    p50_latency_ms         BIGINT,
    p95_latency_ms         BIGINT,
    max_latency_ms         BIGINT,
    interruptions          BIGINT  NOT NULL DEFAULT 0,
    issue_counts           TEXT    NOT NULL DEFAULT '{}',
    transcript             TSVECTOR,
    PRIMARY KEY (call_id, trace_id)
);
CREATE INDEX calls_newest_first ON calls (started_at_ms DESC, call_id DESC, trace_id DESC);
CREATE INDEX calls_by_id ON calls (call_id, started_at_ms DESC);
CREATE INDEX calls_by_agent ON calls (agent_id, started_at_ms DESC);
CREATE INDEX calls_by_deployment ON calls (deployment_id, started_at_ms DESC);
CREATE INDEX calls_by_text ON calls USING GIN (transcript);

CREATE TABLE call_issues (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    count         BIGINT  NOT NULL,
    agent_id      TEXT,
    started_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (call_id, trace_id, type)
);
CREATE INDEX call_issues_by_type ON call_issues (type, started_at_ms DESC);

CREATE TABLE turn_figures (
    call_id       TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    agent_id      TEXT,
    started_at_ms BIGINT  NOT NULL,
    turn          BIGINT  NOT NULL,
    figure        TEXT    NOT NULL,
    value_ms      BIGINT  NOT NULL
);
CREATE INDEX turn_figures_by_time ON turn_figures (started_at_ms);
CREATE INDEX turn_figures_by_call ON turn_figures (call_id, trace_id);

CREATE TABLE sinks (
    name      TEXT    PRIMARY KEY,
    kind      TEXT    NOT NULL,
    delivered BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    sink            TEXT    NOT NULL,
    call_id         TEXT    NOT NULL,
    trace_id        TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT,
    dead            BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_by      TEXT,
    lease_until_ms  BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_ms      BIGINT  NOT NULL,
    enqueued_ms     BIGINT  NOT NULL,
    next_attempt_ms BIGINT  NOT NULL,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_live_in_order ON outbox (sink, id) WHERE NOT dead;
CREATE INDEX outbox_per_call ON outbox (sink, call_id, trace_id, id);
CREATE INDEX outbox_claimed ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE deliveries (
    sink         TEXT    NOT NULL,
    call_id      TEXT    NOT NULL,
    trace_id     TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    delivered_ms BIGINT  NOT NULL,
    PRIMARY KEY (sink, call_id, trace_id)
);

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
    bytes          BIGINT  NOT NULL DEFAULT 0,
    duration_ms    BIGINT,
    channels       INTEGER,
    sample_rate    INTEGER,
    started_at_ms  BIGINT,
    received_ms    BIGINT  NOT NULL,
    attached_ms    BIGINT,
    removed        TEXT,
    chat_history   TEXT
);
CREATE INDEX recordings_by_call ON recordings (call_id, trace_id, received_ms)
    WHERE call_id IS NOT NULL;
CREATE INDEX recordings_pending ON recordings (received_ms) WHERE call_id IS NULL;

CREATE TABLE livekit_calls (
    call_id  TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    room_id  TEXT,
    job_id   TEXT,
    PRIMARY KEY (call_id, trace_id)
);
CREATE INDEX livekit_calls_by_job ON livekit_calls (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX livekit_calls_by_room ON livekit_calls (room_id) WHERE room_id IS NOT NULL;
"#,
    r#"
CREATE TABLE recording_chunks (
    id    TEXT    NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq   INTEGER NOT NULL,
    bytes BYTEA   NOT NULL,
    PRIMARY KEY (id, seq)
);
ALTER TABLE recording_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE shared_keys (
    name       TEXT   PRIMARY KEY,
    key        BYTEA  NOT NULL,
    created_ms BIGINT NOT NULL
);
"#,
    r#"
CREATE INDEX call_logs_by_stored ON call_logs (stored_at_ms);
"#,
    r#"
CREATE TABLE turn_figures_by_turn (
    call_id                   TEXT    NOT NULL,
    trace_id                  TEXT    NOT NULL,
    agent_id                  TEXT,
    started_at_ms             BIGINT  NOT NULL,
    turn                      BIGINT  NOT NULL,
    stt_ms                    BIGINT,
    endpointing_ms            BIGINT,
    llm_ms                    BIGINT,
    tts_ms                    BIGINT,
    voice_to_voice_ms         BIGINT,
    interruption_detection_ms BIGINT,
    interruption_stop_ms      BIGINT
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

/// The schema version of the database (0 before the first migration).
pub async fn version(client: &Object) -> Result<i64, StoreError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'voicetrace_schema')",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM voicetrace_schema",
            &[],
        )
        .await?;
    Ok(row.get::<_, i32>(0) as i64)
}

/// Brings the database to the latest schema version.
pub async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS voicetrace_schema (
             version    INTEGER PRIMARY KEY,
             applied_ms BIGINT  NOT NULL
         )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM voicetrace_schema",
            &[],
        )
        .await?
        .get::<_, i32>(0) as i64;
    let latest = MIGRATIONS.len() as i64;
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO voicetrace_schema (version, applied_ms) VALUES ($1, $2)",
            &[&version, &crate::receiver::store::now_ms()],
        )
        .await?;
        tracing::info!(version, "postgres store schema migrated");
    }
    tx.commit().await?;
    Ok(())
}
