//! Function calls a framework records only in its model requests' input (Pipecat 1.14 emits no
//! span for a function call: the next `llm` span's `input` holds the assistant message with
//! `tool_calls` and the `tool` messages with their results). Each call is given to the turn
//! whose request first shows it, with its arguments and result and no duration; a call a tool
//! span already records (same call id, else same name in the turn) is not counted twice. A call
//! whose result is the framework's failure message (Pipecat's "The function `X` failed and
//! returned no result." when the handler raised) failed: its `error` is that message and it
//! counts in the turn's errors.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use serde_json::Value;

use crate::receiver::calllog::{Stage, StageError, ToolExecution, Turn};
use crate::receiver::span::SpanRecord;

use super::dialect::Rules;
use super::group::TurnParts;
use super::timing::offset_ms;

/// One function call as a model's input shows it.
#[derive(Debug, PartialEq)]
struct Recorded {
    id: Option<String>,
    name: String,
    arguments: Option<String>,
    result: Option<String>,
}

/// Adds to each turn the calls its llm spans' input shows first.
pub fn add_recorded(rules: &Rules, parts: &[TurnParts], turns: &mut [Turn], origin: u64) {
    let mut seen: HashSet<String> = HashSet::new();
    for (part, turn) in parts.iter().zip(turns.iter_mut()) {
        let span_ids: Vec<String> = part
            .of(Stage::Tool)
            .filter_map(|s| super::attrs::text(&s.attributes, rules.tools.call_id))
            .collect();
        // The tools the turn's spans gave, before any recorded call joins them.
        let span_names: Vec<String> = turn.tools.iter().map(|t| t.name.clone()).collect();
        let mut previous_end: Option<u64> = None;
        for llm in part.of(Stage::Llm) {
            let at = previous_end.unwrap_or(llm.start_unix_nano);
            previous_end = Some(llm.end_unix_nano);
            for call in recorded(llm, rules.tool_messages) {
                let key = call.id.clone().unwrap_or_else(|| call.name.clone());
                if !seen.insert(key) || recorded_by_span(&span_names, &span_ids, &call) {
                    continue;
                }
                let error = failure(&call, rules.failed_tool_results);
                if let Some(message) = &error {
                    turn.errors.push(StageError {
                        stage: Stage::Tool,
                        message: message.clone(),
                    });
                }
                turn.tools.push(ToolExecution {
                    name: call.name,
                    input: call.arguments,
                    output: call.result,
                    start_ms: offset_ms(at, origin),
                    duration_ms: None,
                    error,
                });
            }
        }
    }
}

/// The failure message a call's result is, if it is one of `failed` (text before and after the
/// function's name). Pipecat JSON-encodes every result, so a text result arrives quoted.
fn failure(call: &Recorded, failed: &[(&str, &str)]) -> Option<String> {
    let raw = call.result.as_deref()?;
    let text = match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(inner)) => inner,
        _ => raw.to_string(),
    };
    let is_failure = failed.iter().any(|(before, after)| {
        text.strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|name| name == call.name)
    });
    is_failure.then_some(text)
}

/// Whether a tool span of the turn is this call: the same id, else (no ids) the same name.
/// `span_names` are the names of the turn's tool spans only: two calls of one function that no
/// span records are two calls.
fn recorded_by_span(span_names: &[String], span_ids: &[String], call: &Recorded) -> bool {
    match &call.id {
        Some(id) if !span_ids.is_empty() => span_ids.contains(id),
        _ => span_names.contains(&call.name),
    }
}

/// Text every message list with a function call holds (OpenAI's `tool_calls`, the GenAI
/// conventions' `tool_call` parts): a model's input carries the whole conversation so far, so
/// parsing only the lists that can hold a call keeps a long call's assembly linear in practice.
const CALL_MARK: &str = "tool_call";

/// The calls in the first of `keys` that holds JSON messages on `span`.
fn recorded(span: &SpanRecord, keys: &[&str]) -> Vec<Recorded> {
    let messages: Option<Vec<Value>> = keys
        .iter()
        .find_map(|k| span.attributes.str(k))
        .filter(|json| json.contains(CALL_MARK))
        .and_then(|json| serde_json::from_str(json).ok());
    messages.map(|m| calls_in(&m)).unwrap_or_default()
}

/// The function calls of a message list, in order, each with the result a later tool message
/// gives it. Reads OpenAI's shape (`tool_calls` / `tool_call_id`) and the GenAI conventions'
/// (`parts` of type `tool_call` / `tool_call_response`).
fn calls_in(messages: &[Value]) -> Vec<Recorded> {
    let mut results: HashMap<String, String> = HashMap::new();
    for m in messages.iter().filter(|m| m["role"] == "tool") {
        if let (Some(id), Some(content)) = (m["tool_call_id"].as_str(), m.get("content")) {
            results.insert(id.to_string(), as_text(content));
        }
        for part in m["parts"].as_array().into_iter().flatten() {
            if let (Some(id), Some(response)) = (part["id"].as_str(), part.get("response")) {
                results.insert(id.to_string(), as_text(response));
            }
        }
    }
    let assistant = messages.iter().filter(|m| m["role"] == "assistant");
    let openai = assistant
        .clone()
        .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten());
    let openai = openai.filter_map(|c| {
        let f = &c["function"];
        Some((c["id"].as_str(), f["name"].as_str()?, f.get("arguments")))
    });
    let genai = assistant
        .flat_map(|m| m["parts"].as_array().into_iter().flatten())
        .filter(|p| p["type"] == "tool_call")
        .filter_map(|p| Some((p["id"].as_str(), p["name"].as_str()?, p.get("arguments"))));
    openai
        .chain(genai)
        .map(|(id, name, arguments)| Recorded {
            id: id.map(str::to_string),
            name: name.to_string(),
            arguments: arguments.map(as_text),
            result: id.and_then(|id| results.get(id).cloned()),
        })
        .collect()
}

