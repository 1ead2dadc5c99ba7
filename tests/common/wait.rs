//! Waiting for a condition with a deadline, never a fixed sleep: a condition that something
//! signals is awaited ([`within`]); one that nothing signals (a store count, a file, a peer's
//! log) is polled ([`wait_for`], [`wait_for_blocking`]) until it holds or the deadline passes,
//! and the test then fails naming what it waited for.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long any single wait may take. Generous (the tests share two cores with other builds,
/// and rotel's retries or Prometheus's scrapes take seconds); a wait that reaches it fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Between two polls of a condition nothing signals: short next to what the tests wait for,
/// long enough not to spin.
const POLL: Duration = Duration::from_millis(10);

/// Awaits `future` for up to [`DEADLINE`]; panics naming `what` when it does not finish.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}

/// Polls `check` until it yields a value, up to [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `done` until it holds, up to [`DEADLINE`].
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    wait_for(what, || {
        let holds = done();
        async move { holds.then_some(()) }
    })
    .await
}

/// [`wait_for`] for a test thread outside any runtime (or inside `block_in_place`).
pub fn wait_for_blocking<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}
