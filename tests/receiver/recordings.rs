//! Recordings with real audio (espeak-ng speech as WAV, FLAC and OGG/Opus, `common::audio`):
//! a LiveKit worker's multipart upload, built as livekit-agents builds it (part names,
//! filenames, content types, its JWT), matched to the LiveKit fixture's call by room and job;
//! a `PUT` before the call's spans; byte-exact ranges, a bad range (416), a recording too
//! large (413), wrong tokens and a LiveKit JWT signed with another secret (401); the signed
//! links Cekura and webhooks get, expired or altered (403); a crash in the middle of an
//! upload, which leaves nothing half-written to serve or list; and two receivers on one
//! PostgreSQL store, where a recording uploaded to one is served, whole and by ranges, by the
//! other, its signed link good on both, and its audio's chunks leave the database when a newer
//! upload replaces it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prost::Message;
use serde_json::{json, Value};
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::forward::SinkKind;
use voicetrace::receiver::recordings::link::{path as recording_path, LinkKey};
use voicetrace::receiver::server::ServeConfig;

use crate::common::audio::speech;
use crate::common::endpoint::{Endpoint, Reply};
use crate::common::fixtures::{dir as fixture_dir, requests};
use crate::common::http::{client, gzip, metric};
use crate::common::livekit::{livekit_upload, RecordingHeader};
use crate::common::net::{free_port, LOOPBACK};
use crate::common::otlp::{kv_i64, kv_str, request, span, spans_mut};
use crate::common::postgres::PgCluster;
use crate::common::receiver::{config, next_call_logs, start, traces_url};
use crate::common::serve::{command, Listen, Serve};
use crate::common::sinks::sink;
use crate::common::wait::{wait_for, wait_for_blocking};

/// The LiveKit API secret of the tests' worker.
const LIVEKIT_SECRET: &str = "lk-api-secret-for-tests";
/// The LiveKit fixture's call, as its README gives it.
const FIXTURE_CALL: &str = "livekit-basic-0001";
const FIXTURE_TRACE: &str = "c47878fe9028d3c49ac93cf9aa429a9e";
/// When the fixture's `agent_session` (its root) starts, Unix ns.
const FIXTURE_START_NS: u64 = 1_795_376_012_618_068_136;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A receiver with the API on, storing in `dir`.
fn with_api(dir: &Path) -> ServeConfig {
    ServeConfig {
        api_addr: Some(LOOPBACK),
        ..config(dir)
    }
}

