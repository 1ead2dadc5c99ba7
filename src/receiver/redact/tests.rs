//! The redactor as a whole: detectors in order, rules, caller numbers, JSON texts, counts.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::receiver::calllog::{bare_call_log, Speaker, ToolExecution, Turn};

fn redactor(config: RedactionConfig) -> Redactor {
    Redactor::new(&config).unwrap()
}

fn all() -> Redactor {
    redactor(RedactionConfig::default())
}

fn redact(r: &Redactor, text: &str) -> (String, Redactions) {
    let mut counts = Counts::default();
    let out = r
        .text(text, &mut counts)
        .unwrap_or_else(|| text.to_string());
    let mut named = Redactions::default();
    counts.record(&mut named);
    (out, named)
}

#[test]
fn one_sentence_loses_its_pii_and_keeps_its_numbers() {
    let said =
        "Order A-1042 at 10:30 for $49.99: card 4111 1111 1111 1111, mail jane@example.com, \
                call +1 555 123 4567, SSN 123-45-6789, IBAN DE89 3704 0044 0532 0130 00, born \
                03/21/1985, turn 3 of 30.";
    let (kept, counts) = redact(&all(), said);
    assert_eq!(
        kept,
        "Order A-1042 at 10:30 for $49.99: card <CREDIT_CARD>, mail <EMAIL>, call \
         <PHONE_NUMBER>, SSN <SSN>, IBAN <IBAN>, born <DATE_OF_BIRTH>, turn 3 of 30."
    );
    let expected = Redactions::from([
        ("credit_card", 1),
        ("email", 1),
        ("phone_number", 1),
        ("ssn", 1),
        ("iban", 1),
        ("date_of_birth", 1),
    ]);
    assert_eq!(counts, expected);
}

#[test]
fn text_without_pii_is_not_copied() {
    let (r, mut counts) = (all(), Counts::default());
    assert_eq!(
        r.text("Your order A-1042 ships Monday at 10:30.", &mut counts),
        None
    );
    assert_eq!(counts.total(), 0);
}

#[test]
fn only_the_configured_detectors_run() {
    let r = redactor(RedactionConfig {
        detectors: vec![Kind::Email],
        ..RedactionConfig::default()
    });
    let (kept, _) = redact(&r, "jane@example.com 4111 1111 1111 1111");
    assert_eq!(kept, "<EMAIL> 4111 1111 1111 1111");
}

#[test]
fn rules_run_first_with_their_replacement_and_count_by_name() {
    let r = redactor(RedactionConfig {
        rules: vec![
            RuleConfig {
                name: "member_id".into(),
                pattern: "MBR-[0-9]{6}".into(),
                replacement: None,
            },
            RuleConfig {
                name: "policy".into(),
                pattern: r"policy (?P<n>[0-9]{2})[0-9]+".into(),
                replacement: Some("policy $n…".into()),
            },
        ],
        ..RedactionConfig::default()
    });
    let (kept, counts) = redact(&r, "MBR-123456 and MBR-654321, policy 1234567, jo@x.io");
    assert_eq!(kept, "<MEMBER_ID> and <MEMBER_ID>, policy 12…, <EMAIL>");
    assert_eq!(counts.get("member_id"), Some(2));
    assert_eq!(counts.get("policy"), Some(1));
    assert_eq!(counts.get("email"), Some(1));
}

#[test]
fn invalid_rules_are_refused_at_start() {
    let rule = |name: &str, pattern: &str| RedactionConfig {
        rules: vec![RuleConfig {
            name: name.into(),
            pattern: pattern.into(),
            replacement: None,
        }],
        ..RedactionConfig::default()
    };
    assert!(matches!(
        Redactor::new(&rule("x", "(unclosed")),
        Err(RedactionError::Pattern { .. })
    ));
    assert!(matches!(
        Redactor::new(&rule("x", r"(a)\1")),
        Err(RedactionError::Pattern { .. })
    ));
    assert!(matches!(
        Redactor::new(&rule("x", r"\w{1000}{1000}")),
        Err(RedactionError::Pattern { .. })
    ));
    assert!(matches!(
        Redactor::new(&rule("Member ID", "x")),
        Err(RedactionError::RuleName(_))
    ));
}

