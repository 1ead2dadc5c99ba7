//! Sending: one client per connection (a gRPC channel or an HTTP connection pool), retrying
//! what the receiver asks to retry with backoff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::mpsc;

use crate::args::{Options, Protocol};
use crate::traffic::request;

/// First backoff after a "retry later" answer; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Backoff ceiling: a restarted receiver is back within a second or two.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the senders saw, shared between them.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) spans_ok: AtomicU64,
    pub(crate) requests_ok: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) lost_spans: AtomicU64,
    pub(crate) rejected_spans: AtomicU64,
}

/// One attempt's outcome.
enum Outcome {
    /// Accepted; the number of spans the receiver rejected (partial success).
    Ok(i64),
    /// The receiver asks to retry later (back-pressure, restart).
    Retry(String),
    /// Refused for good.
    Fail(String),
}

pub(crate) enum Client {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl Client {
    pub(crate) async fn connect(o: &Options) -> Result<Client, String> {
        match o.protocol {
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(o.endpoint.clone())
                    .map_err(|e| format!("bad endpoint {}: {e}", o.endpoint))?
                    .timeout(Duration::from_secs(30))
                    .connect_lazy();
                let mut client =
                    TraceServiceClient::new(channel).max_encoding_message_size(64 << 20);
                if o.gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Ok(Client::Grpc(client))
            }
            Protocol::Http => {
                let base = o.endpoint.trim_end_matches('/');
                let has_path = base.splitn(4, '/').nth(3).is_some_and(|p| !p.is_empty());
                let url = if has_path {
                    base.to_string()
                } else {
                    format!("{base}/v1/traces")
                };
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| format!("http client: {e}"))?;
                Ok(Client::Http { client, url })
            }
        }
    }

    async fn export(&mut self, request: &ExportTraceServiceRequest) -> Outcome {
        match self {
            Client::Grpc(client) => match client.export(request.clone()).await {
                Ok(answer) => Outcome::Ok(
                    answer
                        .into_inner()
                        .partial_success
                        .map_or(0, |p| p.rejected_spans),
                ),
                Err(status) => {
                    use tonic::Code::*;
                    let message = format!("gRPC {:?}: {}", status.code(), status.message());
                    match status.code() {
                        Unavailable | ResourceExhausted | DeadlineExceeded | Aborted
                        | Cancelled | OutOfRange | DataLoss => Outcome::Retry(message),
                        _ => Outcome::Fail(message),
                    }
                }
            },
            Client::Http { client, url } => {
                let sent = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await;
                let response = match sent {
                    Ok(r) => r,
                    Err(e) => return Outcome::Retry(format!("HTTP: {e}")),
                };
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                match status {
                    200 => Outcome::Ok(
                        ExportTraceServiceResponse::decode(body)
                            .ok()
                            .and_then(|r| r.partial_success)
                            .map_or(0, |p| p.rejected_spans),
                    ),
                    429 | 502 | 503 | 504 => Outcome::Retry(format!("HTTP {status}")),
                    _ => {
                        Outcome::Fail(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
                    }
                }
            }
        }
    }
}

/// Sends batches until the channel closes; returns each request's latency in microseconds.
pub(crate) async fn sender(
    mut client: Client,
    batches: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Span>>>>,
    counters: Arc<Counters>,
    max_retries: u32,
    errors_shown: Arc<AtomicU64>,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    loop {
        let batch = { batches.lock().await.recv().await };
        let Some(spans) = batch else { break };
        let n = spans.len() as u64;
        let request = request(spans);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let outcome = client.export(&request).await;
            match outcome {
                Outcome::Ok(rejected) => {
                    latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    counters.requests_ok.fetch_add(1, Ordering::Relaxed);
                    counters
                        .spans_ok
                        .fetch_add(n - (rejected.max(0) as u64).min(n), Ordering::Relaxed);
                    counters
                        .rejected_spans
                        .fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
                    break;
                }
                Outcome::Retry(message) if attempt < max_retries => {
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                    if errors_shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("loadgen: retrying after {message}");
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Outcome::Retry(message) | Outcome::Fail(message) => {
                    if errors_shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("loadgen: request failed: {message}");
                    }
                    counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                    counters.lost_spans.fetch_add(n, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    latencies
}
