//! `collector-config.yaml` is a configuration otelcol-contrib would load: no collector binary can
//! be installed here, so this test parses the file and checks it against a table of the
//! components it uses and the keys each accepts (from the otelcol-contrib component READMEs:
//! otlpreceiver, memorylimiterprocessor, batchprocessor, otlpexporter with configgrpc/configtls
//! and exporterhelper, loadbalancingexporter, filestorage and healthcheck extensions), and checks
//! that every pipeline references defined components. The commented scale-out block is
//! uncommented and checked the same way, so the documentation cannot rot.

use serde_yaml::{Mapping, Value};

/// The allowed shape of a configuration value.
#[derive(Clone, Copy)]
enum Schema {
    /// A scalar (string, number, bool, duration) or null.
    Scalar,
    /// A list of scalars.
    List,
    /// A mapping with free keys (headers, CORS lists, ...).
    FreeMap,
    /// A mapping whose keys must be among these.
    Keys(&'static [(&'static str, Schema)]),
}
use Schema::{FreeMap, Keys, List, Scalar};

/// `configtls` client settings.
const TLS_CLIENT: Schema = Keys(&[
    ("insecure", Scalar),
    ("insecure_skip_verify", Scalar),
    ("ca_file", Scalar),
    ("ca_pem", Scalar),
    ("cert_file", Scalar),
    ("cert_pem", Scalar),
    ("key_file", Scalar),
    ("key_pem", Scalar),
    ("server_name_override", Scalar),
    ("min_version", Scalar),
    ("max_version", Scalar),
    ("reload_interval", Scalar),
]);

/// `configtls` server settings.
const TLS_SERVER: Schema = Keys(&[
    ("ca_file", Scalar),
    ("cert_file", Scalar),
    ("key_file", Scalar),
    ("client_ca_file", Scalar),
    ("min_version", Scalar),
    ("max_version", Scalar),
    ("reload_interval", Scalar),
]);

/// exporterhelper `retry_on_failure`.
const RETRY: Schema = Keys(&[
    ("enabled", Scalar),
    ("initial_interval", Scalar),
    ("max_interval", Scalar),
    ("max_elapsed_time", Scalar),
    ("multiplier", Scalar),
    ("randomization_factor", Scalar),
]);

/// exporterhelper `sending_queue` (`storage` names a storage extension: persistent queue).
const QUEUE: Schema = Keys(&[
    ("enabled", Scalar),
    ("num_consumers", Scalar),
    ("queue_size", Scalar),
    ("storage", Scalar),
    ("blocking", Scalar),
    ("block_on_overflow", Scalar),
    ("sizer", Scalar),
    ("wait_for_result", Scalar),
    ("batch", FreeMap),
]);

/// configgrpc client `keepalive`.
const KEEPALIVE_CLIENT: Schema = Keys(&[
    ("time", Scalar),
    ("timeout", Scalar),
    ("permit_without_stream", Scalar),
]);

/// The `otlp` exporter: configgrpc client settings plus exporterhelper.
const OTLP_EXPORTER_KEYS: &[(&str, Schema)] = &[
    ("endpoint", Scalar),
    ("tls", TLS_CLIENT),
    ("compression", Scalar),
    ("headers", FreeMap),
    ("keepalive", KEEPALIVE_CLIENT),
    ("balancer_name", Scalar),
    ("authority", Scalar),
    ("auth", FreeMap),
    ("read_buffer_size", Scalar),
    ("write_buffer_size", Scalar),
    ("wait_for_ready", Scalar),
    ("timeout", Scalar),
    ("retry_on_failure", RETRY),
    ("sending_queue", QUEUE),
];

