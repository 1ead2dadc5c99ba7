//! Message content: whether the text an agent records is copied into the attributes that GenAI
//! and OpenInference backends display, and the JSON those attributes hold.
//!
//! The rule (CONVENTIONS.md section 1):
//! - voicetrace's own text attributes (`turn.user.text`, `turn.agent.text`, `stt.transcript`,
//!   tts `text`, `llm.response.text`, `function.input` / `function.output`) are the call log's
//!   transcript and are emitted whatever the setting: the agent hands the crate each of them
//!   explicitly, and the receiver's call logs are the same in both modes;
//! - the content attributes of the GenAI conventions (`gen_ai.input.messages`,
//!   `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.call.*`) and of
//!   OpenInference (`input.value`, `output.value`) are emitted only when capture is on, as the
//!   GenAI conventions ask: off by default, on with
//!   `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`,
//!   [`Config::capture_message_content`](super::Config::capture_message_content), or per call
//!   with [`CallBuilder::capture_message_content`](super::CallBuilder::capture_message_content).
//!
//! The JSON builders are pure; the process-wide default is the one piece of state.

use std::sync::atomic::{AtomicU8, Ordering};

use opentelemetry::KeyValue;
use serde_json::{json, Value};

use crate::semconv::{genai, openinference};

/// The process-wide default: not decided yet, off, on.
static CAPTURE: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// Whether `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` asks for content (`true`, any
/// case; anything else or nothing is off).
pub(crate) fn capture_from_env() -> bool {
    std::env::var(genai::CAPTURE_MESSAGE_CONTENT_ENV)
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The default of calls that do not choose: what the pipeline was configured with, else the
/// environment variable (read once).
pub(crate) fn capture_default() -> bool {
    match CAPTURE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = capture_from_env();
            // A concurrent `set_capture_default` wins over this lazy read.
            let _ = CAPTURE.compare_exchange(
                UNSET,
                if on { ON } else { OFF },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            CAPTURE.load(Ordering::Relaxed) == ON
        }
    }
}

/// Sets the default (the pipeline does, from its [`Config`](super::Config)).
pub(crate) fn set_capture_default(on: bool) {
    CAPTURE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Which side of a span a text belongs to (OpenInference's `input.*` / `output.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Input,
    Output,
}

/// `input.value` or `output.value` with its mime type: JSON for a JSON object or array (a
/// tool's arguments), text otherwise (a transcript that happens to be a number stays text).
pub(crate) fn value(side: Side, text: &str) -> [KeyValue; 2] {
    let json = matches!(
        serde_json::from_str::<Value>(text),
        Ok(Value::Object(_) | Value::Array(_))
    );
    let mime = if json {
        openinference::MIME_JSON
    } else {
        openinference::MIME_TEXT
    };
    let (value_key, mime_key) = match side {
        Side::Input => (openinference::INPUT_VALUE, openinference::INPUT_MIME_TYPE),
        Side::Output => (openinference::OUTPUT_VALUE, openinference::OUTPUT_MIME_TYPE),
    };
    [
        KeyValue::new(value_key, text.to_string()),
        KeyValue::new(mime_key, mime),
    ]
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "content": text})
}

/// A tool call's arguments: the JSON they are, else the string.
fn arguments(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// `gen_ai.input.messages` holding one user message.
pub(crate) fn user_message(text: &str) -> String {
    json!([{"role": "user", "parts": [text_part(text)]}]).to_string()
}

/// `gen_ai.system_instructions`.
pub(crate) fn system_instructions(text: &str) -> String {
    json!([text_part(text)]).to_string()
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCallRequest {
    pub name: String,
    pub arguments: String,
}

/// `gen_ai.output.messages`: one assistant message with the answer's text and the tool calls
/// requested. `finish_reason` is required by the schema: the first reason recorded, else
/// `tool_call` when the model asked for tools, else `stop`.
pub(crate) fn assistant_message(
    text: Option<&str>,
    tool_calls: &[ToolCallRequest],
    finish_reason: Option<&str>,
) -> String {
    let mut parts: Vec<Value> = text.map(text_part).into_iter().collect();
    parts.extend(tool_calls.iter().map(|call| {
        json!({"type": "tool_call", "name": call.name, "arguments": arguments(&call.arguments)})
    }));
    let finish_reason = finish_reason.unwrap_or(if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_call"
    });
    json!([{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]).to_string()
}

/// `output.value` of an llm span: the answer's text, else one `name(arguments)` line per tool
/// call requested.
pub(crate) fn llm_output_value(text: Option<&str>, tool_calls: &[ToolCallRequest]) -> String {
    match text {
        Some(text) => text.to_string(),
        None => tool_calls
            .iter()
            .map(|c| format!("{}({})", c.name, c.arguments))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn values_say_their_mime_type() {
        let [v, m] = value(Side::Output, r#"{"status":"shipped"}"#);
        assert_eq!(v.key.as_str(), openinference::OUTPUT_VALUE);
        assert_eq!(m.value.as_str(), openinference::MIME_JSON);
        let [v, m] = value(Side::Input, "42");
        assert_eq!(v.key.as_str(), openinference::INPUT_VALUE);
        assert_eq!(m.key.as_str(), openinference::INPUT_MIME_TYPE);
        assert_eq!(m.value.as_str(), openinference::MIME_TEXT);
    }

    #[test]
    fn messages_have_the_genai_shapes() {
        assert_eq!(
            parse(&user_message("Where is my order?")),
            json!([{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}])
        );
        assert_eq!(
            parse(&system_instructions("Be brief.")),
            json!([{"type": "text", "content": "Be brief."}])
        );
        assert_eq!(
            parse(&assistant_message(Some("It ships today."), &[], None)),
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "It ships today."}],
                    "finish_reason": "stop"}])
        );
    }

    #[test]
    fn tool_calls_keep_json_arguments_as_json() {
        let calls = [
            ToolCallRequest {
                name: "lookup_order".into(),
                arguments: r#"{"order_id":"A-1"}"#.into(),
            },
            ToolCallRequest {
                name: "note".into(),
                arguments: "not json".into(),
            },
        ];
        let message = parse(&assistant_message(None, &calls, None));
        assert_eq!(message[0]["finish_reason"], "tool_call");
        assert_eq!(
            message[0]["parts"][0],
            json!({"type": "tool_call", "name": "lookup_order", "arguments": {"order_id": "A-1"}})
        );
        assert_eq!(message[0]["parts"][1]["arguments"], "not json");
        let recorded = parse(&assistant_message(None, &calls, Some("tool_calls")));
        assert_eq!(recorded[0]["finish_reason"], "tool_calls");
        assert_eq!(
            llm_output_value(None, &calls),
            "lookup_order({\"order_id\":\"A-1\"})\nnote(not json)"
        );
        assert_eq!(llm_output_value(Some("Hi"), &calls), "Hi");
    }
}
