//! A real HTTP endpoint (axum on loopback) for the sinks to deliver to: it answers each
//! request from a script or a default [`Reply`], and keeps every request it received, in
//! order, with the status it answered.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;

use super::net::LOOPBACK;
use super::wait::{wait_for, within};

/// A request the endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as sent.
    pub body: Bytes,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The status the endpoint answered (or, for a held request, will answer).
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the endpoint took it (answered 2xx).
    pub fn taken(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How the endpoint answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status with an empty JSON body.
    Status(u16),
    /// This status, with headers and a body.
    Full(u16, Vec<(&'static str, String)>, String),
    /// This status, the body echoing the value of a request header (an endpoint that puts the
    /// API key in its error message).
    EchoHeader(u16, &'static str),
    /// Hold the request until [`Endpoint::release`], then answer 200.
    Hang,
    /// This status after a pause: the request is taken, the answer is late.
    Delayed(u16, Duration),
    /// Request `n` of the endpoint's life gets reply `n % len` of these.
    Cycle(Vec<Reply>),
}

impl Reply {
    /// The reply for request `n`, cycles resolved.
    fn for_request(self, n: usize) -> Reply {
        match self {
            Reply::Cycle(replies) if !replies.is_empty() => {
                let len = replies.len();
                replies[n % len].clone().for_request(n)
            }
            other => other,
        }
    }

    fn status(&self) -> u16 {
        match self {
            Reply::Status(s) | Reply::Full(s, ..) | Reply::EchoHeader(s, _) => *s,
            Reply::Delayed(s, _) => *s,
            Reply::Hang | Reply::Cycle(_) => 200,
        }
    }
}

struct EndpointState {
    /// Every request received, in order; `count` says how many.
    received: Mutex<Vec<Received>>,
    count: watch::Sender<usize>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    released: watch::Receiver<bool>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An ingest endpoint over real HTTP, stopped on drop.
pub struct Endpoint {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<EndpointState>,
    /// Requests before this index were handed out by [`Endpoint::next`] and the like.
    taken: AtomicUsize,
    release: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(state): State<Arc<EndpointState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = {
        let next = state.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| state.default.lock().unwrap().clone())
    };
    let reply = {
        let mut received = state.received.lock().unwrap();
        let reply = reply.for_request(received.len());
        received.push(Received {
            path: uri.path().to_string(),
            headers: headers.clone(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body: body.clone(),
            status: reply.status(),
            at: Instant::now(),
        });
        state.count.send_replace(received.len());
        reply
    };
    let response = match reply {
        Reply::Status(code) => (status(code), "{}").into_response(),
        Reply::Full(code, extra, body) => {
            let mut r = (status(code), body).into_response();
            for (name, value) in extra {
                r.headers_mut().insert(name, value.parse().unwrap());
            }
            r
        }
        Reply::EchoHeader(code, name) => {
            let value = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let body = format!("{{\"detail\":\"invalid key {value} for this agent\"}}");
            (status(code), body).into_response()
        }
        Reply::Hang => {
            let mut released = state.released.clone();
            let _ = released.wait_for(|r| *r).await;
            (StatusCode::OK, "{}").into_response()
        }
        Reply::Delayed(code, pause) => {
            tokio::time::sleep(pause).await;
            (status(code), "{}").into_response()
        }
        Reply::Cycle(_) => (StatusCode::OK, "{}").into_response(),
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

impl Endpoint {
    /// An endpoint on a fresh port answering `default` unless scripted otherwise.
    pub async fn start(default: Reply) -> Endpoint {
        Endpoint::start_on(LOOPBACK, default).await
    }

    /// An endpoint on `addr` (retrying the bind for a while: the port was just released).
    pub async fn start_on(addr: SocketAddr, default: Reply) -> Endpoint {
        let listener = wait_for("the endpoint's port to be free", || async move {
            tokio::net::TcpListener::bind(addr).await.ok()
        })
        .await;
        let addr = listener.local_addr().unwrap();
        let (release, released) = watch::channel(false);
        let state = Arc::new(EndpointState {
            received: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            released,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Endpoint {
            addr,
            state,
            taken: AtomicUsize::new(0),
            release,
            server,
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests are answered with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Requests not scripted are answered with this.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    /// Lets every held request (and every later one) through.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// The most requests it held at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// The next request not handed out yet, waiting for it up to the deadline.
    pub async fn next(&self) -> Received {
        let index = self.taken.fetch_add(1, Ordering::SeqCst);
        let mut count = self.state.count.subscribe();
        within(
            &format!("request {} at {}", index + 1, self.addr),
            count.wait_for(|n| *n > index),
        )
        .await
        .expect("endpoint running");
        self.state.received.lock().unwrap()[index].clone()
    }

    /// The next `n` requests.
    pub async fn take(&self, n: usize) -> Vec<Received> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Requests received and not handed out yet (does not wait).
    pub fn drain_now(&self) -> Vec<Received> {
        let received = self.state.received.lock().unwrap();
        let from = self.taken.swap(received.len(), Ordering::SeqCst);
        received[from.min(received.len())..].to_vec()
    }

    /// Waits (up to the deadline, woken by each request) until `done` holds of every request
    /// received so far; panics naming `what` when it does not.
    pub async fn until_received(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let mut count = self.state.count.subscribe();
        within(what, async {
            while !self.with_received(&done) {
                count.changed().await.expect("endpoint running");
            }
        })
        .await
    }

    /// `f` of every request received so far (handed out or not), without copying them.
    pub fn with_received<T>(&self, f: impl FnOnce(&[Received]) -> T) -> T {
        f(&self.state.received.lock().unwrap())
    }
}
