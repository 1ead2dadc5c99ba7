//! The run's figures: a human summary and one machine-readable line.

use std::time::Duration;

use crate::args::Protocol;

/// The run's figures.
pub(crate) struct Report {
    pub(crate) protocol: Protocol,
    pub(crate) batch: usize,
    pub(crate) spans_generated: u64,
    pub(crate) calls: u64,
    pub(crate) elapsed: Duration,
    pub(crate) spans_ok: u64,
    pub(crate) requests_ok: u64,
    pub(crate) retried: u64,
    pub(crate) failed_requests: u64,
    pub(crate) lost_spans: u64,
    pub(crate) rejected_spans: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

impl Report {
    pub(crate) fn spans_per_second(&self) -> f64 {
        self.spans_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `loadgen_result` followed by space-separated `key=value` pairs, no spaces in values.
    pub(crate) fn machine_line(&self) -> String {
        format!(
            "loadgen_result protocol={} batch={} spans_generated={} spans_ok={} calls={} requests={} \
             elapsed_s={:.3} spans_per_s={:.0} retried={} failed_requests={} lost_spans={} \
             rejected_spans={} p50_ms={:.3} p99_ms={:.3}",
            match self.protocol {
                Protocol::Grpc => "grpc",
                Protocol::Http => "http",
            },
            self.batch,
            self.spans_generated,
            self.spans_ok,
            self.calls,
            self.requests_ok,
            self.elapsed.as_secs_f64(),
            self.spans_per_second(),
            self.retried,
            self.failed_requests,
            self.lost_spans,
            self.rejected_spans,
            self.p50_ms,
            self.p99_ms,
        )
    }
}

pub(crate) fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted_us[rank]) / 1000.0
}
