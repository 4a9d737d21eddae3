//! The three custom resources of `punctual.dev/v1alpha1` and their CRDs.
//!
//! The Rust types are the source of truth: doc comments become `kubectl explain` text, and the
//! schema (bounds, enums, CEL rules) is what the API server enforces. `crds/` holds the generated
//! YAML; `punctual crds` prints it and a test keeps the two identical.

mod action;
mod endpoint;
mod run;

pub use action::{
    Action, ActionSpec, ActionStatus, ActionType, ConcurrencyPolicy, Length, Range, ScheduleType,
    ThreadMode,
};
pub use endpoint::{
    ActionEndpoint, ActionEndpointSpec, EndpointAuth, HttpMethod, SecretKeyRef, ServiceTarget,
};
pub use run::{
    ActionRun, ActionRunSpec, ActionRunStatus, Attempt, RunErrorCode, RunPhase, TriggerType,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::{Schema, SchemaGenerator, json_schema};

/// The API group of every Punctual resource.
pub const GROUP: &str = "punctual.dev";

/// A free-form JSON object (payloads).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Schema of a free-form JSON object: the API server keeps every field as sent.
fn object_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of a conditions list: a map keyed by `type`, so server-side apply merges entries.
fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item =
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

/// The CRDs of all three resources, in the order `punctual crds` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Action::crd(), ActionRun::crd(), ActionEndpoint::crd()]
}

/// The CRDs as one multi-document YAML stream; identical to the files in `crds/`.
pub fn crds_yaml() -> Result<Vec<(String, String)>, serde_yaml::Error> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            Ok((format!("{name}.yaml"), serde_yaml::to_string(&crd)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crds_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        for (file, yaml) in crds_yaml().unwrap() {
            let committed = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
            assert!(
                committed == yaml,
                "crds/{file} is out of date: run `make crds` and commit the result"
            );
        }
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            files,
            crds().len(),
            "crds/ holds a file that no type generates"
        );
    }

    /// kubectl explain prints a field's description but not its schema default, so every
    /// defaulted field says its default in words ("Defaults to `X`.").
    #[test]
    fn every_defaulted_field_names_its_default_in_its_description() {
        fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
            let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
                if let Some(items) = schema.get("items") {
                    walk(&format!("{path}[]"), items, missing);
                }
                return;
            };
            for (name, prop) in props {
                let here = format!("{path}.{name}");
                if let (true, Some(default)) = (here.contains(".spec."), prop.get("default")) {
                    let shown = match default {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let description = prop["description"].as_str().unwrap_or_default();
                    if !description.contains(&format!("Defaults to `{shown}`")) {
                        missing.push(format!("{here} (default {shown})"));
                    }
                }
                walk(&here, prop, missing);
            }
        }
        let mut missing = Vec::new();
        for crd in crds() {
            for version in &crd.spec.versions {
                let schema = version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref());
                let schema = serde_json::to_value(schema).unwrap();
                walk(&crd.spec.names.kind, &schema, &mut missing);
            }
        }
        assert!(
            missing.is_empty(),
            "say \"Defaults to `X`.\" in: {missing:#?}"
        );
    }

    #[test]
    fn schedule_type_inference() {
        let mut spec: ActionSpec = serde_json::from_value(serde_json::json!({
            "app": "a", "endpoint": "e", "namespaceId": "n"
        }))
        .unwrap();
        assert_eq!(spec.effective_schedule_type(), ScheduleType::Manual);
        spec.scheduled_at = Some(chrono::Utc::now());
        assert_eq!(spec.effective_schedule_type(), ScheduleType::OneTime);
        spec.cron_expression = Some("* * * * *".into());
        assert_eq!(spec.effective_schedule_type(), ScheduleType::Cron);
        spec.schedule_type = Some(ScheduleType::Manual);
        assert_eq!(spec.effective_schedule_type(), ScheduleType::Manual);
    }
}
