//! Recordings' audio in PostgreSQL ([`SharedRecordings`]): each recording's bytes in
//! `recording_chunks`, [`CHUNK_BYTES`] a row, numbered from 0, written in the transaction that
//! stores its row and read a range at a time (`substring` of the chunks the range covers, so a
//! seek reads only what it plays); and the fleet's shared keys (`shared_keys`).

use tokio::io::AsyncReadExt;

use super::calls::borrowed;
use super::recordings::{insert_params, INSERT};
use super::{client, execute, query_one, query_opt, Postgres};
use crate::receiver::store::{now_ms, RecordingRow, SharedRecordings, StoreError};

/// Bytes of audio in one chunk row: an upload holds one chunk in memory at a time (two with
/// the driver's copy), and a range is served a chunk at a time, so a chunk bounds what a
/// transfer buffers; at 1 MiB a two-hour 16 kHz WAV (230 MB) is 220 rows, few enough that a
/// recording's chunks are one index range, and each row is far below PostgreSQL's 1 GB value
/// limit. (PostgreSQL stores each value in 2 kB TOAST pieces whatever the chunk size, and reads
/// a `substring` of an uncompressed value without the rest, so smaller chunks would not make a
/// range read cheaper, only the table longer.)
pub const CHUNK_BYTES: u64 = 1024 * 1024;

/// The next chunk of `file` (shorter at its end, empty past it).
async fn next_chunk(file: &mut tokio::fs::File) -> Result<Vec<u8>, StoreError> {
    let mut chunk = Vec::with_capacity(CHUNK_BYTES as usize);
    (&mut *file)
        .take(CHUNK_BYTES)
        .read_to_end(&mut chunk)
        .await
        .map_err(StoreError::Audio)?;
    Ok(chunk)
}

/// Where byte `start` of a recording is: its chunk's number and its offset in that chunk.
fn locate(start: u64) -> Result<(i32, u64), StoreError> {
    let seq = i32::try_from(start / CHUNK_BYTES)
        .map_err(|_| StoreError::Audio(std::io::ErrorKind::InvalidInput.into()))?;
    Ok((seq, start % CHUNK_BYTES))
}

impl SharedRecordings for Postgres {
    fn insert_recording_with_audio(
        &self,
        row: &RecordingRow,
        chat_history: Option<&str>,
        audio: std::fs::File,
    ) -> Result<u64, StoreError> {
        let params = insert_params(row, chat_history);
        let (id, expected) = (row.id.clone(), row.bytes);
        self.run(|pool| async move {
            let mut conn = client(&pool).await?;
            let tx = conn.transaction().await?;
            let row = tx.prepare_cached(INSERT).await?;
            tx.execute(&row, &borrowed(&params)).await?;
            let insert = tx
                .prepare_cached("INSERT INTO recording_chunks (id, seq, bytes) VALUES ($1, $2, $3)")
                .await?;
            let mut file = tokio::fs::File::from_std(audio);
            let mut stored = 0;
            for seq in 0_i32.. {
                let chunk = next_chunk(&mut file).await?;
                if chunk.is_empty() {
                    break;
                }
                stored += chunk.len() as u64;
                tx.execute(&insert, &[&id, &seq, &chunk]).await?;
            }
            if stored != expected {
                // Dropped uncommitted: neither the row nor any chunk is stored.
                return Err(StoreError::Audio(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{stored} bytes of audio for a row that says {expected}"),
                )));
            }
            tx.commit().await?;
            Ok(stored)
        })
    }

    fn read_audio(&self, id: &str, start: u64, max: u64) -> Result<Vec<u8>, StoreError> {
        let (seq, offset) = locate(start)?;
        // Both fit an INTEGER: the offset is below a chunk, and so is the length.
        let from = (offset + 1) as i32;
        let count = max.min(CHUNK_BYTES - offset) as i32;
        let id = id.to_owned();
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                "SELECT substring(bytes FROM $3 FOR $4) FROM recording_chunks
                 WHERE id = $1 AND seq = $2",
                &[&id, &seq, &from, &count],
            )
            .await?;
            Ok(row.map(|r| r.get(0)).unwrap_or_default())
        })
    }

    fn delete_audio(&self, id: &str) -> Result<u64, StoreError> {
        let id = id.to_owned();
        self.run(|pool| async move {
            execute(&pool, "DELETE FROM recording_chunks WHERE id = $1", &[&id]).await
        })
    }

    fn delete_unlisted_audio(&self) -> Result<u64, StoreError> {
        self.run(|pool| async move {
            execute(
                &pool,
                "DELETE FROM recording_chunks c WHERE NOT EXISTS (
                     SELECT 1 FROM recordings r WHERE r.id = c.id
                        AND r.media_type IS NOT NULL AND r.removed IS NULL)",
                &[],
            )
            .await
        })
    }

    fn shared_key(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.run(|pool| async move {
            // The first receiver's insert wins; a concurrent one waits for it, then does
            // nothing, and both read back the same key.
            execute(
                &pool,
                "INSERT INTO shared_keys (name, key, created_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &candidate, &now_ms()],
            )
            .await?;
            let row = query_one(
                &pool,
                "SELECT key FROM shared_keys WHERE name = $1",
                &[&name],
            )
            .await?;
            Ok(row.get(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_is_found_in_its_chunk() {
        assert_eq!(locate(0).unwrap(), (0, 0));
        assert_eq!(locate(CHUNK_BYTES - 1).unwrap(), (0, CHUNK_BYTES - 1));
        assert_eq!(locate(CHUNK_BYTES).unwrap(), (1, 0));
        assert_eq!(locate(5 * CHUNK_BYTES + 7).unwrap(), (5, 7));
        assert!(locate(u64::MAX).is_err());
    }
}
