//! `ACTION_FIELDS` against the Action CRD generated from the types: for every REST-writable
//! field, the CRD schema, the facade's table (what `validate` checks) and the OpenAPI body schema
//! state the same type, bounds, enum values, nullability and default (docs/rest.md, "Where a
//! field's rules live"). A bound changed on one side only fails here.

use serde_json::{Map, Value, json};

use super::ACTION_FIELDS;
use crate::resources::{ActionSpec, Length, Range, crds};
use crate::rest::openapi::document;
use crate::rest::validate::{BodyField, Kind, Presence, new_spec, path_grammar};

/// Spec fields the REST API does not write (the path gives `app`), each a decision: a new spec
/// field must be added either to `ACTION_FIELDS` or here.
const NOT_ON_REST: &[&str] = &[
    "app",
    "timeoutSeconds",
    "completionTimeoutSeconds",
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "successfulRunsHistoryLimit",
    "failedRunsHistoryLimit",
    // Delivery (docs/delivery.md): the reference model has no such fields.
    "retryBackoff",
    "maxRetryDelaySeconds",
    "suspendAfterConsecutiveFailures",
    "notifications",
];

/// What a schema says about one field's values, in a form the three sources share.
#[derive(Debug, PartialEq)]
struct Rules {
    of_type: String,
    nullable: bool,
    format: Option<String>,
    /// None when 0: a minimum length of 0 bounds nothing, and the CRD leaves it out.
    min_length: Option<i64>,
    max_length: Option<i64>,
    minimum: Option<i64>,
    maximum: Option<i64>,
    values: Option<Value>,
    default: Option<Value>,
}

impl Rules {
    /// Reads a schema object (a CRD property, or a resolved OpenAPI property).
    fn of(schema: &Map<String, Value>, nullable: bool) -> Self {
        let int = |key: &str| {
            // The CRD keeps numbers as floats (100.0); they are whole in every bound.
            let n = schema.get(key).and_then(Value::as_f64)?;
            assert_eq!(n.fract(), 0.0, "{key} {n} is not whole");
            Some(n as i64)
        };
        Self {
            of_type: schema["type"].as_str().unwrap_or_default().to_string(),
            nullable,
            format: schema.get("format").and_then(Value::as_str).map(Into::into),
            min_length: int("minLength").filter(|n| *n != 0),
            max_length: int("maxLength"),
            minimum: int("minimum"),
            maximum: int("maximum"),
            values: schema.get("enum").cloned(),
            default: schema.get("default").cloned(),
        }
    }

    /// What the facade's table says, with the default a create stores.
    fn of_table(field: &BodyField) -> Self {
        let (of_type, format) = match field.kind {
            Kind::Str(_) | Kind::Name(_) | Kind::Zone(_) | Kind::Enum(_) => ("string", None),
            Kind::Int(Range { min, max }) => {
                let fits = i32::try_from(min).is_ok() && i32::try_from(max).is_ok();
                ("integer", Some(if fits { "int32" } else { "int64" }))
            }
            Kind::Bool => ("boolean", None),
            Kind::Object => ("object", None),
            Kind::Time => ("string", Some("date-time")),
        };
        let (length, range) = match field.kind {
            Kind::Str(length) | Kind::Name(length) | Kind::Zone(length) => (Some(length), None),
            Kind::Int(range) => (None, Some(range)),
            _ => (None, None),
        };
        let defaults = serde_json::to_value(new_spec("app").unwrap()).unwrap();
        Self {
            of_type: of_type.into(),
            nullable: field.presence == Presence::Nullable,
            format: format.map(Into::into),
            min_length: length
                .map(|Length { min, .. }| min as i64)
                .filter(|n| *n != 0),
            max_length: length.map(|Length { max, .. }| max as i64),
            minimum: range.map(|r| r.min),
            maximum: range.map(|r| r.max),
            values: match field.kind {
                Kind::Enum(e) => Some(json!(e.values())),
                _ => None,
            },
            default: (field.presence == Presence::Defaulted).then(|| defaults[field.spec].clone()),
        }
    }
}

/// The properties of the Action CRD's `spec`, and its required list.
fn crd_spec() -> (Map<String, Value>, Vec<Value>) {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "Action")
        .unwrap();
    let version = &crd.spec.versions[0];
    let schema = version.schema.as_ref().unwrap().open_api_v3_schema.as_ref();
    let schema = serde_json::to_value(schema.unwrap()).unwrap();
    let spec = &schema["properties"]["spec"];
    let properties = spec["properties"].as_object().unwrap().clone();
    let required = spec["required"].as_array().cloned().unwrap_or_default();
    (properties, required)
}