/// Inside `loadbalancing.protocol.otlp`: the otlp exporter's keys except `endpoint`, which
/// the load balancer sets per backend.
const OTLP_TEMPLATE_KEYS: &[(&str, Schema)] = &[
    ("tls", TLS_CLIENT),
    ("compression", Scalar),
    ("headers", FreeMap),
    ("keepalive", KEEPALIVE_CLIENT),
    ("balancer_name", Scalar),
    ("authority", Scalar),
    ("auth", FreeMap),
    ("read_buffer_size", Scalar),
    ("write_buffer_size", Scalar),
    ("wait_for_ready", Scalar),
    ("timeout", Scalar),
    ("retry_on_failure", RETRY),
    ("sending_queue", QUEUE),
];

const LOADBALANCING_KEYS: &[(&str, Schema)] = &[
    ("routing_key", Scalar),
    ("routing_attributes", List),
    ("protocol", Keys(&[("otlp", Keys(OTLP_TEMPLATE_KEYS))])),
    (
        "resolver",
        Keys(&[
            ("static", Keys(&[("hostnames", List)])),
            (
                "dns",
                Keys(&[
                    ("hostname", Scalar),
                    ("port", Scalar),
                    ("interval", Scalar),
                    ("timeout", Scalar),
                ]),
            ),
            (
                "k8s",
                Keys(&[
                    ("service", Scalar),
                    ("ports", List),
                    ("timeout", Scalar),
                    ("return_hostnames", Scalar),
                ]),
            ),
            ("aws_cloud_map", FreeMap),
        ]),
    ),
    ("timeout", Scalar),
    ("retry_on_failure", RETRY),
    ("sending_queue", QUEUE),
];

const OTLP_RECEIVER_KEYS: &[(&str, Schema)] = &[(
    "protocols",
    Keys(&[
        (
            "grpc",
            Keys(&[
                ("endpoint", Scalar),
                ("transport", Scalar),
                ("tls", TLS_SERVER),
                ("max_recv_msg_size_mib", Scalar),
                ("max_concurrent_streams", Scalar),
                ("read_buffer_size", Scalar),
                ("write_buffer_size", Scalar),
                ("keepalive", FreeMap),
                ("auth", FreeMap),
                ("include_metadata", Scalar),
            ]),
        ),
        (
            "http",
            Keys(&[
                ("endpoint", Scalar),
                ("tls", TLS_SERVER),
                ("cors", FreeMap),
                ("auth", FreeMap),
                ("max_request_body_size", Scalar),
                ("include_metadata", Scalar),
                ("response_headers", FreeMap),
                ("compression_algorithms", List),
                ("traces_url_path", Scalar),
                ("metrics_url_path", Scalar),
                ("logs_url_path", Scalar),
            ]),
        ),
    ]),
)];

const MEMORY_LIMITER_KEYS: &[(&str, Schema)] = &[
    ("check_interval", Scalar),
    ("limit_mib", Scalar),
    ("spike_limit_mib", Scalar),
    ("limit_percentage", Scalar),
    ("spike_limit_percentage", Scalar),
    ("min_gc_interval_when_soft_limited", Scalar),
    ("min_gc_interval_when_hard_limited", Scalar),
];

const BATCH_KEYS: &[(&str, Schema)] = &[
    ("send_batch_size", Scalar),
    ("send_batch_max_size", Scalar),
    ("timeout", Scalar),
    ("metadata_keys", List),
    ("metadata_cardinality_limit", Scalar),
];

const FILE_STORAGE_KEYS: &[(&str, Schema)] = &[
    ("directory", Scalar),
    ("timeout", Scalar),
    ("fsync", Scalar),
    ("create_directory", Scalar),
    ("directory_permissions", Scalar),
    (
        "compaction",
        Keys(&[
            ("on_start", Scalar),
            ("on_rebound", Scalar),
            ("directory", Scalar),
            ("max_transaction_size", Scalar),
            ("cleanup_on_start", Scalar),
            ("rebound_needed_threshold_mib", Scalar),
            ("rebound_trigger_threshold_mib", Scalar),
            ("check_interval", Scalar),
        ]),
    ),
];

