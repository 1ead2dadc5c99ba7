//! The OpenAPI 3 document served at `/openapi.json`: exactly the routes of
//! [`super::routes`] (a unit test holds the two together).

use serde_json::{json, Value};

/// The OpenAPI version the document is written in.
pub const OPENAPI_VERSION: &str = "3.0.3";

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn param(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn list_operation(id: &str, summary: &str) -> Value {
    json!({"get": {
        "operationId": id,
        "summary": summary,
        "tags": ["observability"],
        "parameters": [param("agentId"), param("status"), param("since"), param("until"),
                       param("limit"), param("cursor")],
        "responses": {
            "200": json_response("One page of calls, newest first", "CallList"),
            "400": error_response("A query parameter is malformed or unknown; the message names it"),
            "503": error_response("The call store is unavailable")
        }
    }})
}

fn detail_operation(id: &str, summary: &str, path_param: &str, schema: &str) -> Value {
    json!({"get": {
        "operationId": id,
        "summary": summary,
        "tags": ["observability"],
        "parameters": [param(path_param), param("traceId")],
        "responses": {
            "200": json_response("Found", schema),
            "404": error_response("No call with this id (and trace id)")
        }
    }})
}

fn plain_operation(id: &str, summary: &str, responses: Value) -> Value {
    json!({"get": {"operationId": id, "summary": summary, "tags": ["operations"], "responses": responses}})
}

/// Paths open without the API token (orchestrators' probes).
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// The document. Every operation but the health probes declares the bearer token and its 401
/// answer: the receiver requires it when started with an API token (`--api-token-file` or
/// `VOICETRACE_API_TOKEN`), and answers as if it were absent otherwise.
pub fn document() -> Value {
    let mut doc = paths_and_schemas();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(get) = item.get_mut("get").and_then(Value::as_object_mut) else {
                continue;
            };
            if OPEN_PATHS.contains(&path.as_str()) {
                get.insert("security".into(), json!([]));
            } else if let Some(responses) = get.get_mut("responses").and_then(Value::as_object_mut)
            {
                responses.insert(
                    "401".into(),
                    error_response("The API token is missing or wrong (code unauthenticated)"),
                );
            }
        }
    }
    doc["security"] = json!([{"bearerAuth": []}]);
    doc["components"]["securitySchemes"] = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "Required only when the receiver has an API token"}
    });
    doc
}

