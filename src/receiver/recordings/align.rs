//! Where a call's timeline falls in its recording. A call log's offsets (`startMs`, `endMs`,
//! `atMs`) count from the call's start; a recording counts from its first sample. The two meet
//! at `startOffsetMs`: the position in the audio of the call's time zero, from the recording's
//! start time (LiveKit's header, `X-Recording-Start`) against the call's start. Without a start
//! time the audio is taken to begin with the call. Pure.

/// Where the call's time zero falls in the audio, ms: positive when the recording started
/// before the call, negative when after; 0 when the recording's start is unknown.
pub fn start_offset_ms(call_started_ms: i64, recording_started_ms: Option<i64>) -> i64 {
    recording_started_ms.map_or(0, |r| call_started_ms.saturating_sub(r))
}

/// The position in the audio of a moment `at_ms` into the call; `None` when the recording
/// does not hold it (before its first sample or after its last).
pub fn position_ms(start_offset_ms: i64, at_ms: i64, duration_ms: i64) -> Option<i64> {
    let position = start_offset_ms.saturating_add(at_ms);
    (0..=duration_ms).contains(&position).then_some(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_the_call_start_against_the_recording_start() {
        assert_eq!(start_offset_ms(10_000, Some(8_500)), 1_500);
        assert_eq!(start_offset_ms(10_000, Some(10_250)), -250);
        assert_eq!(start_offset_ms(10_000, None), 0);
    }

    #[test]
    fn a_turn_maps_into_the_audio_or_outside_it() {
        assert_eq!(position_ms(1_500, 2_000, 60_000), Some(3_500));
        assert_eq!(position_ms(-250, 100, 60_000), None);
        assert_eq!(position_ms(-250, 250, 60_000), Some(0));
        assert_eq!(position_ms(0, 60_001, 60_000), None);
    }
}