const HEALTH_CHECK_KEYS: &[(&str, Schema)] = &[
    ("endpoint", Scalar),
    ("path", Scalar),
    ("tls", TLS_SERVER),
    ("response_body", FreeMap),
    ("check_collector_pipeline", FreeMap),
];

/// A component type of otelcol-contrib: its section, type name, the signals it handles
/// (extensions: none) and its keys.
struct Component {
    section: &'static str,
    kind: &'static str,
    signals: &'static [&'static str],
    keys: &'static [(&'static str, Schema)],
}

const COMPONENTS: &[Component] = &[
    Component {
        section: "receivers",
        kind: "otlp",
        signals: &["traces", "metrics", "logs"],
        keys: OTLP_RECEIVER_KEYS,
    },
    Component {
        section: "processors",
        kind: "memory_limiter",
        signals: &["traces", "metrics", "logs"],
        keys: MEMORY_LIMITER_KEYS,
    },
    Component {
        section: "processors",
        kind: "batch",
        signals: &["traces", "metrics", "logs"],
        keys: BATCH_KEYS,
    },
    Component {
        section: "exporters",
        kind: "otlp",
        signals: &["traces", "metrics", "logs"],
        keys: OTLP_EXPORTER_KEYS,
    },
    Component {
        section: "exporters",
        kind: "loadbalancing",
        signals: &["traces", "metrics", "logs"],
        keys: LOADBALANCING_KEYS,
    },
    Component {
        section: "extensions",
        kind: "file_storage",
        signals: &[],
        keys: FILE_STORAGE_KEYS,
    },
    Component {
        section: "extensions",
        kind: "health_check",
        signals: &[],
        keys: HEALTH_CHECK_KEYS,
    },
];

fn config_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/collector-config.yaml"
    ))
    .unwrap()
}

/// The file with every line between `# >>> scale-out` and `# <<< scale-out` uncommented.
fn uncomment_scale_out(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("# >>> scale-out") {
            inside = true;
            continue;
        }
        if trimmed.starts_with("# <<< scale-out") {
            inside = false;
            continue;
        }
        if inside {
            let indent = &line[..line.len() - trimmed.len()];
            if let Some(rest) = trimmed.strip_prefix("# ") {
                // A config line: `# key: value`, indented to where the key belongs.
                if rest.starts_with(' ')
                    || rest
                        .split_whitespace()
                        .next()
                        .is_some_and(|w| w.ends_with(':'))
                {
                    out.push_str(indent);
                    out.push_str(rest);
                    out.push('\n');
                    continue;
                }
            }
            // Prose inside the block stays a comment.
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(!inside, "unterminated scale-out block");
    out
}

fn mapping<'a>(value: &'a Value, what: &str) -> &'a Mapping {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn check(value: &Value, schema: Schema, path: &str, errors: &mut Vec<String>) {
    match schema {
        Scalar => {
            if value.is_mapping() || value.is_sequence() {
                errors.push(format!("{path}: expected a scalar"));
            }
        }
        List => match value.as_sequence() {
            Some(items) if items.iter().all(|i| !i.is_mapping() && !i.is_sequence()) => {}
            _ => errors.push(format!("{path}: expected a list of scalars")),
        },
        FreeMap => {
            if !value.is_mapping() {
                errors.push(format!("{path}: expected a mapping"));
            }
        }
        Keys(keys) => {
            if value.is_null() {
                return; // `grpc:` alone enables a protocol with its defaults
            }
            let Some(map) = value.as_mapping() else {
                errors.push(format!("{path}: expected a mapping"));
                return;
            };
            for (key, child) in map {
                let key = key.as_str().unwrap_or_default();
                match keys.iter().find(|(k, _)| *k == key) {
                    Some((_, schema)) => check(child, *schema, &format!("{path}.{key}"), errors),
                    None => errors.push(format!("{path}.{key}: not a key of this component")),
                }
            }
        }
    }
}