fn paths_and_schemas() -> Value {
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "voicetrace receiver API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Call logs of voice agents assembled from OpenTelemetry spans: per-turn \
                            STT/LLM/TTS and voice-to-voice latency, root-cause issues, \
                            interruption quality, Prometheus metrics. Sessions and calls are the \
                            same objects under two names."
        },
        "paths": {
            "/v1/observability/sessions": list_operation("listSessions", "List sessions"),
            "/v1/observability/sessions/interruption-quality": {"get": {
                "operationId": "interruptionQuality",
                "summary": "Interruption detection latency, stop latency and bleed-through words over a time window",
                "description": "Stop latency: from the interruption's detection to the end of the agent's audio where the source reports detection, else from the caller's first sound (an upper bound that includes detection; such figures are marked derived in the call log's timingSource).",
                "tags": ["observability"],
                "parameters": [param("agentId"),
                    {"name": "since", "in": "query", "required": false,
                     "description": "Window start (RFC 3339 or Unix ms); default: 24 hours before until",
                     "schema": {"type": "string"}},
                    {"name": "until", "in": "query", "required": false,
                     "description": "Window end, exclusive (RFC 3339 or Unix ms); default: now",
                     "schema": {"type": "string"}}],
                "responses": {
                    "200": json_response("The aggregate", "InterruptionQuality"),
                    "400": error_response("A query parameter is malformed or unknown"),
                    "503": error_response("The call store is unavailable")
                }
            }},
            "/v1/observability/sessions/{sessionId}":
                detail_operation("getSession", "A session's call log with turns and metrics", "sessionId", "CallLog"),
            "/v1/observability/sessions/{sessionId}/root-cause":
                detail_operation("getSessionRootCause", "Issues found in a session", "sessionId", "SessionRootCause"),
            "/v1/observability/calls": list_operation("listCalls", "List calls"),
            "/v1/observability/calls/{callId}":
                detail_operation("getCall", "A call log with turns and metrics", "callId", "CallLog"),
            "/v1/observability/calls/{callId}/root-cause":
                detail_operation("getCallRootCause", "Issues found in a call", "callId", "CallRootCause"),
            "/v1/observability/calls/{callId}/chat-history": {"get": {
                "operationId": "getCallChatHistory",
                "summary": "The chat history a LiveKit worker uploaded with its recording (chat items with per-message metrics), as uploaded",
                "tags": ["observability"],
                "parameters": [param("callId"), param("traceId")],
                "responses": {
                    "200": {"description": "The chat history", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "404": error_response("No call with this id (code not_found), or no chat history (code no_chat_history)")
                }
            }},
            "/v1/recordings/{callId}": {"get": {
                "operationId": "getRecording",
                "summary": "The call's recording (HEAD too), with HTTP Range; a call with only the agent's recording URL is redirected there",
                "description": "With expires and signature (a signed link, as the call log's recording.url in API answers and the links sent to sinks), no API token is needed.",
                "tags": ["observability"],
                "parameters": [param("callId"), param("traceId"),
                    {"name": "Range", "in": "header", "required": false,
                     "description": "One byte range (bytes=START-END, START-, -SUFFIX); several ranges are answered 200 with the whole file",
                     "schema": {"type": "string"}},
                    {"name": "expires", "in": "query", "required": false,
                     "description": "A signed link's expiry, Unix seconds", "schema": {"type": "integer"}},
                    {"name": "signature", "in": "query", "required": false,
                     "description": "A signed link's signature (hex HMAC-SHA256)", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The whole recording",
                            "headers": {"Accept-Ranges": {"schema": {"type": "string"}}},
                            "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}}},
                    "206": {"description": "The range asked for",
                            "headers": {"Content-Range": {"schema": {"type": "string"}},
                                        "Accept-Ranges": {"schema": {"type": "string"}}},
                            "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}}},
                    "307": {"description": "Redirect to the agent's recording URL (the receiver keeps no recording of the call)",
                            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}},
                    "403": error_response("A signed link that expired or was altered (code invalid_link)"),
                    "404": error_response("No call with this id (code not_found), or the call has no recording (code no_recording)"),
                    "410": error_response("The recording was removed: retention or quota (code recording_removed)"),
                    "416": {"description": "The range is outside the recording",
                            "headers": {"Content-Range": {"schema": {"type": "string"}}}}
                }
            }},
            "/healthz": plain_operation("healthz", "Liveness", json!({
                "200": {"description": "The process answers",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
            })),
            "/readyz": plain_operation("readyz", "Readiness", json!({
                "200": {"description": "Ready",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                "503": error_response("Starting")
            })),
            "/metrics": plain_operation("metrics", "Prometheus metrics; OpenMetrics with trace_id exemplars when Accept asks for application/openmetrics-text", json!({
                "200": {"description": "Metrics", "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/openmetrics-text": {"schema": {"type": "string"}}
                }}
            })),
            "/openapi.json": plain_operation("openapi", "This document", json!({
                "200": {"description": "OpenAPI 3 document",
                        "content": {"application/json": {"schema": {"type": "object"}}}}
            }))
        },
        "components": {
            "parameters": {
                "agentId": {"name": "agentId", "in": "query", "required": false,
                            "description": "Only calls of this agent", "schema": {"type": "string"}},
                "status": {"name": "status", "in": "query", "required": false,
                           "description": "Only calls with this status",
                           "schema": {"type": "string", "enum": ["completed", "failed", "incomplete"]}},
                "since": {"name": "since", "in": "query", "required": false,
                          "description": "Only calls started at or after this time (RFC 3339 or Unix ms)",
                          "schema": {"type": "string"}},
                "until": {"name": "until", "in": "query", "required": false,
                          "description": "Only calls started before this time (RFC 3339 or Unix ms)",
                          "schema": {"type": "string"}},
                "limit": {"name": "limit", "in": "query", "required": false,
                          "description": "Page size",
                          "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                "cursor": {"name": "cursor", "in": "query", "required": false,
                           "description": "nextCursor of the previous page", "schema": {"type": "string"}},
                "sessionId": {"name": "sessionId", "in": "path", "required": true,
                              "description": "The session (call) id", "schema": {"type": "string"}},
                "callId": {"name": "callId", "in": "path", "required": true,
                           "description": "The call id", "schema": {"type": "string"}},
                "traceId": {"name": "traceId", "in": "query", "required": false,
                            "description": "Which call, when several share the id (one per trace); default: the most recent",
                            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}
            },
            "schemas": schemas()
        }
    })
}