fn write_secret(dir: &Path, name: &str, value: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

/// A LiveKit access token as livekit-api's `AccessToken().with_observability_grants(
/// ObservabilityGrants(write=True)).with_ttl(...).to_jwt()` makes it: HS256, its claims.
fn livekit_jwt(secret: &str, expires: i64) -> String {
    let claims = json!({
        "observability": {"write": true},
        "sub": "",
        "iss": "APItestkey",
        "nbf": now_secs(),
        "exp": expires,
    });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    format!("Bearer {token}")
}

/// `report.chat_history.to_dict(exclude_timestamp=False)` of the fixture's call: its items
/// with their per-message metrics.
fn chat_history() -> Value {
    json!({"items": [
        {"id": "item_1", "type": "message", "role": "user", "content": ["Hello, how are you?"],
         "interrupted": false, "created_at": 1795376014.6,
         "metrics": {"transcription_delay": 0.201, "end_of_turn_delay": 0.533}},
        {"id": "item_2", "type": "message", "role": "assistant",
         "content": ["I'm doing well, thank you!"], "interrupted": false,
         "created_at": 1795376015.3, "metrics": {"llm_node_ttft": 0.102, "tts_node_ttfb": 0.202,
         "e2e_latency": 0.737}}
    ]})
}

/// The fixture's requests as a worker with `LIVEKIT_OBSERVABILITY_URL` sends them: `room_id`
/// and `job_id` on its resource and on every span (its session metadata).
fn fixture_from_room(room: &str, job: &str) -> Vec<Vec<u8>> {
    requests(&fixture_dir("livekit-basic"))
        .into_iter()
        .map(|mut request| {
            for resource in request.resource_spans.iter_mut() {
                if let Some(r) = resource.resource.as_mut() {
                    r.attributes.push(kv_str("room_id", room));
                    r.attributes.push(kv_str("job_id", job));
                }
            }
            for s in spans_mut(&mut request) {
                s.attributes.push(kv_str("room_id", room));
                s.attributes.push(kv_str("job_id", job));
            }
            request.encode_to_vec()
        })
        .collect()
}

/// Unix ns of 2026-03-21T10:00:00Z, where the tests' own calls start.
const T0_NS: u64 = 1_774_087_200_000_000_000;
const MS: u64 = 1_000_000;

/// A call `id` in the voicetrace dialect: a 4 s `conversation` from [`T0_NS`] with one turn.
fn call_request(id: &str, trace: u8) -> Vec<u8> {
    let trace_id = [trace; 16];
    let spans = vec![
        span(
            &trace_id,
            &[1; 8],
            None,
            "conversation",
            T0_NS,
            T0_NS + 4000 * MS,
            vec![kv_str("conversation.id", id)],
        ),
        span(
            &trace_id,
            &[2; 8],
            Some(&[1; 8]),
            "turn",
            T0_NS + 500 * MS,
            T0_NS + 3000 * MS,
            vec![
                kv_str("conversation.id", id),
                kv_i64("turn.index", 0),
                kv_str("turn.user.text", "Hello, how are you?"),
            ],
        ),
    ];
    request(Some("rec-agent"), spans).encode_to_vec()
}

/// POSTs `body` with these headers, as protobuf unless they name another content type.
async fn send(url: &str, body: Vec<u8>, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    if !headers.iter().any(|(name, _)| *name == "content-type") {
        request = request.header("content-type", "application/x-protobuf");
    }
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

async fn put(
    http: SocketAddr,
    call: &str,
    kind: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .put(format!("http://{http}/v1/recordings/{call}"))
        .header("content-type", kind)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn api_json(api: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(format!("http://{api}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// GET (with a Range, if given) → status, headers, body bytes.
async fn fetch(url: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = client().get(url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn recording(log: &CallLog) -> &voicetrace::receiver::calllog::Recording {
    log.recording
        .as_ref()
        .unwrap_or_else(|| panic!("no recording on {log:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_workers_upload_is_matched_to_the_fixtures_call_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write_secret(dir.path(), "livekit-secret", LIVEKIT_SECRET);
    let receiver = start(ServeConfig {
        livekit_api_secret_file: Some(secret),
        ingest_token_file: Some(write_secret(dir.path(), "ingest", "ingest-token")),
        ..with_api(dir.path())
    })
    .await;
    let (http, api) = (receiver.otlp_http_addr, receiver.api_addr.unwrap());
    let mut calls = receiver.subscribe();
    let jwt = livekit_jwt(LIVEKIT_SECRET, now_secs() + 6 * 3600);
    let traces = format!("http://{http}/observability/traces/otlp/v0");
    for body in fixture_from_room("RM_fixtureRoom", "AJ_fixtureJob") {
        let auth = [
            ("authorization", jwt.clone()),
            ("content-encoding", "gzip".to_string()),
        ];
        assert_eq!(send(&traces, gzip(&body), &auth).await.status(), 200);
    }
    let first = next_call_logs(&mut calls, 1).await.remove(0);
    assert_eq!(
        (first.id.as_str(), first.trace_id.as_str()),
        (FIXTURE_CALL, FIXTURE_TRACE)
    );
    let livekit = first
        .livekit
        .clone()
        .expect("the call names its room and job");
    assert_eq!(livekit.room_id.as_deref(), Some("RM_fixtureRoom"));
    assert_eq!(livekit.job_id.as_deref(), Some("AJ_fixtureJob"));
    assert!(first.recording.is_none());

    // The recorder started 250 ms after the session.
    let started_ms = (FIXTURE_START_NS / MS) as i64 + 250;
    let upload_header = RecordingHeader {
        room_id: "RM_fixtureRoom".into(),
        job_id: "AJ_fixtureJob".into(),
        start_time: Some(prost_types::Timestamp {
            seconds: started_ms / 1000,
            nanos: (started_ms % 1000) as i32 * 1_000_000,
        }),
        simulated: false,
    };
    let audio = std::fs::read(&speech().ogg).unwrap();
    let chat = chat_history().to_string();
    let (kind, body) = livekit_upload(&upload_header, &chat, Some(&audio));
    let upload = format!("http://{http}/observability/recordings/v0");
    let auth = [
        ("authorization", jwt.clone()),
        ("content-type", kind.clone()),
    ];
    let answer = send(&upload, body.clone(), &auth).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    let revised = next_call_logs(&mut calls, 1).await.remove(0);
    assert_eq!(revised.revision, 2, "the recording makes a new revision");
    let rec = recording(&revised);
    assert_eq!(rec.media_type, "audio/ogg");
    assert!(
        (rec.duration_ms - speech().duration_ms).abs() <= 80,
        "{rec:?} vs {} ms",
        speech().duration_ms
    );
    let call_started_ms = (FIXTURE_START_NS / MS) as i64;
    assert_eq!(
        rec.start_offset_ms,
        call_started_ms - started_ms,
        "-250: the audio starts after the call"
    );
    assert_eq!(
        rec.url,
        format!("/v1/recordings/{FIXTURE_CALL}?traceId={FIXTURE_TRACE}")
    );

    // The API's call log carries a signed link that plays without a token.
    let (status, log) = api_json(
        api,
        &format!("/v1/observability/calls/{FIXTURE_CALL}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let url = log["recording"]["url"].as_str().unwrap();
    assert!(url.contains("&signature="), "{url}");
    let (status, headers, bytes) = fetch(&format!("http://{api}{url}"), None).await;
    assert_eq!(
        (status, header(&headers, "content-type")),
        (200, "audio/ogg")
    );
    assert!(bytes == audio, "the recording is served byte for byte");
    let (status, served_chat) = api_json(
        api,
        &format!("/v1/observability/calls/{FIXTURE_CALL}/chat-history"),
        None,
    )
    .await;
    assert_eq!((status, served_chat), (200, chat_history()));

    // A worker with another secret, or a token past its time, is refused on every path.
    for refused in [
        livekit_jwt("another-secret", now_secs() + 3600),
        livekit_jwt(LIVEKIT_SECRET, now_secs() - 3600),
    ] {
        let auth = [
            ("authorization", refused.clone()),
            ("content-type", kind.clone()),
        ];
        assert_eq!(send(&upload, body.clone(), &auth).await.status(), 401);
        let auth = [("authorization", refused)];
        assert_eq!(send(&traces, Vec::new(), &auth).await.status(), 401);
    }
    let metrics = format!("http://{http}/observability/metrics/otlp/v0");
    assert_eq!(
        send(&metrics, Vec::new(), &[("authorization", jwt)])
            .await
            .status(),
        200
    );
    receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_before_its_spans_is_attached_when_the_call_appears_and_served_with_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(with_api(dir.path())).await;
    let (http, api) = (receiver.otlp_http_addr, receiver.api_addr.unwrap());
    let mut calls = receiver.subscribe();
    let wav = std::fs::read(&speech().wav).unwrap();
    // The recording's first sample came 1.5 s before the call's root span started.
    let answer = put(
        http,
        "rec-1",
        "audio/wav",
        wav.clone(),
        &[("x-recording-start", "2026-03-21T09:59:58.500Z")],
    )
    .await;
    assert_eq!(answer.status(), 201);
    let kept: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(
        (kept["channels"].as_u64(), kept["sampleRate"].as_u64()),
        (Some(1), Some(16000))
    );
    assert_eq!(kept["bytes"].as_u64(), Some(wav.len() as u64));

    assert_eq!(
        send(&traces_url(&receiver), call_request("rec-1", 0x21), &[])
            .await
            .status(),
        200
    );
    let log = next_call_logs(&mut calls, 1).await.remove(0);
    assert_eq!(log.revision, 1, "attached as the call log is first stored");
    let rec = recording(&log);
    assert_eq!(
        (rec.media_type.as_str(), rec.start_offset_ms),
        ("audio/wav", 1500)
    );
    assert!(
        (rec.duration_ms - speech().duration_ms).abs() <= 1,
        "{rec:?}"
    );
    let turn = &log.turns[0];
    assert_eq!(
        voicetrace::receiver::recordings::align::position_ms(
            rec.start_offset_ms,
            turn.start_ms,
            rec.duration_ms
        ),
        Some(2000),
        "the turn at 500 ms into the call is 2 s into the audio"
    );

    let url = format!("http://{api}{}", rec.url);
    let len = wav.len();
    let (status, headers, bytes) = fetch(&url, None).await;
    assert_eq!((status, header(&headers, "accept-ranges")), (200, "bytes"));
    assert_eq!(header(&headers, "content-type"), "audio/wav");
    assert!(bytes == wav);
    for (range, start, end) in [
        ("bytes=100-199".to_string(), 100, 199),
        ("bytes=-50".to_string(), len - 50, len - 1),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=0-0".to_string(), 0, 0),
    ] {
        let (status, headers, bytes) = fetch(&url, Some(&range)).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {start}-{end}/{len}")
        );
        assert!(bytes == wav[start..=end], "{range}: byte for byte");
    }
    let (status, headers, bytes) = fetch(&url, Some(&format!("bytes={len}-"))).await;
    assert_eq!(
        (status, header(&headers, "content-range")),
        (416, format!("bytes */{len}").as_str())
    );
    assert!(bytes.is_empty());
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(head.headers(), "content-length"), len.to_string());

    // A FLAC upload for the call replaces the WAV: a new revision, and the WAV's file goes.
    let flac = std::fs::read(&speech().flac).unwrap();
    assert_eq!(
        put(http, "rec-1", "audio/flac", flac.clone(), &[])
            .await
            .status(),
        201
    );
    let revised = next_call_logs(&mut calls, 1).await.remove(0);
    assert_eq!(
        (revised.revision, recording(&revised).media_type.as_str()),
        (2, "audio/flac")
    );
    assert_eq!(
        recording(&revised).start_offset_ms,
        0,
        "no start given: the audio starts with the call"
    );
    let (status, _, bytes) = fetch(&url, None).await;
    assert!(status == 200 && bytes == flac);
    wait_for("the replaced WAV to be removed", || async {
        let files = std::fs::read_dir(dir.path().join("recordings")).unwrap();
        let wavs = files.filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "wav")
        });
        (wavs.count() == 0).then_some(())
    })
    .await;
    receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_bound_or_not_audio_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(ServeConfig {
        max_recording_bytes: 8 * 1024,
        ..with_api(dir.path())
    })
    .await;
    let (http, api) = (receiver.otlp_http_addr, receiver.api_addr.unwrap());
    let wav = std::fs::read(&speech().wav).unwrap();
    assert!(wav.len() > 8 * 1024);
    assert_eq!(
        put(http, "big", "audio/wav", wav.clone(), &[])
            .await
            .status(),
        413
    );
    // Streamed, with no length declared: refused once the bound is crossed.
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    let head = "PUT /v1/recordings/big HTTP/1.1\r\nhost: x\r\ncontent-type: audio/wav\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in wav.chunks(4096) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    assert_eq!(
        put(http, "text", "text/plain", b"hello".to_vec(), &[])
            .await
            .status(),
        415
    );
    let flac = std::fs::read(&speech().flac).unwrap();
    assert_eq!(
        put(http, "lies", "audio/ogg", flac[..4096].to_vec(), &[])
            .await
            .status(),
        415
    );
    assert_eq!(
        put(http, "noise", "audio/wav", vec![7; 1000], &[])
            .await
            .status(),
        400
    );
    let refused =
        |reason: &str| format!("voicetrace_recordings_refused_total{{reason=\"{reason}\"}}");
    assert_eq!(metric(api, &refused("too_large")).await, Some(2.0));
    assert_eq!(metric(api, &refused("unsupported_media")).await, Some(2.0));
    assert_eq!(
        metric(api, "voicetrace_recording_max_bytes").await,
        Some(8192.0)
    );
    let kept: Vec<_> = walk(&dir.path().join("recordings"));
    assert!(kept.is_empty(), "nothing refused stays on disk: {kept:?}");
    receiver.shutdown().await;
}

/// The files below `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_get_signed_links_that_need_no_token_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let cekura = Endpoint::start(Reply::Status(201)).await;
    let webhook = Endpoint::start(Reply::Status(200)).await;
    let api_port = free_port();
    let api_addr: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();
    let sinks = vec![
        sink(SinkKind::Cekura, &cekura.url(), Some("ck-key"), dir.path()).config(),
        sink(
            SinkKind::Webhook,
            &webhook.url(),
            Some("wh-secret"),
            dir.path(),
        )
        .config(),
    ];
    let receiver = start(ServeConfig {
        api_addr: Some(api_addr),
        public_url: Some(format!("http://{api_addr}/")),
        ingest_token_file: Some(write_secret(dir.path(), "ingest", "ingest-token")),
        api_token_file: Some(write_secret(dir.path(), "api", "api-token")),
        sinks,
        ..config(dir.path())
    })
    .await;
    let http = receiver.otlp_http_addr;
    let ingest = [("authorization", "Bearer ingest-token")];
    let ogg = std::fs::read(&speech().ogg).unwrap();
    assert_eq!(
        put(http, "signed-1", "audio/ogg", ogg.clone(), &[])
            .await
            .status(),
        401
    );
    let wrong = [("authorization", "Bearer nope")];
    assert_eq!(
        put(http, "signed-1", "audio/ogg", ogg.clone(), &wrong)
            .await
            .status(),
        401
    );
    assert_eq!(
        put(http, "signed-1", "audio/ogg", ogg.clone(), &ingest)
            .await
            .status(),
        201
    );
    let auth = [("authorization", "Bearer ingest-token".to_string())];
    assert_eq!(
        send(
            &traces_url(&receiver),
            call_request("signed-1", 0x31),
            &auth
        )
        .await
        .status(),
        200
    );

    let body = cekura.next().await.json;
    let link = body["voice_recording_url"]
        .as_str()
        .expect("voice_recording_url")
        .to_string();
    assert!(
        link.starts_with(&format!(
            "http://{api_addr}/v1/recordings/signed-1?traceId="
        )),
        "{link}"
    );
    let (status, headers, bytes) = fetch(&link, None).await;
    assert_eq!(
        (status, header(&headers, "content-type")),
        (200, "audio/ogg"),
        "no API token needed"
    );
    assert!(bytes == ogg);
    let (status, _, part) = fetch(&link, Some("bytes=10-19")).await;
    assert!(status == 206 && part == ogg[10..20]);
    let completed = wait_for("call_completed", || async {
        webhook.with_received(|all| {
            all.iter()
                .find(|r| r.json["type"] == "call_completed")
                .map(|r| r.json.clone())
        })
    })
    .await;
    let webhook_link = completed["call"]["recording_url"]
        .as_str()
        .expect("call.recording_url");
    assert_eq!(fetch(webhook_link, None).await.0, 200);

    // Without the token nor a signature: 401; altered or expired: 403.
    let trace = format!("{:032x}", u128::from_be_bytes([0x31; 16]));
    let plain = format!(
        "http://{api_addr}{}",
        recording_path("signed-1", &trace, None)
    );
    assert_eq!(fetch(&plain, None).await.0, 401);
    let tampered = link.replace("signed-1", "signed-2");
    assert_eq!(fetch(&tampered, None).await.0, 403);
    let later = link.replace("&expires=", "&expires=9");
    assert_eq!(fetch(&later, None).await.0, 403);
    let key: [u8; 32] = std::fs::read(dir.path().join("recording-link.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let expired_at = now_secs() - 60;
    let signature = LinkKey::new(key).sign("signed-1", &trace, expired_at);
    let expired = format!(
        "http://{api_addr}{}",
        recording_path("signed-1", &trace, Some((expired_at, &signature)))
    );
    let (status, _, body) = fetch(&expired, None).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("expired"));
    receiver.shutdown().await;
}

#[test]
fn a_crash_during_an_upload_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spawn = |listen: Listen| {
        Serve::spawn(
            command(&data, listen)
                .args(["--grace-ms", "200"])
                .stderr(std::process::Stdio::inherit()),
        )
    };
    let mut serve = spawn(Listen::with_api());
    let wav = std::fs::read(&speech().wav).unwrap();
    let mut stream = std::net::TcpStream::connect(serve.http).unwrap();
    write!(
        stream,
        "PUT /v1/recordings/crash-1 HTTP/1.1\r\nhost: x\r\ncontent-type: audio/wav\r\n\
         content-length: {}\r\n\r\n",
        wav.len()
    )
    .unwrap();
    stream.write_all(&wav[..wav.len() / 2]).unwrap();
    stream.flush().unwrap();
    let incoming = data.join("recordings").join("incoming");
    let partial = wait_for_blocking("half the upload on disk", || {
        walk(&incoming)
            .into_iter()
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() as usize >= wav.len() / 2))
    });
    serve.kill();
    assert!(partial.exists(), "the crash left the half-written upload");

    let listen = Listen {
        api: Some(LOOPBACK),
        ..Listen::otlp()
    };
    let serve = spawn(listen);
    assert!(
        walk(&data.join("recordings")).is_empty(),
        "nothing half-written is kept"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let api = serve.api.unwrap();
        let traces = format!("http://{}/v1/traces", serve.http);
        assert_eq!(
            send(&traces, call_request("crash-1", 0x41), &[])
                .await
                .status(),
            200
        );
        let log = wait_for("the call's log", || async {
            let (status, log) = api_json(api, "/v1/observability/calls/crash-1", None).await;
            (status == 200).then_some(log)
        })
        .await;
        assert!(
            log.get("recording").is_none(),
            "no recording listed: {log:#}"
        );
        let (status, _, _) = fetch(&format!("http://{api}/v1/recordings/crash-1"), None).await;
        assert_eq!(status, 404, "nothing served");
        assert_eq!(metric(api, "voicetrace_recordings_bytes").await, Some(0.0));
    });
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_go_after_the_idle_timeout_and_the_oldest_go_past_the_quota() {
    use voicetrace::receiver::metrics::ReceiverMetrics;
    use voicetrace::receiver::recordings::media::MediaType;
    use voicetrace::receiver::recordings::{Limits, Recordings, Setup, Upload};
    use voicetrace::receiver::store::{now_ms, RecordingRow, Store};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (attach, _announced) = tokio::sync::mpsc::channel(16);
    let wav = std::fs::read(&speech().wav).unwrap();
    let metrics = ReceiverMetrics::new();
    let recordings = Recordings::open(Setup {
        data_dir: dir.path().to_path_buf(),
        store: store.clone(),
        limits: Limits {
            max_recording_bytes: 1 << 30,
            max_total_bytes: 2 * wav.len() as u64,
            retention_ms: 0,
            orphan_after_ms: 120_000,
        },
        public_url: None,
        link_ttl_secs: 60,
        metrics: metrics.clone(),
        attach,
        redactor: None,
    })
    .unwrap();
    let keep = |call: &str, received_ms: i64| {
        let (recordings, wav, call) = (recordings.clone(), wav.clone(), call.to_string());
        let store = store.clone();
        async move {
            let id = Recordings::new_id();
            let mut incoming = recordings.incoming(&id).await.unwrap();
            incoming.write(&wav).await.unwrap();
            let row = RecordingRow {
                id,
                source: "upload".into(),
                named_call_id: Some(call.clone()),
                received_ms,
                ..RecordingRow::default()
            };
            let upload = Upload {
                audio: Some((incoming.finish().await.unwrap(), MediaType::Wav)),
                row,
                chat_history: None,
            };
            let row = recordings.keep(upload).await.unwrap();
            store
                .attach_recording(&row.id, &call, "t", received_ms)
                .unwrap();
            row
        }
    };
    let now = now_ms();
    let oldest = keep("q-1", now - 3000).await;
    let middle = keep("q-2", now - 2000).await;
    let newest = keep("q-3", now - 1000).await;
    let orphan = Recordings::new_id();
    store
        .insert_recording(
            &RecordingRow {
                id: orphan.clone(),
                source: "livekit".into(),
                job_id: Some("AJ_never".into()),
                received_ms: now - 1000,
                ..RecordingRow::default()
            },
            Some("{}"),
        )
        .unwrap();

    recordings.sweep_once(now).unwrap();
    let removed = |id: &str| store.recording(id).unwrap().and_then(|r| r.removed);
    assert_eq!(
        removed(&oldest.id).as_deref(),
        Some("quota"),
        "the oldest goes first"
    );
    assert_eq!((removed(&middle.id), removed(&newest.id)), (None, None));
    assert!(
        store.recording(&orphan).unwrap().is_some(),
        "within the idle timeout"
    );
    assert!(!dir
        .path()
        .join(format!("recordings/{}.wav", oldest.id))
        .exists());
    assert!(dir
        .path()
        .join(format!("recordings/{}.wav", newest.id))
        .exists());

    recordings.sweep_once(now + 120_000).unwrap();
    assert!(
        store.recording(&orphan).unwrap().is_none(),
        "named no call within the idle timeout"
    );
    let text = metrics.encode(false);
    for sample in [
        "voicetrace_recordings_removed_total{reason=\"quota\"} 1",
        "voicetrace_recordings_removed_total{reason=\"orphaned\"} 1",
        &format!("voicetrace_recordings_bytes {}", 2 * wav.len()),
        &format!("voicetrace_recordings_quota_bytes {}", 2 * wav.len()),
    ] {
        assert!(text.contains(sample), "{sample} in\n{text}");
    }
}

/// A client of the PostgreSQL database `url`, for what the receivers' APIs do not show.
async fn database(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The chunks of recording `id`'s audio in the database.
async fn chunks(db: &tokio_postgres::Client, id: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM recording_chunks WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_uploaded_to_one_receiver_of_a_fleet_is_served_by_another() {
    use voicetrace::receiver::store::postgres::audio::CHUNK_BYTES;

    let url = PgCluster::shared().fresh_database();
    let db = database(&url).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let fleet_member = |dir: &Path| ServeConfig {
        store_url: Some(url.clone()),
        api_token_file: Some(write_secret(dir, "api", "api-token")),
        ..with_api(dir)
    };
    let a = start(fleet_member(dirs[0].path())).await;
    let b = start(fleet_member(dirs[1].path())).await;
    let (a_api, b_api) = (a.api_addr.unwrap(), b.api_addr.unwrap());
    let mut b_calls = b.subscribe();

    // Uploaded to A before its call's spans; the spans go to B, whose recorder attaches it.
    let long = std::fs::read(&speech().long_wav).unwrap();
    let len = long.len() as u64;
    assert!(len > 2 * CHUNK_BYTES, "{len} bytes: three chunks");
    let answer = put(
        a.otlp_http_addr,
        "fleet-rec-1",
        "audio/wav",
        long.clone(),
        &[],
    )
    .await;
    assert_eq!(answer.status(), 201);
    let kept: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    let wav_id = kept["id"].as_str().expect("the recording's id").to_string();
    assert_eq!(chunks(&db, &wav_id).await, 3, "stored in 1 MiB chunks");
    assert_eq!(
        send(&traces_url(&b), call_request("fleet-rec-1", 0x51), &[])
            .await
            .status(),
        200
    );
    let log = next_call_logs(&mut b_calls, 1).await.remove(0);
    assert_eq!(recording(&log).media_type, "audio/wav", "attached by B");

    // A's API hands out a link signed with the fleet's key: B serves it without the token,
    // whole and by ranges, within a chunk and across chunks, byte for byte.
    let (status, from_a) = api_json(
        a_api,
        "/v1/observability/calls/fleet-rec-1",
        Some("api-token"),
    )
    .await;
    assert_eq!(status, 200, "{from_a}");
    let link = from_a["recording"]["url"].as_str().unwrap().to_string();
    assert!(link.contains("&signature="), "{link}");
    let chunk = CHUNK_BYTES;
    for api in [b_api, a_api] {
        let signed = format!("http://{api}{link}");
        let (status, headers, bytes) = fetch(&signed, None).await;
        assert_eq!(
            (status, header(&headers, "content-type")),
            (200, "audio/wav"),
            "{api}"
        );
        assert!(bytes == long, "{api} serves the recording byte for byte");
        for (start, end) in [
            (0, 0),
            (100, 199),
            (chunk - 10, chunk + 9),
            (2 * chunk - 1, 2 * chunk),
            (100, 2 * chunk + 100),
            (len - 100, len - 1),
        ] {
            let range = format!("bytes={start}-{end}");
            let (status, headers, bytes) = fetch(&signed, Some(&range)).await;
            assert_eq!(status, 206, "{api} {range}");
            assert_eq!(
                header(&headers, "content-range"),
                format!("bytes {start}-{end}/{len}")
            );
            assert!(
                bytes == long[start as usize..=end as usize],
                "{api} {range}: byte for byte"
            );
        }
    }
    let plain = format!("http://{b_api}{}", link.split('&').next().unwrap());
    assert_eq!(
        fetch(&plain, None).await.0,
        401,
        "without the signature: the token"
    );
    for dir in &dirs {
        assert!(
            walk(&dir.path().join("recordings")).is_empty(),
            "no audio on a receiver's disk"
        );
        assert!(
            !dir.path().join("recording-link.key").exists(),
            "the link key is the fleet's, in the store"
        );
    }

    // A FLAC for the call, uploaded to B, replaces the WAV: A serves the FLAC, and the WAV's
    // chunks leave the database (its row stays, saying why its audio went).
    let flac = std::fs::read(&speech().flac).unwrap();
    assert_eq!(
        put(
            b.otlp_http_addr,
            "fleet-rec-1",
            "audio/flac",
            flac.clone(),
            &[]
        )
        .await
        .status(),
        201
    );
    let revised = next_call_logs(&mut b_calls, 1).await.remove(0);
    assert_eq!(recording(&revised).media_type, "audio/flac");
    let (status, _, bytes) = fetch(&format!("http://{a_api}{link}"), None).await;
    assert!(status == 200 && bytes == flac, "A serves the FLAC B took");
    wait_for("the replaced WAV's chunks deleted", || async {
        (chunks(&db, &wav_id).await == 0).then_some(())
    })
    .await;
    let removed: Option<String> = db
        .query_one("SELECT removed FROM recordings WHERE id = $1", &[&wav_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(removed.as_deref(), Some("replaced"));
    a.shutdown().await;
    b.shutdown().await;
}