/// `type[/name]` → type.
fn kind_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Everything wrong with a collector configuration.
fn validate(config: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let root = mapping(config, "the document");
    for key in root.keys() {
        let key = key.as_str().unwrap_or_default();
        if ![
            "receivers",
            "processors",
            "exporters",
            "extensions",
            "connectors",
            "service",
        ]
        .contains(&key)
        {
            errors.push(format!("unknown top-level section {key}"));
        }
    }
    for section in ["receivers", "processors", "exporters", "extensions"] {
        let Some(defined) = config.get(section) else {
            continue;
        };
        for (id, settings) in mapping(defined, section) {
            let id = id.as_str().unwrap_or_default();
            match COMPONENTS
                .iter()
                .find(|c| c.section == section && c.kind == kind_of(id))
            {
                Some(component) => check(
                    settings,
                    Keys(component.keys),
                    &format!("{section}.{id}"),
                    &mut errors,
                ),
                None => errors.push(format!(
                    "{section}.{id}: not a known otelcol-contrib component"
                )),
            }
        }
    }
    let defined = |section: &str, id: &str| config.get(section).and_then(|s| s.get(id)).is_some();
    let service = config.get("service").expect("a service section");
    let extensions: Vec<&str> = service
        .get("extensions")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for ext in &extensions {
        if !defined("extensions", ext) {
            errors.push(format!("service.extensions names undefined {ext}"));
        }
    }
    let pipelines = mapping(
        service.get("pipelines").expect("service.pipelines"),
        "service.pipelines",
    );
    assert!(!pipelines.is_empty(), "no pipelines");
    let mut used = std::collections::HashSet::new();
    for (name, pipeline) in pipelines {
        let name = name.as_str().unwrap_or_default();
        let signal = kind_of(name);
        if !["traces", "metrics", "logs"].contains(&signal) {
            errors.push(format!("pipeline {name}: unknown signal {signal}"));
        }
        for (role, section) in [
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ] {
            let ids = pipeline
                .get(role)
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            if role != "processors" && ids.is_empty() {
                errors.push(format!("pipeline {name}: no {role}"));
            }
            for id in ids {
                let id = id.as_str().unwrap_or_default().to_string();
                if !defined(section, &id) {
                    errors.push(format!("pipeline {name}: {role} names undefined {id}"));
                    continue;
                }
                let handles = COMPONENTS
                    .iter()
                    .find(|c| c.section == section && c.kind == kind_of(&id))
                    .is_some_and(|c| c.signals.contains(&signal));
                if !handles {
                    errors.push(format!("pipeline {name}: {id} does not handle {signal}"));
                }
                used.insert((section, id));
            }
        }
        // memory_limiter must come first (its README: so back-pressure reaches the receivers).
        if let Some(first) = pipeline
            .get("processors")
            .and_then(|p| p.get(0))
            .and_then(Value::as_str)
        {
            if kind_of(first) != "memory_limiter" {
                errors.push(format!(
                    "pipeline {name}: memory_limiter is not the first processor"
                ));
            }
        }
    }
    for section in ["receivers", "processors", "exporters"] {
        if let Some(defined) = config.get(section).and_then(Value::as_mapping) {
            for id in defined.keys().filter_map(Value::as_str) {
                if !used.contains(&(section, id.to_string())) {
                    errors.push(format!("{section}.{id} is defined but in no pipeline"));
                }
            }
        }
    }
    // A persistent queue names a storage extension that the service enables.
    let mut storages = Vec::new();
    collect_storages(
        config.get("exporters").unwrap_or(&Value::Null),
        &mut storages,
    );
    for storage in storages {
        if !extensions.contains(&storage.as_str()) {
            errors.push(format!(
                "sending_queue.storage {storage} is not an enabled extension"
            ));
        }
    }
    errors
}

