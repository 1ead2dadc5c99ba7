//! In-process OTLP receivers that capture what an exporter sends (gRPC with tonic, HTTP with
//! axum taking protobuf and JSON): every request as it arrived and its spans flattened with
//! their resource, and queries on the span tree.
//!
//! Each capture server runs on its own runtime in its own thread, so the agent side under test
//! can use any runtime, or none.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

use super::wait::DEADLINE;

/// An attribute value as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Array(Vec<Val>),
    Other,
}

impl Val {
    pub fn str(&self) -> &str {
        match self {
            Val::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }
    pub fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            other => panic!("expected an int, got {other:?}"),
        }
    }
    pub fn double(&self) -> f64 {
        match self {
            Val::Double(d) => *d,
            other => panic!("expected a double, got {other:?}"),
        }
    }
}

fn val(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Val {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Val::Str(s.clone()),
        Some(any_value::Value::IntValue(i)) => Val::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Val::Double(*d),
        Some(any_value::Value::BoolValue(b)) => Val::Bool(*b),
        Some(any_value::Value::ArrayValue(a)) => {
            Val::Array(a.values.iter().map(|v| val(&Some(v.clone()))).collect())
        }
        _ => Val::Other,
    }
}

fn to_attrs(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, Val)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), val(&kv.value)))
        .collect()
}

/// A span event as it arrived.
#[derive(Debug, Clone)]
pub struct CapturedEvent {
    pub name: String,
    pub attrs: BTreeMap<String, Val>,
}

/// A span as it arrived, flattened with its resource.
#[derive(Debug, Clone)]
pub struct CapturedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Every attribute in arrival order (to catch duplicates).
    pub attr_list: Vec<(String, Val)>,
    pub attrs: BTreeMap<String, Val>,
    pub events: Vec<CapturedEvent>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub resource: BTreeMap<String, Val>,
}

impl CapturedSpan {
    pub fn attr(&self, key: &str) -> &Val {
        self.attrs.get(key).unwrap_or_else(|| {
            panic!(
                "span {} has no attribute {key}: {:?}",
                self.name, self.attrs
            )
        })
    }
    pub fn event(&self, name: &str) -> &CapturedEvent {
        self.events
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("span {} has no event {name}: {:?}", self.name, self.events))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<ExportTraceServiceRequest>>,
    spans: Mutex<Vec<CapturedSpan>>,
    content_types: Mutex<Vec<String>>,
    arrived: Condvar,
}

impl State {
    fn push(&self, request: ExportTraceServiceRequest, content_type: &str) {
        let mut new = Vec::new();
        for rs in &request.resource_spans {
            let resource: BTreeMap<String, Val> = rs
                .resource
                .as_ref()
                .map(|r| to_attrs(&r.attributes).into_iter().collect())
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let attr_list = to_attrs(&s.attributes);
                    new.push(CapturedSpan {
                        name: s.name.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        start_ns: s.start_time_unix_nano,
                        end_ns: s.end_time_unix_nano,
                        attrs: attr_list.iter().cloned().collect(),
                        attr_list,
                        events: s
                            .events
                            .iter()
                            .map(|e| CapturedEvent {
                                name: e.name.clone(),
                                attrs: to_attrs(&e.attributes).into_iter().collect(),
                            })
                            .collect(),
                        status_code: s.status.as_ref().map(|s| s.code).unwrap_or(0),
                        resource: resource.clone(),
                    });
                }
            }
        }
        self.content_types
            .lock()
            .unwrap()
            .push(content_type.to_string());
        self.requests.lock().unwrap().push(request);
        self.spans.lock().unwrap().extend(new);
        self.arrived.notify_all();
    }
}

/// An in-process OTLP receiver that keeps every span it is sent.
pub struct Capture {
    state: Arc<State>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

struct Grpc(Arc<State>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.push(request.into_inner(), "application/grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn http_traces(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<ExportTraceServiceRequest>(&body) {
            Ok(request) => {
                state.push(request, &content_type);
                ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
            }
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    } else {
        match ExportTraceServiceRequest::decode(body) {
            Ok(request) => {
                state.push(request, &content_type);
                let response = ExportTraceServiceResponse {
                    partial_success: None,
                }
                .encode_to_vec();
                ([(header::CONTENT_TYPE, "application/x-protobuf")], response).into_response()
            }
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    }
}

impl Capture {
    /// An OTLP/gRPC receiver on 127.0.0.1:0.
    pub fn grpc() -> Capture {
        Self::start(|state, listener, stop| {
            Box::pin(async move {
                tonic::transport::Server::builder()
                    .add_service(
                        TraceServiceServer::new(Grpc(state))
                            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                    )
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener),
                        async {
                            let _ = stop.await;
                        },
                    )
                    .await
                    .unwrap();
            })
        })
    }

    /// An OTLP/HTTP receiver (protobuf and JSON) on 127.0.0.1:0.
    pub fn http() -> Capture {
        Self::start(|state, listener, stop| {
            Box::pin(async move {
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(http_traces))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await
                    .unwrap();
            })
        })
    }

    #[allow(clippy::type_complexity)]
    fn start(
        serve: impl FnOnce(
                Arc<State>,
                tokio::net::TcpListener,
                tokio::sync::oneshot::Receiver<()>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            + Send
            + 'static,
    ) -> Capture {
        let state = Arc::new(State::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server_state = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(server_state, listener, stop_rx).await;
            });
        });
        let addr = addr_rx
            .recv_timeout(DEADLINE)
            .expect("capture server started");
        Capture {
            state,
            addr,
            stop: Some(stop_tx),
        }
    }

    /// The base endpoint to give the exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.state.spans.lock().unwrap().clone()
    }

    /// Every export request received so far, as it arrived.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The content type of every export request received so far.
    pub fn content_types(&self) -> Vec<String> {
        self.state.content_types.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the spans received, or the deadline passes; returns the
    /// spans either way (the caller asserts).
    pub fn wait_for(&self, done: impl Fn(&[CapturedSpan]) -> bool) -> Vec<CapturedSpan> {
        let deadline = Instant::now() + DEADLINE;
        let mut spans = self.state.spans.lock().unwrap();
        while !done(&spans) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            spans = self
                .state
                .arrived
                .wait_timeout(spans, deadline - now)
                .unwrap()
                .0;
        }
        spans.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The spans of one trace.
pub fn of_trace<'a>(spans: &'a [CapturedSpan], trace_id: &str) -> Vec<&'a CapturedSpan> {
    spans.iter().filter(|s| s.trace_id == trace_id).collect()
}

/// Children of `parent` among `spans`, in start order.
pub fn children<'a>(spans: &[&'a CapturedSpan], parent: &CapturedSpan) -> Vec<&'a CapturedSpan> {
    let mut out: Vec<&CapturedSpan> = spans
        .iter()
        .copied()
        .filter(|s| s.parent_span_id == parent.span_id)
        .collect();
    out.sort_by_key(|s| s.start_ns);
    out
}

/// The one span named `name`.
pub fn one<'a>(spans: &[&'a CapturedSpan], name: &str) -> &'a CapturedSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {name} span, got {}",
        found.len()
    );
    found[0]
}