fn schemas() -> Value {
    let int = json!({"type": "integer"});
    let nint = json!({"type": "integer", "nullable": true});
    let nstr = json!({"type": "string", "nullable": true});
    let distribution = json!({"type": "object", "required": ["count", "p50", "p95"], "properties": {
        "count": int, "p50": nint, "p95": nint}});
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Error".to_string(),
        json!({"type": "object", "required": ["error"], "properties": {
            "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}}),
    );
    schemas.insert("Status".to_string(), json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}));
    schemas.insert(
        "Links".to_string(),
        json!({"type": "object", "properties": {"trace": nstr}}),
    );
    schemas.insert("CallSummary".to_string(), json!({"type": "object",
            "required": ["id", "traceId", "status", "startedAt", "endedAt", "turns", "issues"],
            "properties": {
                "id": {"type": "string"}, "traceId": {"type": "string"}, "agentId": nstr,
                "status": {"type": "string", "enum": ["completed", "failed", "incomplete"]},
                "startedAt": {"type": "string", "format": "date-time"},
                "endedAt": {"type": "string", "format": "date-time"},
                "durationMs": int, "turns": int, "avgTurnLatencyMs": nint,
                "p95TurnLatencyMs": nint, "issues": {"type": "integer", "description": "Number of issues"},
                "revision": int, "links": {"$ref": "#/components/schemas/Links"}}}));
    schemas.insert(
        "CallList".to_string(),
        json!({"type": "object", "required": ["data", "nextCursor", "hasMore"], "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/CallSummary"}},
            "nextCursor": nstr, "hasMore": {"type": "boolean"}}}),
    );
    schemas.insert("Issue".to_string(), json!({"type": "object", "required": ["type", "description", "recommendation"], "properties": {
            "type": {"type": "string", "enum": ["high_latency", "stage_failed", "slow_interruption_stop", "incomplete_call"]},
            "turn": nint, "stage": nstr, "valueMs": nint, "targetMs": nint,
            "description": {"type": "string"}, "recommendation": {"type": "string"}}}));
    let mut turn = json!({"type": "object", "required": ["index", "speaker", "startMs", "endMs"], "properties": {
            "index": int, "speaker": {"type": "string", "enum": ["agent", "user"]},
            "text": nstr, "userText": nstr, "startMs": int, "endMs": int,
            "sttMs": nint, "llmMs": nint, "ttsMs": nint, "latencyMs": nint, "endpointingMs": nint,
            "s2sMs": nint,
            "sttDurationMs": nint, "llmDurationMs": nint, "ttsDurationMs": nint, "toolMs": nint,
            "interrupted": {"type": "boolean"},
            "endedByCall": {"type": "boolean", "description": "The call ended during the turn (a hang-up): not a barge-in"},
            "discardedGenerations": int,
            "interruption": {"type": "object", "nullable": true, "properties": {
                "detectionLatencyMs": nint, "stopLatencyMs": nint, "bleedThroughWords": nint}},
            "tools": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "input": nstr, "output": nstr, "startMs": int,
                "durationMs": nint, "error": nstr}}},
            "timingSource": {"type": "object", "additionalProperties": {"type": "string",
                "enum": ["ttfb", "duration", "estimated", "spans", "derived"]}},
            "providers": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "provider": nstr, "model": nstr}}},
            "llmInputTokens": nint, "llmOutputTokens": nint, "ttsCharacters": nint,
            "llmCachedInputTokens": int, "llmReasoningTokens": int, "audioInputTokens": int,
            "audioOutputTokens": int,
            "sttAudioMs": {"type": "integer", "description": "Audio the turn's stt spans say they transcribed"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "stage": {"type": "string"}, "message": {"type": "string"}}}}}});
    // Counts and speech intervals (ms from the call's start; null when no span says).
    let more = json!({
            "llmInputTokens": nint, "llmOutputTokens": nint, "ttsCharacters": nint,
            "llmCachedInputTokens": nint, "llmReasoningTokens": nint,
            "audioInputTokens": nint, "audioOutputTokens": nint,
            "userStartMs": nint, "userEndMs": nint, "agentStartMs": nint, "agentEndMs": nint,
            "agentSpeech": {"type": "array", "items": {"type": "object", "properties": {
                "startMs": int, "endMs": int}}},
            "stageSpans": {"type": "array", "description": "Where each stage span ran (absent when none)",
                "items": {"type": "object", "required": ["stage", "startMs", "durationMs"], "properties": {
                    "stage": {"type": "string"}, "startMs": int, "durationMs": int}}}});
    if let (Some(props), Some(more)) = (turn["properties"].as_object_mut(), more.as_object()) {
        props.extend(more.clone());
    }
    schemas.insert("Turn".to_string(), turn);
    schemas.insert(
        "CallMetrics".to_string(),
        json!({"type": "object", "properties": {
            "totalDurationMs": int, "avgTurnLatencyMs": nint, "p50TurnLatencyMs": nint,
            "p95TurnLatencyMs": nint, "turns": int, "toolExecutions": int, "interruptions": int,
            "llmInputTokens": int, "llmOutputTokens": int, "ttsCharacters": int, "errors": int}}),
    );
    schemas.insert("CallLog".to_string(), json!({"type": "object",
            "required": ["id", "traceId", "revision", "status", "startedAt", "endedAt", "turns", "metrics", "issues", "links"],
            "properties": {
                "id": {"type": "string"}, "traceId": {"type": "string"}, "revision": int,
                "dialect": {"type": "string", "enum": ["voicetrace", "pipecat", "livekit", "genai"]},
                "agentId": nstr, "agentName": nstr, "serviceName": nstr,
                "status": {"type": "string", "enum": ["completed", "failed", "incomplete"]},
                "endReason": nstr,
                "startedAt": {"type": "string", "format": "date-time"},
                "endedAt": {"type": "string", "format": "date-time"},
                "direction": nstr, "from": nstr, "to": nstr, "recordingUrl": nstr,
                "metadata": {"type": "object"},
                "turns": {"type": "array", "items": {"$ref": "#/components/schemas/Turn"}},
                "metrics": {"$ref": "#/components/schemas/CallMetrics"},
                "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
                "events": {"type": "array", "items": {"type": "object"}},
                "logs": {"type": "array", "items": {"type": "object"}},
                "customMetrics": {"type": "object"},
                "links": {"$ref": "#/components/schemas/Links"},
                "spanCount": int,
                "deployment": {"type": "object", "description": "From the root's resource (absent when it names none)",
                    "properties": {"id": nstr, "version": nstr, "environment": nstr}},
                                "livekit": {"type": "object", "description": "The LiveKit room and job the call ran in, when its spans name them",
                    "properties": {"roomId": nstr, "jobId": nstr}},
                "recording": {"type": "object", "description": "The recording the receiver keeps of the call; a turn's startMs is at startOffsetMs + startMs in the audio",
                    "required": ["url", "mediaType", "durationMs", "startOffsetMs"],
                    "properties": {
                        "url": {"type": "string", "description": "A signed link to GET /v1/recordings/{callId} that needs no API token"},
                        "mediaType": {"type": "string"}, "durationMs": int,
                        "startOffsetMs": {"type": "integer", "description": "Where the call's time zero falls in the audio, ms"}}},
                "reportedUsage": {"type": "array",
                    "description": "Usage the agent's OTLP metrics reported for the call that its spans do not say, per stage, provider and model",
                    "items": {"$ref": "#/components/schemas/ReportedUsage"}},
                "cost": {"$ref": "#/components/schemas/CallCost"},
                "sameIdCalls": {"type": "array",
                    "description": "On a call's own route: the other calls stored with this call id (other traces), newest first",
                    "items": {"type": "object", "required": ["traceId", "startedAt"], "properties": {
                        "traceId": {"type": "string"}, "startedAt": {"type": "string", "format": "date-time"}}}}}}));
    // Beside the json! above, which one more property takes past the macro's recursion limit.
    let redactions = json!({"type": "object", "additionalProperties": int,
        "description": "What redaction took out of the texts, counted per kind (credit_card, email, phone_number, ssn, iban, date_of_birth, or a rule's name); absent when nothing was"});
    if let Some(props) = schemas
        .get_mut("CallLog")
        .and_then(|log| log["properties"].as_object_mut())
    {
        props.insert("redactions".to_string(), redactions);
    }
    let usd = json!({"type": "number", "description": "USD"});
    let stage = json!({"type": "string", "enum": ["stt", "llm", "tts", "s2s"]});
    schemas.insert(
        "ReportedUsage".to_string(),
        json!({"type": "object", "required": ["stage"], "properties": {
            "stage": stage, "provider": nstr, "model": nstr,
            "llmInputTokens": int, "llmCachedInputTokens": int, "llmOutputTokens": int,
            "audioInputTokens": int, "audioOutputTokens": int, "llmSessionMs": int,
            "sttAudioMs": int, "ttsCharacters": int, "ttsAudioMs": int}}),
    );
    schemas.insert("CallCost".to_string(), json!({"type": "object",
            "description": "What the call cost at the price table's list prices",
            "required": ["totalUsd", "pricesVersion", "stages", "models", "turns", "unpriced", "estimated"],
            "properties": {
                "totalUsd": usd, "pricesVersion": {"type": "string"},
                "stages": {"type": "object", "additionalProperties": usd},
                "models": {"type": "array", "items": {"type": "object",
                    "required": ["stage", "pricedAs", "usd"], "properties": {
                        "stage": stage, "provider": nstr, "model": nstr,
                        "pricedAs": {"type": "string"}, "usd": usd,
                        "inputTokens": int, "cachedInputTokens": int, "outputTokens": int,
                        "audioInputTokens": int, "audioOutputTokens": int, "audioMs": int,
                        "characters": int,
                        "audioBasis": {"type": "string", "enum": ["reported", "speech", "sttDuration"]}}}},
                "turns": {"type": "array", "items": {"type": "object", "required": ["index", "usd", "stages"], "properties": {
                    "index": int, "usd": usd, "stages": {"type": "object", "additionalProperties": usd}}}},
                "unpriced": {"type": "array", "items": {"type": "object", "required": ["stage", "reason", "turns"], "properties": {
                    "stage": stage, "provider": nstr, "model": nstr,
                    "reason": {"type": "string", "enum": ["unknown_provider", "unknown_model", "no_rate", "no_usage"]},
                    "turns": {"type": "array", "items": int}}}},
                "estimated": {"type": "boolean"}}}));
    schemas.insert(
        "SessionRootCause".to_string(),
        json!({"type": "object", "required": ["sessionId", "issues"], "properties": {
            "sessionId": {"type": "string"}, "traceId": {"type": "string"},
            "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
            "links": {"$ref": "#/components/schemas/Links"}}}),
    );
    schemas.insert(
        "CallRootCause".to_string(),
        json!({"type": "object", "required": ["callId", "issues"], "properties": {
            "callId": {"type": "string"}, "traceId": {"type": "string"},
            "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
            "links": {"$ref": "#/components/schemas/Links"}}}),
    );
    schemas.insert("Distribution".to_string(), json!(distribution));
    schemas.insert("InterruptionQuality".to_string(), json!({"type": "object",
            "required": ["window", "sessions", "interruptions", "detectionLatencyMs", "stopLatencyMs", "bleedThroughWords", "truncated"],
            "properties": {
                "window": {"type": "object", "properties": {
                    "since": {"type": "string", "format": "date-time"},
                    "until": {"type": "string", "format": "date-time"}}},
                "agentId": nstr,
                "sessions": {"type": "integer", "description": "Calls that started in the window"},
                "interruptions": {"type": "integer", "description": "Turns the user interrupted"},
                "detectionLatencyMs": {"$ref": "#/components/schemas/Distribution"},
                "stopLatencyMs": {"$ref": "#/components/schemas/Distribution"},
                "bleedThroughWords": {"$ref": "#/components/schemas/Distribution"},
                "truncated": {"type": "boolean", "description": "The window held more calls than one request reads"}}}));
    Value::Object(schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in a value, for the resolution check.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        if let Some(s) = v.as_str() {
                            out.push(s.to_string());
                        }
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn documents_exactly_the_routes() {
        let doc = document();
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut served = crate::receiver::api::route_paths();
        documented.sort_unstable();
        served.sort_unstable();
        assert_eq!(documented, served);
    }

    #[test]
    fn every_ref_resolves() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
        }
    }
}
