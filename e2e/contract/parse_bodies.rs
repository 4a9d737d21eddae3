//! The facade's body parser as a filter, for the Pydantic oracle (`e2e/pydantic-oracle.sh`):
//! reads a JSON array of cases `{"id", "route": "create" | "update" | "trigger", "body": <the
//! raw request body text>}` on stdin, and prints for each `{"id", "status", "body"}`: the 422
//! body the facade answers, or 200 with what it accepted (each sent field with its value as
//! stored; for a trigger, its payload, thread and variables). Only the reading of the body is
//! run: the checks beyond types (cron, zone, templates, the endpoint) and the path are not part
//! of the comparison.
//! `parse-bodies --fields` prints the REST field names in the table's order.

use std::io::Read;

use punctual::rest::error::ApiError;
use punctual::rest::extract::parse_json;
use punctual::rest::validate::{parse_action_body, parse_trigger_body};
use serde_json::{Map, Value, json};

fn answer(route: &str, text: &str) -> (u16, Value) {
    let invalid = |errs| {
        let error = ApiError::Validation(errs);
        (422, error.body(""))
    };
    let body = match parse_json(text.as_bytes()) {
        Ok(body) => body,
        Err(e) => return (e.status().as_u16(), e.body("")),
    };
    match route {
        "trigger" => match parse_trigger_body(body.as_ref()) {
            Ok(input) => (
                200,
                json!({
                    "payload": input.payload,
                    "thread_id": input.thread_id,
                    "variables": input.variables,
                }),
            ),
            Err(errs) => invalid(errs),
        },
        _ => {
            let Some(body) = body else {
                return invalid(vec![punctual::rest::error::FieldError::missing(
                    punctual::rest::error::loc(&["body"]),
                    Value::Null,
                )]);
            };
            match parse_action_body(&body, route == "create") {
                Ok(input) => {
                    let sent: Map<String, Value> = input
                        .sent()
                        .map(|(field, value)| (field.rest.to_string(), value.clone()))
                        .collect();
                    (200, Value::Object(sent))
                }
                Err(errs) => invalid(errs),
            }
        }
    }
}

fn main() {
    // `--fields`: the REST fields in table order, the order of the reference's models (a
    // document's properties are sorted).
    if std::env::args().nth(1).as_deref() == Some("--fields") {
        let names: Vec<&str> = punctual::rest::model::ACTION_FIELDS
            .iter()
            .map(|f| f.rest)
            .collect();
        println!("{}", json!(names));
        return;
    }
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("reading stdin: {e}");
        std::process::exit(2);
    }
    let cases: Vec<Value> = match serde_json::from_str(&input) {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("the cases are not a JSON array: {e}");
            std::process::exit(2);
        }
    };
    let answers: Vec<Value> = cases
        .iter()
        .map(|case| {
            let route = case["route"].as_str().unwrap_or("create");
            let (status, body) = answer(route, case["body"].as_str().unwrap_or(""));
            json!({"id": case["id"], "status": status, "body": body})
        })
        .collect();
    println!("{}", Value::Array(answers));
}
