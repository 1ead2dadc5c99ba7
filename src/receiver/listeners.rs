//! The receiver's listeners: binding them (before anything else starts, so a port in use fails
//! fast), and what each serves: OTLP and the call log service on the gRPC port, OTLP/HTTP (and
//! recording uploads), and the API; each behind its bearer token and, when configured, TLS.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;

use crate::receiver::api::{self, ApiState, CallReader};
use crate::receiver::auth::{self, GrpcAuth, Tokens};
use crate::receiver::calllog::CallLog;
use crate::receiver::config::ServeConfig;
use crate::receiver::ingest::{self, Ingest};
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::recordings::Recordings;
use crate::receiver::server::ServeError;
use crate::receiver::tls::{self, TlsError, TlsIdentity};

/// The three listeners, bound before anything else starts (a port in use fails fast).
pub(crate) struct Listeners {
    grpc: TcpListener,
    http: TcpListener,
    api: Option<TcpListener>,
}

impl Listeners {
    pub(crate) async fn bind(config: &ServeConfig) -> Result<Listeners, ServeError> {
        Ok(Listeners {
            grpc: bind("OTLP/gRPC", config.otlp_grpc_addr).await?,
            http: bind("OTLP/HTTP", config.otlp_http_addr).await?,
            api: match config.api_addr {
                Some(addr) => Some(bind("API", addr).await?),
                None => None,
            },
        })
    }

    /// The bound addresses (port 0 resolved): gRPC, HTTP, API.
    pub(crate) fn addrs(
        &self,
        config: &ServeConfig,
    ) -> (SocketAddr, SocketAddr, Option<SocketAddr>) {
        let local = |l: &TcpListener, addr| l.local_addr().unwrap_or(addr);
        (
            local(&self.grpc, config.otlp_grpc_addr),
            local(&self.http, config.otlp_http_addr),
            self.api
                .as_ref()
                .zip(config.api_addr)
                .map(|(l, a)| local(l, a)),
        )
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

/// What the servers share.
pub(crate) struct Servers<'a> {
    pub(crate) tls: Option<&'a TlsIdentity>,
    pub(crate) tokens: &'a Tokens,
    pub(crate) reader: Arc<dyn CallReader>,
    pub(crate) recordings: &'a Recordings,
    pub(crate) finished: &'a broadcast::Sender<Arc<CallLog>>,
    pub(crate) stop: &'a watch::Receiver<bool>,
}

impl Servers<'_> {
    /// OTLP and the call log service on the gRPC port, OTLP/HTTP, and the API.
    pub(crate) fn spawn(
        &self,
        listeners: Listeners,
        ingest: Ingest,
        config: &ServeConfig,
        metrics: &ReceiverMetrics,
        ready: Arc<AtomicBool>,
    ) -> Result<Vec<JoinHandle<()>>, ServeError> {
        let mut running = vec![self.grpc(listeners.grpc, ingest.clone())?];
        let body_timeout = Duration::from_millis(config.body_timeout_ms.max(1));
        let otlp_http = ingest::http::router(ingest, body_timeout)
            .merge(ingest::upload::router(self.recordings.clone()));
        running.push(tls::serve_http(
            "OTLP/HTTP",
            listeners.http,
            self.tls,
            auth::require_ingest_token(otlp_http, self.tokens),
            stopped(self.stop.clone()),
        ));
        if let Some(listener) = listeners.api {
            let state = ApiState {
                calls: self.reader.clone(),
                metrics: metrics.clone(),
                trace_url_template: config.trace_url_template.clone(),
                ready,
                recordings: Some(self.recordings.clone()),
            };
            running.push(tls::serve_http(
                "API",
                listener,
                self.tls,
                auth::require_api_token(api::router(state), self.tokens.api.clone()),
                stopped(self.stop.clone()),
            ));
        }
        Ok(running)
    }

    fn grpc(&self, listener: TcpListener, ingest: Ingest) -> Result<JoinHandle<()>, ServeError> {
        let mut grpc = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            grpc = grpc.tls_config(tls.grpc()).map_err(TlsError::Grpc)?;
        }
        let ingest_auth = GrpcAuth::new(self.tokens.ingest.clone());
        let api_auth = GrpcAuth::new(self.tokens.api.clone());
        let calls = api::grpc::call_log_service_until(
            self.reader.clone(),
            self.finished.clone(),
            self.stop.clone(),
        );
        let server = grpc
            .layer(tower::util::MapResponseLayer::new(
                ingest::grpc::invalid_request_status,
            ))
            .add_service(InterceptedService::new(
                ingest::grpc::trace_service(ingest.clone()),
                ingest_auth.clone(),
            ))
            .add_service(InterceptedService::new(
                ingest::grpc::logs_service(ingest.clone()),
                ingest_auth.clone(),
            ))
            .add_service(InterceptedService::new(
                ingest::grpc::metrics_service(ingest),
                ingest_auth,
            ))
            .add_service(InterceptedService::new(calls, api_auth))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                stopped(self.stop.clone()),
            );
        Ok(tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "OTLP/gRPC server failed");
            }
        }))
    }
}

/// Completes once the receiver is told to stop.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