/// A JSON value as text: a string as itself, anything else as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::dialect::PIPECAT;
    use super::super::test_support::{span, T0};
    use super::*;
    use crate::semconv::{self, pipecat};

    const INPUT: &str = r#"[{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
          "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]"#;

    #[test]
    fn openai_and_genai_message_shapes_give_calls_with_their_results() {
        let messages: Vec<Value> = serde_json::from_str(INPUT).unwrap();
        let calls = calls_in(&messages);
        assert_eq!(
            calls,
            [Recorded {
                id: Some("call_1".into()),
                name: "get_weather".into(),
                arguments: Some(r#"{"location": "Paris"}"#.into()),
                result: Some("sunny".into()),
            }]
        );
        let genai = r#"[{"role": "assistant", "parts": [{"type": "tool_call", "id": "t1",
            "name": "lookup", "arguments": {"id": 7}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1",
            "response": {"found": false}}]}]"#;
        let calls = calls_in(&serde_json::from_str::<Vec<Value>>(genai).unwrap());
        assert_eq!(calls[0].arguments.as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(calls[0].result.as_deref(), Some(r#"{"found":false}"#));
    }

    #[test]
    fn a_call_counts_once_in_the_turn_whose_request_first_shows_it() {
        let first = span(2, semconv::SPAN_LLM).parent(1).at(100, 400).build();
        let second = span(3, semconv::SPAN_LLM)
            .parent(1)
            .at(600, 900)
            .attr(pipecat::INPUT, INPUT)
            .build();
        let later = span(5, semconv::SPAN_LLM)
            .parent(4)
            .at(2000, 2400)
            .attr(pipecat::INPUT, INPUT)
            .build();
        let parts = [
            TurnParts {
                stages: vec![(Stage::Llm, &first), (Stage::Llm, &second)],
                ..TurnParts::default()
            },
            TurnParts {
                stages: vec![(Stage::Llm, &later)],
                ..TurnParts::default()
            },
        ];
        let mut turns = vec![Turn::default(), Turn::default()];
        add_recorded(&PIPECAT, &parts, &mut turns, T0);
        assert_eq!(turns[0].tools.len(), 1);
        let tool = &turns[0].tools[0];
        assert_eq!(
            (tool.name.as_str(), tool.output.as_deref()),
            ("get_weather", Some("sunny"))
        );
        assert_eq!(
            (tool.start_ms, tool.duration_ms),
            (400, None),
            "after the request that asked"
        );
        assert!(turns[1].tools.is_empty(), "history is not a new call");
    }

    #[test]
    fn a_call_answered_with_pipecats_failure_message_failed() {
        let input = r#"[{"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "check_refund", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
            {"id": "c3", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1",
             "content": "\"The function `check_refund` failed and returned no result.\""},
            {"role": "tool", "tool_call_id": "c2",
             "content": "The function `check_refund` failed and returned no result."},
            {"role": "tool", "tool_call_id": "c3", "content": "{\"found\": true}"}]"#;
        let llm = span(3, semconv::SPAN_LLM)
            .parent(1)
            .at(600, 900)
            .attr(pipecat::INPUT, input)
            .build();
        let parts = [TurnParts {
            stages: vec![(Stage::Llm, &llm)],
            ..TurnParts::default()
        }];
        let mut turns = vec![Turn::default()];
        add_recorded(&PIPECAT, &parts, &mut turns, T0);
        let errors: Vec<Option<&str>> = turns[0].tools.iter().map(|t| t.error.as_deref()).collect();
        assert_eq!(
            errors,
            [
                Some("The function `check_refund` failed and returned no result."),
                None,
                None
            ],
            "only the message naming the call's own function; two calls of one function are two"
        );
        assert_eq!(turns[0].errors.len(), 1);
        assert_eq!(turns[0].errors[0].stage, Stage::Tool);
        // Not a failure where the dialect has no such message.
        let mut turns = vec![Turn::default()];
        add_recorded(&super::super::dialect::GENAI, &parts, &mut turns, T0);
        assert!(turns[0].tools[0].error.is_none() && turns[0].errors.is_empty());
    }

    #[test]
    fn a_tool_span_wins_over_the_recorded_call() {
        let tool = span(2, semconv::SPAN_TOOL_CALL)
            .parent(1)
            .at(400, 500)
            .build();
        let llm = span(3, semconv::SPAN_LLM)
            .parent(1)
            .at(600, 900)
            .attr(pipecat::INPUT, INPUT)
            .build();
        let parts = [TurnParts {
            stages: vec![(Stage::Tool, &tool), (Stage::Llm, &llm)],
            ..TurnParts::default()
        }];
        let mut turns = vec![Turn {
            tools: vec![ToolExecution {
                name: "get_weather".into(),
                input: None,
                output: None,
                start_ms: 400,
                duration_ms: Some(100),
                error: None,
            }],
            ..Turn::default()
        }];
        add_recorded(&PIPECAT, &parts, &mut turns, T0);
        assert_eq!(turns[0].tools.len(), 1);
    }
}
