//! Cekura's `CreateCallLog` schema, read from the published OpenAPI document in
//! `tests/fixtures/reference/cekura-send-calls-openapi.md`, and a validator for the bodies the
//! cekura sink sends.

use std::path::Path;

use serde_json::Value;

/// Cekura's `CreateCallLog` schema from `tests/fixtures/reference/cekura-send-calls-openapi.md`:
/// the document's YAML, `components.schemas.CreateCallLog` with every `$ref` resolved into the
/// components.
pub fn cekura_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/cekura-send-calls-openapi.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find("````yaml").expect("a ````yaml block");
    let yaml = &doc[start..];
    let yaml = &yaml[yaml.find('\n').unwrap() + 1..];
    let yaml = &yaml[..yaml.find("\n````").expect("the block's end")];
    let openapi: Value = serde_yaml::from_str(yaml).unwrap();
    let components = openapi["components"]["schemas"].clone();
    let schema = components["CreateCallLog"].clone();
    assert!(schema.is_object(), "CreateCallLog in the document");
    resolve_refs(schema, &components, 0)
}

fn resolve_refs(value: Value, components: &Value, depth: usize) -> Value {
    assert!(depth < 32, "$ref cycle");
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unsupported $ref {r}"));
                return resolve_refs(components[name].clone(), components, depth + 1);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, resolve_refs(v, components, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| resolve_refs(v, components, depth + 1))
                .collect(),
        ),
        other => other,
    }
}

/// Validates bodies against `CreateCallLog` (formats checked too), and what the schema says
/// Validates bodies against `CreateCallLog` (formats checked too), and what the schema says
/// only in words: no field the schema does not define, no read-only field, the cekura
/// transcript's roles.
pub struct CekuraValidator {
    validator: jsonschema::Validator,
    properties: Vec<String>,
}

impl CekuraValidator {
    /// Builds the validator from the reference document.
    pub fn new() -> CekuraValidator {
        let schema = cekura_schema();
        let properties = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("CreateCallLog is a valid JSON Schema");
        CekuraValidator {
            validator,
            properties,
        }
    }

    /// Panics with every violation.
    pub fn check(&self, body: &Value) {
        let errors = self.violations(body);
        assert!(
            errors.is_empty(),
            "CreateCallLog violations: {errors:#?}\n{body:#}"
        );
    }

    /// Every violation of a body.
    pub fn violations(&self, body: &Value) -> Vec<String> {
        let mut errors: Vec<String> = self
            .validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        let Some(fields) = body.as_object() else {
            errors.push("not an object".into());
            return errors;
        };
        for key in fields.keys() {
            if !self.properties.contains(key) {
                errors.push(format!("field {key:?} is not in CreateCallLog"));
            }
            if key == "id" {
                errors.push("`id` is read-only".into());
            }
        }
        if body.get("agent").is_none() && body.get("assistant_id").is_none() {
            errors.push("agent or assistant_id is required".into());
        }
        if body["transcript_type"] == "cekura" {
            for u in body["transcript_json"].as_array().into_iter().flatten() {
                let role = u["role"].as_str().unwrap_or("");
                if ![
                    "Main Agent",
                    "Testing Agent",
                    "Function Call",
                    "Function Call Result",
                ]
                .contains(&role)
                {
                    errors.push(format!(
                        "role {role:?} is not valid for transcript_type cekura"
                    ));
                }
                let (start, end) = (u["start_time"].as_f64(), u["end_time"].as_f64());
                if !u["content"].is_string() || start.is_none() || end.is_none() || start > end {
                    errors.push(format!("malformed utterance {u}"));
                }
            }
        }
        errors
    }
}