fn collect_storages(value: &Value, out: &mut Vec<String>) {
    if let Some(map) = value.as_mapping() {
        for (key, child) in map {
            if key.as_str() == Some("sending_queue") {
                if let Some(s) = child.get("storage").and_then(Value::as_str) {
                    out.push(s.to_string());
                }
            }
            collect_storages(child, out);
        }
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(*key))?.as_str()
}

#[test]
fn the_collector_config_uses_only_real_components_and_keys() {
    let config: Value = serde_yaml::from_str(&config_text()).expect("collector-config.yaml parses");
    let errors = validate(&config);
    assert!(
        errors.is_empty(),
        "collector-config.yaml:\n{}",
        errors.join("\n")
    );

    // What the file is for: spans to voicetrace and to a trace UI, surviving a restart.
    assert_eq!(
        str_at(&config, &["exporters", "otlp/voicetrace", "endpoint"]),
        Some("voicetrace:4317")
    );
    assert_eq!(
        str_at(&config, &["exporters", "otlp/jaeger", "endpoint"]),
        Some("jaeger:4317")
    );
    let traces = &config["service"]["pipelines"]["traces"]["exporters"];
    assert_eq!(
        traces,
        &serde_yaml::from_str::<Value>("[otlp/voicetrace, otlp/jaeger]").unwrap()
    );
    let voicetrace = &config["exporters"]["otlp/voicetrace"];
    assert_eq!(voicetrace["retry_on_failure"]["enabled"], Value::Bool(true));
    assert_eq!(voicetrace["sending_queue"]["enabled"], Value::Bool(true));
    assert_eq!(
        str_at(voicetrace, &["sending_queue", "storage"]),
        Some("file_storage/queue")
    );
    assert!(config["service"]["pipelines"]["logs"]["exporters"]
        .as_sequence()
        .unwrap()
        .contains(&Value::from("otlp/voicetrace")));
}

#[test]
fn the_commented_scale_out_pipeline_is_valid_once_uncommented() {
    let text = uncomment_scale_out(&config_text());
    let config: Value = serde_yaml::from_str(&text).expect("uncommented config parses");
    let errors = validate(&config);
    assert!(
        errors.is_empty(),
        "scale-out block:\n{}\n---\n{text}",
        errors.join("\n")
    );

    let lb = &config["exporters"]["loadbalancing/voicetrace"];
    assert_eq!(lb["routing_key"], Value::from("traceID"));
    let hostnames = lb["resolver"]["static"]["hostnames"]
        .as_sequence()
        .expect("a static resolver");
    assert!(hostnames.len() >= 2, "several receivers");
    let pipelines = config["service"]["pipelines"].as_mapping().unwrap();
    assert!(pipelines.contains_key("traces/scale_out") && pipelines.contains_key("logs/scale_out"));
    assert!(
        config["service"]["pipelines"]["traces/scale_out"]["exporters"]
            .as_sequence()
            .unwrap()
            .contains(&Value::from("loadbalancing/voicetrace"))
    );
}

#[test]
fn the_validator_catches_what_it_claims_to() {
    let bad: Value = serde_yaml::from_str(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
        max_msg_size: 4
  zipkin: {}
processors:
  batch: {}
  memory_limiter: {check_interval: 1s}
exporters:
  otlp/voicetrace:
    endpoint: 127.0.0.1:4317
    insecure: true
    sending_queue: {storage: file_storage/missing}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, memory_limiter]
      exporters: [otlp/voicetrace, otlp/jaeger]
"#,
    )
    .unwrap();
    let errors = validate(&bad).join("\n");
    for expected in [
        "receivers.otlp.protocols.grpc.max_msg_size: not a key",
        "receivers.zipkin: not a known otelcol-contrib component",
        "exporters.otlp/voicetrace.insecure: not a key",
        "names undefined otlp/jaeger",
        "memory_limiter is not the first processor",
        "receivers.zipkin is defined but in no pipeline",
        "storage file_storage/missing is not an enabled extension",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}
