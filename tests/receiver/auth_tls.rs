//! Bearer tokens and TLS on a real receiver over real sockets: ingest and API tokens refuse a
//! missing or wrong token (401 / `UNAUTHENTICATED`) and accept the right one, the crate's own
//! exporter passes the ingest token, every listener speaks TLS with a certificate made here
//! (and refuses plaintext), and no API answer carries a token or a sink's secret.

use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;
use voicetrace::instrument::{Call, Config, EndReason, Protocol};
use voicetrace::receiver::api::grpc::pb;
use voicetrace::receiver::api::grpc::pb::call_log_service_client::CallLogServiceClient;
use voicetrace::receiver::forward::SinkKind;
use voicetrace::receiver::secret::Secret;
use voicetrace::receiver::server::{Receiver, ServeConfig, ServeError};

use crate::common::agent::Agent;
use crate::common::fixtures::{fixture_dirs, request_bodies};
use crate::common::http::{client, post_with};
use crate::common::net::LOOPBACK;
use crate::common::receiver::{self, expect_fixture, grpc_url, next_call_logs, traces_url};
use crate::common::serve::{command, Listen, Serve};
use crate::common::sinks::SinkSpec;

const INGEST_TOKEN: &str = "ingest-token-0f9e8d";
const API_TOKEN: &str = "api-token-7c6b5a";

