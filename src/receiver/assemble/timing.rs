//! The timing model's arithmetic (CONVENTIONS.md section 4): every figure in a call log is an
//! integer number of milliseconds, rounded to nearest; attributes in seconds are × 1000.

use crate::receiver::calllog::TimingSource;
use crate::receiver::span::{Attributes, SpanRecord};

/// Seconds (an attribute value) → integer ms, rounded half away from zero.
pub fn secs_to_ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// Nanoseconds → integer ms, rounded to nearest.
pub fn nanos_to_ms(nanos: u64) -> i64 {
    // In u128: a span of the whole u64 range (bad clocks) must not overflow.
    ((u128::from(nanos) + 500_000) / 1_000_000) as i64
}

/// A signed nanosecond offset (`at - origin`) → integer ms, rounded to nearest.
pub fn offset_ms(at: u64, origin: u64) -> i64 {
    let delta = at as i128 - origin as i128;
    let ms = (delta.abs() + 500_000) / 1_000_000;
    (if delta < 0 { -ms } else { ms }) as i64
}

/// The first attribute of `keys` that holds a number, in ms.
pub fn first_secs(attrs: &Attributes, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| attrs.f64(k)).map(secs_to_ms)
}

/// A stage figure: the first seconds attribute among `keys` (source `ttfb`), else the span's
/// duration (source `duration`).
pub fn stage_figure(span: &SpanRecord, keys: &[&str]) -> (i64, TimingSource) {
    match first_secs(&span.attributes, keys) {
        Some(ms) => (ms, TimingSource::Ttfb),
        None => (nanos_to_ms(span.duration_nanos()), TimingSource::Duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest() {
        assert_eq!(secs_to_ms(0.291106), 291);
        assert_eq!(secs_to_ms(0.1235), 124);
        assert_eq!(secs_to_ms(0.9035), 904);
        assert_eq!(nanos_to_ms(1_499_999), 1);
        assert_eq!(nanos_to_ms(1_500_000), 2);
        assert_eq!(offset_ms(1_000_000_000, 1_200_000_000), -200);
        assert_eq!(offset_ms(2_000_600_000, 1_000_000_000), 1001);
    }
}
