//! `voicetrace.v1.CallLogService` over a real socket: tonic on 127.0.0.1:0 over an in-memory
//! store and a broadcast channel standing in for the receiver's finished call logs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use crate::common::api::{FailingReader, MemoryReader};
use crate::common::calllog::sample_calls;
use crate::common::net::LOOPBACK;
use crate::common::wait::{wait_for, within};
use voicetrace::receiver::api::grpc::pb::call_log_service_client::CallLogServiceClient;
use voicetrace::receiver::api::grpc::{call_log_service, call_log_service_until, pb};
use voicetrace::receiver::api::CallReader;
use voicetrace::receiver::calllog::{CallLog, CallStatus};

/// Serves the service on loopback and connects a client to it.
async fn serve(
    reader: Arc<dyn CallReader>,
    finished: broadcast::Sender<Arc<CallLog>>,
) -> CallLogServiceClient<Channel> {
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(call_log_service(reader, finished))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    CallLogServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn sample_client() -> (
    CallLogServiceClient<Channel>,
    broadcast::Sender<Arc<CallLog>>,
) {
    let (finished, _) = broadcast::channel(16);
    let reader = Arc::new(MemoryReader {
        calls: sample_calls(),
    });
    (serve(reader, finished.clone()).await, finished)
}

/// The next call log on a watch stream, failing the test after the deadline.
async fn next(stream: &mut Streaming<pb::CallLog>) -> pb::CallLog {
    within("a call log on the watch stream", stream.message())
        .await
        .expect("the watch stream failed")
        .expect("the watch stream ended")
}

/// A service over no stored calls whose finished call logs come from a channel with room for
/// 4 per subscriber, and a watch of every agent on it.
async fn watch_of_nothing() -> (
    broadcast::Sender<Arc<CallLog>>,
    CallLogServiceClient<Channel>,
    Streaming<pb::CallLog>,
) {
    let (finished, _) = broadcast::channel(4);
    let reader = Arc::new(MemoryReader { calls: Vec::new() });
    let mut client = serve(reader, finished.clone()).await;
    let watch = client
        .watch_calls(pb::WatchCallsRequest::default())
        .await
        .unwrap()
        .into_inner();
    (finished, client, watch)
}

fn finished_log(id: &str, agent: &str) -> Arc<CallLog> {
    let mut log = sample_calls().remove(0);
    log.id = id.to_string();
    log.agent_id = Some(agent.to_string());
    Arc::new(log)
}

fn list(agent: Option<&str>, limit: u32, cursor: Option<String>) -> pb::ListCallsRequest {
    pb::ListCallsRequest {
        agent_id: agent.map(str::to_string),
        limit,
        cursor,
        ..Default::default()
    }
}

fn ids(response: &pb::ListCallsResponse) -> Vec<&str> {
    response.calls.iter().map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn get_call_answers_the_call_log_with_the_json_fields() {
    let (mut client, _finished) = sample_client().await;
    let expected = sample_calls().remove(0);

    let log = client
        .get_call(pb::GetCallRequest {
            id: "call_a".to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(log.id, "call_a");
    assert_eq!(log.trace_id, expected.trace_id);
    assert_eq!(log.status(), pb::CallStatus::Completed);
    assert_eq!(log.dialect(), pb::Dialect::Voicetrace);
    assert_eq!(log.agent_id.as_deref(), Some("agent_support"));
    assert_eq!(
        log.recording_url.as_deref(),
        Some("https://recordings.test/call_a.wav")
    );
    assert_eq!(log.started_at, expected.started_at);
    assert_eq!(log.span_count, 12);
    assert_eq!(log.turns.len(), 3);

    let greeting = &log.turns[0];
    assert_eq!(greeting.speaker, "agent");
    assert_eq!(
        greeting.latency_ms, None,
        "a greeting has no voice-to-voice"
    );

    let slow = &log.turns[1];
    assert_eq!(
        (slow.stt_ms, slow.llm_ms, slow.tts_ms, slow.latency_ms),
        (Some(180), Some(420), Some(2300), Some(3100))
    );
    assert!(slow.interrupted);
    assert_eq!(
        slow.interruption.as_ref().and_then(|i| i.stop_latency_ms),
        Some(700)
    );
    let tts = &slow.providers["tts"];
    assert_eq!(tts.provider.as_deref(), Some("cartesia"));
    assert_eq!(tts.model.as_deref(), Some("sonic-2"));
    assert_eq!(log.turns[2].tools[0].name, "lookup_order");

    let metrics = log.metrics.as_ref().unwrap();
    assert_eq!(metrics.total_duration_ms, 62_000);
    assert_eq!(metrics.turns, expected.metrics.turns);
    assert_eq!(
        metrics.p95_turn_latency_ms,
        expected.metrics.p95_turn_latency_ms
    );

    // The analysis found the TTS spike; the issue keeps its kind, turn, stage and figures.
    assert_eq!(log.issues.len(), expected.issues.len());
    let spike = log
        .issues
        .iter()
        .find(|i| i.r#type == "high_latency" && i.stage() == pb::Stage::Tts)
        .expect("the TTS latency spike is an issue");
    assert_eq!(spike.turn, Some(1));
    assert_eq!(spike.value_ms, Some(2300));
    assert_eq!(spike.target_ms, Some(900));
    assert!(spike.description.contains("TTS"), "{}", spike.description);
}

#[tokio::test]
async fn get_call_of_an_unknown_id_is_not_found() {
    let (mut client, _finished) = sample_client().await;
    let status = client
        .get_call(pb::GetCallRequest {
            id: "call_missing".to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("call_missing"),
        "{}",
        status.message()
    );

    let status = client
        .get_call(pb::GetCallRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn list_calls_filters_and_pages_newest_first() {
    let (mut client, _finished) = sample_client().await;

    let all = client
        .list_calls(list(None, 0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&all), ["call_c", "call_b", "call_a"]);
    assert_eq!(all.next_cursor, None);

    let support = client
        .list_calls(list(Some("agent_support"), 0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&support), ["call_c", "call_a"]);

    let failed = client
        .list_calls(pb::ListCallsRequest {
            status: Some(pb::CallStatus::Failed.into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&failed), ["call_b"]);
    assert_eq!(failed.calls[0].status(), pb::CallStatus::Failed);

    // 10:30 to 11:30 UTC on 2026-03-21 holds call_b only.
    let window = client
        .list_calls(pb::ListCallsRequest {
            since_ms: Some(1_774_089_000_000),
            until_ms: Some(1_774_092_600_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&window), ["call_b"]);

    let first = client
        .list_calls(list(None, 2, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&first), ["call_c", "call_b"]);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = client
        .list_calls(list(None, 2, Some(cursor)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&second), ["call_a"]);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn list_calls_rejects_bad_input_naming_the_field() {
    let (mut client, _finished) = sample_client().await;
    let cases = [
        (list(None, 101, None), "limit"),
        (list(None, 0, Some("bogus".to_string())), "cursor"),
        (list(None, 0, Some(String::new())), "cursor"),
        (list(Some(""), 0, None), "agent_id"),
        (
            pb::ListCallsRequest {
                status: Some(42),
                ..Default::default()
            },
            "status",
        ),
        (
            pb::ListCallsRequest {
                since_ms: Some(2_000),
                until_ms: Some(1_000),
                ..Default::default()
            },
            "until_ms",
        ),
    ];
    for (request, field) in cases {
        let status = client.list_calls(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_broken_store_is_unavailable_or_internal() {
    let (finished, _) = broadcast::channel(4);
    let mut busy = serve(
        Arc::new(FailingReader { unavailable: true }),
        finished.clone(),
    )
    .await;
    let status = busy.list_calls(list(None, 0, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    let mut broken = serve(Arc::new(FailingReader { unavailable: false }), finished).await;
    let status = broken
        .get_call(pb::GetCallRequest {
            id: "call_a".to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        !status.message().contains("disk"),
        "store details stay in the log: {}",
        status.message()
    );
}

#[tokio::test]
async fn watch_calls_streams_finished_and_revised_call_logs_of_the_agent() {
    let (mut client, finished) = sample_client().await;
    let mut all = client
        .watch_calls(pb::WatchCallsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut support = client
        .watch_calls(pb::WatchCallsRequest {
            agent_id: Some("agent_support".to_string()),
        })
        .await
        .unwrap()
        .into_inner();

    // Both watches are subscribed once their answers have started.
    finished
        .send(finished_log("call_1", "agent_sales"))
        .unwrap();
    finished
        .send(finished_log("call_2", "agent_support"))
        .unwrap();
    let mut revised = (*finished_log("call_2", "agent_support")).clone();
    revised.revision = 2;
    revised.status = CallStatus::Failed;
    finished.send(Arc::new(revised)).unwrap();

    let got: Vec<(String, u32)> = [
        next(&mut all).await,
        next(&mut all).await,
        next(&mut all).await,
    ]
    .into_iter()
    .map(|c| (c.id, c.revision))
    .collect();
    assert_eq!(
        got,
        [
            ("call_1".to_string(), 1),
            ("call_2".to_string(), 1),
            ("call_2".to_string(), 2)
        ]
    );

    let first = next(&mut support).await;
    assert_eq!((first.id.as_str(), first.revision), ("call_2", 1));
    let second = next(&mut support).await;
    assert_eq!((second.id.as_str(), second.revision), ("call_2", 2));
    assert_eq!(second.status(), pb::CallStatus::Failed);
    assert_eq!(second.agent_id.as_deref(), Some("agent_support"));
}

#[tokio::test]
async fn a_lagging_watcher_gets_the_newest_call_logs_and_stays_open() {
    // Room for 4 call logs per subscriber: the burst below overruns it.
    let (finished, _client, mut watch) = watch_of_nothing().await;

    // A current-thread runtime: nothing else runs until this loop is done, so the watcher
    // misses all but the newest 4.
    for i in 0..50 {
        finished
            .send(finished_log(&format!("burst_{i}"), "agent_support"))
            .unwrap();
    }
    for i in 46..50 {
        assert_eq!(next(&mut watch).await.id, format!("burst_{i}"));
    }
    finished
        .send(finished_log("after", "agent_support"))
        .unwrap();
    assert_eq!(next(&mut watch).await.id, "after");
}

#[tokio::test]
async fn a_watcher_that_hangs_up_unsubscribes() {
    let (finished, _client, mut watch) = watch_of_nothing().await;
    assert_eq!(finished.receiver_count(), 1);
    finished
        .send(finished_log("call_1", "agent_support"))
        .unwrap();
    assert_eq!(next(&mut watch).await.id, "call_1");

    drop(watch);
    // The hang-up travels over the socket; poll for its effect with a deadline.
    wait_for(
        "the watch to let go of its subscription after the client hung up",
        || {
            let count = finished.receiver_count();
            async move { (count == 0).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_stop_signal_ends_open_watches_so_the_server_can_shut_down() {
    let (finished, _) = broadcast::channel(4);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = Arc::new(MemoryReader { calls: Vec::new() });
    let mut shutdown = stop_rx.clone();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(call_log_service_until(reader, finished.clone(), stop_rx))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = shutdown.wait_for(|s| *s).await;
            }),
    );
    let mut client = CallLogServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut watch = client
        .watch_calls(pb::WatchCallsRequest::default())
        .await
        .unwrap()
        .into_inner();
    finished
        .send(finished_log("call_1", "agent_support"))
        .unwrap();
    assert_eq!(next(&mut watch).await.id, "call_1");

    stop.send(true).unwrap();
    let ended = within("the watch to end on the stop signal", watch.message()).await;
    assert_eq!(ended.unwrap_err().code(), Code::Unavailable);
    within("the server's graceful shutdown despite the watch", server)
        .await
        .unwrap()
        .unwrap();
}