/// A receiver with the API on, a grace of 100 ms, changed by `tweak`.
async fn start(data: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Receiver {
    let mut config = ServeConfig {
        api_addr: Some(LOOPBACK),
        grace_ms: 100,
        ..receiver::config(data)
    };
    tweak(&mut config);
    receiver::start(config).await
}

fn with_tokens(config: &mut ServeConfig) {
    config.ingest_token = Some(Secret::new(INGEST_TOKEN));
    config.api_token = Some(Secret::new(API_TOKEN));
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let mut headers = vec![("content-type", content_type.to_string())];
    headers.extend(token.map(|t| ("authorization", bearer(t))));
    post_with(client, url, &headers, body).await
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    request.send().await.expect("request sent")
}

/// A 401 with the challenge, its body parsed as JSON.
async fn assert_401(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    serde_json::from_slice(&response.bytes().await.unwrap()).expect("a JSON body")
}

fn export_request(body: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(body).unwrap()
}

fn with_auth<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = bearer(token).parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn otlp_http_needs_the_ingest_token() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), with_tokens).await;
    let mut rx = receiver.subscribe();
    let client = reqwest::Client::new();
    let dir = &fixture_dirs()[0];
    let bodies = request_bodies(dir);
    let base = format!("http://{}", receiver.otlp_http_addr);
    let url = traces_url(&receiver);

    // Missing, wrong, and the API's token: 401 with a google.rpc.Status, nothing taken.
    for token in [None, Some("wrong"), Some(API_TOKEN)] {
        let response = post(&client, &url, "application/json", token, b"{}".to_vec())
            .await
            .unwrap();
        let status = assert_401(response).await;
        assert_eq!(status["code"], 16, "UNAUTHENTICATED: {status}");
        let response = post(
            &client,
            &url,
            "application/x-protobuf",
            token,
            bodies[0].clone(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["content-type"],
            "application/x-protobuf",
            "answered in the request's encoding"
        );
    }
    // LiveKit's upload path is guarded too.
    let livekit = format!("{base}/observability/traces/otlp/v0");
    let response = post(&client, &livekit, "application/json", None, b"{}".to_vec())
        .await
        .unwrap();
    assert_401(response).await;

    for body in &bodies {
        let response = post(
            &client,
            &url,
            "application/x-protobuf",
            Some(INGEST_TOKEN),
            body.clone(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
    }
    expect_fixture(&mut rx, dir).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn otlp_grpc_needs_the_ingest_token() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), with_tokens).await;
    let mut rx = receiver.subscribe();
    let dir = &fixture_dirs()[1];
    let bodies = request_bodies(dir);
    let mut client = TraceServiceClient::connect(grpc_url(&receiver))
        .await
        .unwrap();

    for token in [None, Some("wrong"), Some(API_TOKEN)] {
        let status = client
            .export(with_auth(export_request(&bodies[0]), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status}");
    }
    for body in &bodies {
        client
            .export(with_auth(export_request(body), Some(INGEST_TOKEN)))
            .await
            .unwrap();
    }
    expect_fixture(&mut rx, dir).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn the_api_needs_its_own_token_on_http_and_grpc() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), with_tokens).await;
    let client = reqwest::Client::new();
    let api = format!("http://{}", receiver.api_addr.unwrap());

    for path in [
        "/v1/observability/calls",
        "/metrics",
        "/openapi.json",
        "/nope",
    ] {
        for token in [None, Some("wrong"), Some(INGEST_TOKEN)] {
            let body = assert_401(get(&client, &format!("{api}{path}"), token).await).await;
            assert_eq!(body["error"]["code"], "unauthenticated", "{path}: {body}");
        }
    }
    for path in ["/v1/observability/calls", "/metrics", "/openapi.json"] {
        let response = get(&client, &format!("{api}{path}"), Some(API_TOKEN)).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    // Health probes carry no token.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            get(&client, &format!("{api}{path}"), None).await.status(),
            200
        );
    }

    let mut grpc = CallLogServiceClient::connect(grpc_url(&receiver))
        .await
        .unwrap();
    for token in [None, Some("wrong"), Some(INGEST_TOKEN)] {
        let status = grpc
            .list_calls(with_auth(pb::ListCallsRequest::default(), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status}");
        let status = grpc
            .watch_calls(with_auth(pb::WatchCallsRequest::default(), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status}");
    }
    let page = grpc
        .list_calls(with_auth(pb::ListCallsRequest::default(), Some(API_TOKEN)))
        .await
        .unwrap()
        .into_inner();
    assert!(page.calls.is_empty());
    receiver.shutdown().await;
}

/// One short call through the crate's own pipeline, exporting with the ingest token as an
/// `OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer ...` setting would.
fn export_call(protocol: Protocol, endpoint: String, call_id: &str, token: &str) {
    let agent = Agent::start(
        Config::from_env()
            .protocol(protocol)
            .endpoint(endpoint)
            .header("authorization", bearer(token))
            .batch_delay(Duration::from_secs(3600)),
    );
    agent.in_scope(|| {
        let call = Call::builder(call_id).agent_id("auth-agent").start();
        let turn = call.turn();
        turn.user_text("hello?");
        let llm = turn.llm();
        llm.ttfb(Duration::from_millis(300));
        llm.end();
        drop(turn);
        call.end(EndReason::ClientHangup);
    });
    // Dropping the pipeline exports every span that has ended.
    drop(agent);
}

#[test]
fn the_crates_exporter_passes_the_ingest_token() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let receiver = runtime.block_on(start(data.path(), with_tokens));
    let mut rx = receiver.subscribe();
    let grpc = grpc_url(&receiver);
    let http = format!("http://{}", receiver.otlp_http_addr);

    // A wrong token: the exporter's spans are refused, no call log.
    export_call(Protocol::Grpc, grpc.clone(), "refused-grpc", "wrong");
    export_call(
        Protocol::HttpProtobuf,
        http.clone(),
        "refused-http",
        "wrong",
    );
    export_call(Protocol::Grpc, grpc, "auth-grpc", INGEST_TOKEN);
    export_call(Protocol::HttpProtobuf, http, "auth-http", INGEST_TOKEN);

    let logs = runtime.block_on(next_call_logs(&mut rx, 2));
    let mut ids: Vec<&str> = logs.iter().map(|l| l.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["auth-grpc", "auth-http"],
        "only the calls with the token"
    );
    for log in &logs {
        assert_eq!(log.turns.len(), 1);
        assert_eq!(log.turns[0].llm_ms, Some(300));
    }
    runtime.block_on(receiver.shutdown());
    let store = voicetrace::receiver::store::Store::open(data.path()).unwrap();
    for refused in ["refused-grpc", "refused-http"] {
        assert!(
            store.latest_call(refused, None).unwrap().is_none(),
            "{refused}"
        );
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
fn self_signed(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert_pem, cert, key)
}

#[tokio::test]
async fn every_listener_speaks_tls_and_refuses_plaintext() {
    let data = tempfile::tempdir().unwrap();
    let (cert_pem, cert, key) = self_signed(data.path());
    let receiver = start(data.path(), |c| {
        with_tokens(c);
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    assert!(
        receiver.listening_line().ends_with(" tls=on"),
        "{}",
        receiver.listening_line()
    );
    let mut rx = receiver.subscribe();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let plain = reqwest::Client::new();
    let (grpc, http, api) = (
        receiver.otlp_grpc_addr,
        receiver.otlp_http_addr,
        receiver.api_addr.unwrap(),
    );

    // OTLP/HTTP over https, with the token.
    let dir = &fixture_dirs()[0];
    for body in request_bodies(dir) {
        let response = post(
            &trusting,
            &format!("https://127.0.0.1:{}/v1/traces", http.port()),
            "application/x-protobuf",
            Some(INGEST_TOKEN),
            body,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
    }
    let first = expect_fixture(&mut rx, dir).await;

    // OTLP/gRPC and CallLogService over TLS, trusting the certificate.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://127.0.0.1:{}", grpc.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let dir = &fixture_dirs()[1];
    let mut otlp = TraceServiceClient::new(channel.clone());
    for body in request_bodies(dir) {
        otlp.export(with_auth(export_request(&body), Some(INGEST_TOKEN)))
            .await
            .unwrap();
    }
    let second = expect_fixture(&mut rx, dir).await;
    let got = CallLogServiceClient::new(channel)
        .get_call(with_auth(
            pb::GetCallRequest {
                id: second[0].id.clone(),
                ..Default::default()
            },
            Some(API_TOKEN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, second[0].id);

    // The HTTP API over https.
    let url = format!(
        "https://127.0.0.1:{}/v1/observability/calls/{}",
        api.port(),
        first[0].id
    );
    let response = get(&trusting, &url, Some(API_TOKEN)).await;
    assert_eq!(response.status(), 200);
    let log: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(log["id"], first[0].id.as_str());

    // Plaintext against each TLS listener fails; so does a client that does not trust the cert.
    for addr in [http, api] {
        let url = format!("http://{addr}/healthz");
        assert!(plain.get(&url).send().await.is_err(), "plaintext to {addr}");
        let url = format!("https://127.0.0.1:{}/healthz", addr.port());
        assert!(
            plain.get(&url).send().await.is_err(),
            "untrusted cert {addr}"
        );
    }
    let status = match TraceServiceClient::connect(format!("http://{grpc}")).await {
        Err(_) => None,
        Ok(mut client) => Some(
            client
                .export(with_auth(
                    ExportTraceServiceRequest::default(),
                    Some(INGEST_TOKEN),
                ))
                .await
                .expect_err("plaintext gRPC to a TLS listener"),
        ),
    };
    if let Some(status) = status {
        assert_ne!(status.code(), Code::Ok);
    }
    receiver.shutdown().await;
}

#[tokio::test]
async fn tls_needs_a_usable_certificate_and_key() {
    let data = tempfile::tempdir().unwrap();
    let (_, cert, key) = self_signed(data.path());
    let config = |cert: Option<&Path>, key: Option<&Path>| ServeConfig {
        tls_cert: cert.map(Path::to_path_buf),
        tls_key: key.map(Path::to_path_buf),
        ..receiver::config(data.path())
    };
    let error = |c| async move {
        match Receiver::start(c).await {
            Ok(_) => panic!("the receiver started"),
            Err(e) => e,
        }
    };
    let e = error(config(Some(&cert), None)).await;
    assert!(matches!(e, ServeError::Tls(_)), "{e}");
    assert!(e.to_string().contains("--tls-key"), "{e}");
    let e = error(config(None, Some(&key))).await;
    assert!(e.to_string().contains("only the key"), "{e}");
    // A certificate where the key should be.
    let e = error(config(Some(&cert), Some(&cert))).await;
    assert!(e.to_string().contains("invalid TLS key"), "{e}");
    let e = error(config(Some(&data.path().join("missing.pem")), Some(&key))).await;
    assert!(
        e.to_string().contains("cannot read the TLS certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn no_api_answer_carries_a_token_or_a_sink_secret() {
    const SINK_SECRET: &str = "sink-secret-3e2d1c";
    let data = tempfile::tempdir().unwrap();
    let secret_file = data.path().join("sink-secret");
    std::fs::write(&secret_file, SINK_SECRET).unwrap();
    let (ingest_file, api_file) = (data.path().join("ingest"), data.path().join("api"));
    std::fs::write(&ingest_file, format!("{INGEST_TOKEN}\n")).unwrap();
    std::fs::write(&api_file, API_TOKEN).unwrap();
    let sink = SinkSpec {
        secret_file: Some(secret_file),
        ..SinkSpec::new(SinkKind::Http, "http://127.0.0.1:9/calls")
    };
    let secrets = [INGEST_TOKEN, API_TOKEN, SINK_SECRET];
    let receiver = start(data.path(), |c| {
        // From files this time, as `--ingest-token-file` / `--api-token-file` give them.
        c.ingest_token_file = Some(ingest_file);
        c.api_token_file = Some(api_file);
        c.sinks.push(sink.config());
        c.trace_url_template = Some("http://traces.example/{trace_id}".into());
        let shown = format!("{c:?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "the config's Debug shows {secret}");
        }
    })
    .await;
    let mut rx = receiver.subscribe();
    let http = reqwest::Client::new();
    let dir = &fixture_dirs()[0];
    let url = traces_url(&receiver);
    for body in request_bodies(dir) {
        let response = post(
            &http,
            &url,
            "application/x-protobuf",
            Some(INGEST_TOKEN),
            body,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
    }
    let id = next_call_logs(&mut rx, 1).await[0].id.clone();

    let api = format!("http://{}", receiver.api_addr.unwrap());
    let mut answers = Vec::new();
    let mut paths: Vec<String> = voicetrace::receiver::api::route_paths()
        .iter()
        .map(|p| p.replace("{callId}", &id).replace("{sessionId}", &id))
        .collect();
    paths.extend([
        "/v1/observability/calls/unknown".to_string(),
        "/v1/observability/calls?limit=nope".to_string(),
        "/nope".to_string(),
    ]);
    let no_redirects = client();
    for path in &paths {
        for token in [Some(API_TOKEN), Some(INGEST_TOKEN), Some(SINK_SECRET), None] {
            let response = get(&no_redirects, &format!("{api}{path}"), token).await;
            let status = response.status();
            let headers = format!("{:?}", response.headers());
            let body = response.text().await.unwrap();
            answers.push((
                format!("GET {path} ({status})"),
                format!("{headers}\n{body}"),
            ));
        }
    }
    let mut grpc = CallLogServiceClient::connect(grpc_url(&receiver))
        .await
        .unwrap();
    let got = grpc
        .get_call(with_auth(
            pb::GetCallRequest {
                id: id.clone(),
                ..Default::default()
            },
            Some(API_TOKEN),
        ))
        .await
        .unwrap();
    answers.push(("GetCall".into(), format!("{got:?}")));
    let listed = grpc
        .list_calls(with_auth(pb::ListCallsRequest::default(), Some(API_TOKEN)))
        .await
        .unwrap();
    answers.push(("ListCalls".into(), format!("{listed:?}")));
    for token in [None, Some(INGEST_TOKEN), Some(SINK_SECRET)] {
        let refused = grpc
            .get_call(with_auth(
                pb::GetCallRequest {
                    id: id.clone(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        answers.push(("GetCall refused".into(), format!("{refused:?}")));
    }
    let missing = grpc
        .get_call(with_auth(
            pb::GetCallRequest {
                id: "unknown".into(),
                ..Default::default()
            },
            Some(API_TOKEN),
        ))
        .await
        .unwrap_err();
    answers.push(("GetCall unknown".into(), format!("{missing:?}")));

    assert!(answers.len() > 50, "every route was asked");
    for (what, answer) in &answers {
        for secret in secrets {
            assert!(!answer.contains(secret), "{what} shows {secret}: {answer}");
        }
    }
    receiver.shutdown().await;
}

/// `voicetrace serve` itself: the ingest token from `VOICETRACE_INGEST_TOKEN`, the API token
/// from `--api-token-file`, TLS from `--tls-cert`/`--tls-key`, shown in the listening line.
#[tokio::test]
async fn serve_reads_tokens_from_the_environment_and_files() {
    let data = tempfile::tempdir().unwrap();
    let (cert_pem, cert, key) = self_signed(data.path());
    let api_file = data.path().join("api-token");
    std::fs::write(&api_file, format!("{API_TOKEN}\n")).unwrap();
    let mut serve = Serve::spawn(
        command(data.path(), Listen::with_api())
            .arg("--api-token-file")
            .arg(&api_file)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("VOICETRACE_INGEST_TOKEN", INGEST_TOKEN)
            .env_remove("VOICETRACE_API_TOKEN"),
    );
    let line = serve.line.clone();
    assert!(line.trim_end().ends_with(" tls=on"), "{line}");
    let (http, api) = (serve.http.port(), serve.api.unwrap().port());
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let traces = format!("https://127.0.0.1:{http}/v1/traces");
    let calls = format!("https://127.0.0.1:{api}/v1/observability/calls");
    let answers = async {
        let json = |token| post(&client, &traces, "application/json", token, b"{}".to_vec());
        [
            json(None).await.unwrap().status(),
            json(Some(API_TOKEN)).await.unwrap().status(),
            json(Some(INGEST_TOKEN)).await.unwrap().status(),
            get(&client, &calls, Some(INGEST_TOKEN)).await.status(),
            get(&client, &calls, Some(API_TOKEN)).await.status(),
        ]
    }
    .await;
    let status = serve.terminate();
    assert_eq!(answers, [401, 401, 200, 401, 200]);
    assert!(status.success(), "{status:?}");
}