#[test]
fn json_texts_stay_json() {
    let r = all();
    let input = r#"{"card": "4111111111111111", "phone": 5551234567, "order": "A-1042", "qty": 2}"#;
    let (kept, counts) = redact(&r, input);
    let value: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        value,
        json!({"card": "<CREDIT_CARD>", "phone": "<PHONE_NUMBER>", "order": "A-1042", "qty": 2})
    );
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 2);
    // A find in a key: the plain pass keeps it out, even if the text is then not pretty.
    let (kept, _) = redact(&r, r#"{"jane@example.com": 1}"#);
    assert_eq!(kept, r#"{"<EMAIL>": 1}"#);
    // Not JSON after all: redacted as text.
    let (kept, _) = redact(&r, "{card 4111111111111111");
    assert_eq!(kept, "{card <CREDIT_CARD>");
}

#[test]
fn caller_numbers_are_redacted_masked_or_kept() {
    let mut log = bare_call_log("c1");
    log.from = Some("+15551234567".into());
    log.to = Some("anonymous".into());
    let mut redacted = log.clone();
    all().call_log(&mut redacted);
    assert_eq!(redacted.from.as_deref(), Some("<PHONE_NUMBER>"));
    assert_eq!(redacted.to.as_deref(), Some("anonymous"));
    let mut masked = log.clone();
    redactor(RedactionConfig {
        caller_numbers: CallerNumbers::Last4,
        ..RedactionConfig::default()
    })
    .call_log(&mut masked);
    assert_eq!(masked.from.as_deref(), Some("+*******4567"));
    let mut kept = log.clone();
    redactor(RedactionConfig {
        caller_numbers: CallerNumbers::Keep,
        ..RedactionConfig::default()
    })
    .call_log(&mut kept);
    assert_eq!(kept.from, log.from);
}

#[test]
fn a_call_log_counts_what_was_redacted_never_the_values() {
    let mut log = bare_call_log("c1");
    log.from = Some("+15551234567".into());
    log.turns.push(Turn {
        user_text: Some(
            "it's four one one one one one one one one one one one one one one one".into(),
        ),
        text: Some("Thanks, I'll mail jane@example.com.".into()),
        tools: vec![ToolExecution {
            name: "charge".into(),
            input: Some(r#"{"card":"4111 1111 1111 1111"}"#.into()),
            output: Some("ok".into()),
            start_ms: 0,
            duration_ms: Some(1),
            error: None,
        }],
        speaker: Speaker::User,
        ..Turn::default()
    });
    log.metadata
        .insert("account".into(), json!({"iban": "GB82WEST12345698765432"}));
    all().call_log(&mut log);
    assert_eq!(
        log.redactions,
        Redactions::from([
            ("credit_card", 2),
            ("email", 1),
            ("iban", 1),
            ("phone_number", 1),
        ])
    );
    let body = serde_json::to_string(&log).unwrap();
    for raw in ["4111", "jane@", "GB82", "5551234567", "four one"] {
        assert!(!body.contains(raw), "{raw} in {body}");
    }
    assert!(body.contains(r#""redactions":{"credit_card":2"#), "{body}");
}

#[test]
fn redacting_twice_changes_nothing() {
    let r = all();
    let mut log = bare_call_log("c1");
    log.from = Some("+15551234567".into());
    log.logs.push(crate::receiver::calllog::LogLine {
        at_ms: 0,
        level: "INFO".into(),
        message: "card 4111 1111 1111 1111 for jane@example.com".into(),
        turn: None,
        fields: BTreeMap::new(),
    });
    r.call_log(&mut log);
    let once = log.clone();
    r.call_log(&mut log);
    assert_eq!(log, once);
}

#[test]
fn hostile_input_is_taken_whole() {
    // Long runs of digits, of digit words, of near-emails and of cues without dates: what is
    // found is counted (the benchmark times a megabyte of each: linear).
    let r = all();
    for text in [
        "7".repeat(1 << 16),
        "7 ".repeat(1 << 15),
        "seven ".repeat(1 << 13),
        "a@".repeat(1 << 15),
        "born ".repeat(1 << 14),
    ] {
        let mut counts = Counts::default();
        let redacted = r.text(&text, &mut counts);
        assert!(redacted.is_none() || counts.total() > 0);
    }
}

#[test]
fn a_chat_history_is_redacted_as_json() {
    let chat = json!({"items": [
        {"type": "message", "role": "user", "content": ["my email is jane@example.com"]},
        {"type": "message", "role": "assistant", "content": ["Order A-1042, noted."]}
    ]})
    .to_string();
    let redacted: serde_json::Value =
        serde_json::from_str(&all().json_document(&chat).unwrap()).unwrap();
    assert_eq!(redacted["items"][0]["content"][0], "my email is <EMAIL>");
    assert_eq!(redacted["items"][1]["content"][0], "Order A-1042, noted.");
    assert_eq!(redacted["items"][0]["role"], "user");
}