/// The OpenAPI create body's rules for `rest`, with `$ref`s and `anyOf [T, null]` resolved.
fn openapi_rules(doc: &Value, rest: &str) -> Rules {
    let schemas = &doc["components"]["schemas"];
    let property = schemas["ActionCreate"]["properties"][rest]
        .as_object()
        .unwrap_or_else(|| panic!("{rest} is not in the ActionCreate schema"))
        .clone();
    let resolve = |schema: &Value| -> Map<String, Value> {
        let mut resolved = match schema["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")]
                .as_object()
                .unwrap()
                .clone(),
            None => schema.as_object().unwrap().clone(),
        };
        resolved.remove("description");
        resolved
    };
    let (mut schema, mut nullable) = match property.get("anyOf").and_then(Value::as_array) {
        Some(branches) => {
            let inner = branches.iter().find(|b| b["type"] != "null").unwrap();
            (resolve(inner), true)
        }
        None => (resolve(&Value::Object(property.clone())), false),
    };
    if let Some(types) = schema.get("type").and_then(Value::as_array).cloned() {
        nullable = types.contains(&json!("null"));
        let of_type = types.into_iter().find(|t| t != "null").unwrap();
        schema.insert("type".into(), of_type);
    }
    if let Some(default) = property.get("default") {
        schema.insert("default".into(), default.clone());
    }
    Rules::of(&schema, nullable)
}

#[test]
fn the_crd_and_the_facade_agree_on_every_field() {
    let (crd, required) = crd_spec();
    let doc = document();
    for field in ACTION_FIELDS {
        let (rest, spec) = (field.rest, field.spec);
        let property = crd
            .get(spec)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{rest}: the CRD spec has no field {spec}"));
        // A field a create must send may set an optional spec field (`name` sets displayName,
        // which defaults to metadata.name); a null is refused for it either way.
        let nullable =
            property.get("nullable") == Some(&json!(true)) && field.presence != Presence::Required;
        let in_crd = Rules::of(property, nullable);
        assert_eq!(
            Rules::of_table(field),
            in_crd,
            "{rest} ({spec}): table vs CRD"
        );
        let mut in_openapi = openapi_rules(&doc, rest);
        if let Kind::Zone(_) = field.kind {
            // The document lists the zones (the CRD cannot: its schema is not regenerated when
            // the tz database changes); bodies/tests.rs checks the list.
            assert!(
                in_openapi.values.take().is_some(),
                "{rest}: the zones are listed"
            );
        }
        assert_eq!(in_openapi, in_crd, "{rest}: OpenAPI vs CRD");
        if let Kind::Object = field.kind {
            assert_eq!(
                property["x-kubernetes-preserve-unknown-fields"], true,
                "{rest}"
            );
        }
        if required.contains(&json!(spec)) {
            assert_eq!(
                field.presence,
                Presence::Required,
                "{rest}: the CRD requires {spec}"
            );
        }
    }
    let mut covered: Vec<&str> = ACTION_FIELDS.iter().map(|f| f.spec).collect();
    covered.extend(NOT_ON_REST);
    covered.sort();
    let mut in_crd: Vec<&str> = crd.keys().map(String::as_str).collect();
    in_crd.sort();
    assert_eq!(
        covered, in_crd,
        "every spec field is on REST or in NOT_ON_REST"
    );
}

#[test]
fn app_id_and_the_payload_limit_agree_with_the_crd() {
    let (crd, _) = crd_spec();
    let app = path_grammar("app_id").unwrap();
    assert_eq!(crd["app"]["minLength"], app.min_length);
    assert_eq!(crd["app"]["maxLength"], app.max_length);
    // No schema bounds an object's size: the limit is stated in the descriptions.
    let limit = format!("{} KiB", ActionSpec::MAX_PAYLOAD_BYTES / 1024);
    let payload = ACTION_FIELDS.iter().find(|f| f.rest == "payload").unwrap();
    assert!(payload.doc.contains(&limit), "{}", payload.doc);
    let described = crd["payload"]["description"].as_str().unwrap();
    assert!(described.contains(&limit), "{described}");
}
