"""The Pydantic v2 oracle of the facade's body parser (e2e/pydantic-oracle.sh).

A FastAPI app whose request models are the reference's (docs/rest.md, "Create and update"),
built from the facade's own OpenAPI document so that the bounds are the same and only the type
rules are compared (the document itself is first checked against the reference's fields and
their kinds, written out below by hand, so that it cannot drift from the reference unnoticed): str (lengths, pattern), int (ge/le), bool, datetime, enums, dict, and
nullability. Every case is sent to this app (in process, FastAPI's TestClient) and to the
facade's parser (the `parse-bodies` example); the 422 bodies must be equal field by field
(type, loc, msg, input, ctx), and what each accepts must be the same values. A difference is a
failure unless it is listed in DELIBERATE with the reason (docs/rest.md says the same).

    python oracle.py OPENAPI_JSON PARSE_BODIES_BINARY
"""

import datetime as dt
import enum
import json
import subprocess
import sys
from typing import Annotated, Any, Optional

from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, create_model

# ---------------------------------------------------------------------------------------------
# The models, from the document.


def resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref:
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def field_type(doc: dict, name: str, schema: dict):
    """The Python type of one property, with its constraints, and whether it is nullable."""
    nullable = False
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        nullable = len(branches) < len(schema["anyOf"])
        schema = branches[0]
    schema = resolve(doc, schema)
    of_type = schema.get("type")
    if isinstance(of_type, list):
        nullable = nullable or "null" in of_type
        of_type = next(t for t in of_type if t != "null")
    if "enum" in schema and name != "timezone":
        # The zone list is the document's; the reference's timezone is a plain str.
        members = {v: v for v in schema["enum"]}
        py = enum.Enum(name.title().replace("_", ""), members, type=str)
    elif of_type == "string" and schema.get("format") == "date-time":
        py = dt.datetime
    elif of_type == "string":
        py = Annotated[
            str,
            Field(
                min_length=schema.get("minLength"),
                max_length=schema.get("maxLength"),
                pattern=schema.get("pattern"),
            ),
        ]
    elif of_type == "integer":
        py = Annotated[int, Field(ge=schema.get("minimum"), le=schema.get("maximum"))]
    elif of_type == "boolean":
        py = bool
    elif of_type == "object":
        py = dict[str, Any]
    else:
        raise SystemExit(f"{name}: no Python type for {schema}")
    return (Optional[py] if nullable else py), nullable


def model(doc: dict, order: list[str], schema_name: str, update: bool) -> type[BaseModel]:
    schema = doc["components"]["schemas"][schema_name]
    required = set(schema.get("required", []))
    fields = {}
    assert sorted(order) == sorted(schema["properties"]), "the table and the document agree"
    for name in order:
        prop = schema["properties"][name]
        py, nullable = field_type(doc, name, prop)
        if name in required:
            fields[name] = (py, ...)
        elif "default" in prop and not update:
            fields[name] = (py, prop["default"])
        else:
            # Optional but, unless nullable, not null: a default of None is not validated, a
            # sent null is.
            fields[name] = (py, None)
    return create_model(schema_name, **fields)


def trigger_model(doc: dict) -> type[BaseModel]:
    """The trigger body: `payload` and `thread_id` as any field, `variables` a dict whose names
    match the document's pattern and whose values are strings of bounded length."""
    props = doc["components"]["schemas"]["TriggerRequest"]["properties"]
    payload, _ = field_type(doc, "payload", props["payload"])
    thread_id, _ = field_type(doc, "thread_id", props["thread_id"])
    v = props["variables"]
    name = Annotated[str, Field(pattern=v["propertyNames"]["pattern"])]
    value = Annotated[str, Field(max_length=v["additionalProperties"]["maxLength"])]
    variables = Optional[Annotated[dict[name, value], Field(max_length=v["maxProperties"])]]
    return create_model("TriggerRequest", payload=(payload, None), thread_id=(thread_id, None),
                        variables=(variables, None))


def app(doc: dict, order: list[str]) -> FastAPI:
    create = model(doc, order, "ActionCreate", update=False)
    update = model(doc, order, "ActionUpdate", update=True)

    TriggerRequest = trigger_model(doc)

    api = FastAPI()

    @api.post("/create")
    def create_route(body: Annotated[create, Body()]):  # type: ignore[valid-type]
        return body.model_dump(mode="json", exclude_unset=True)

    @api.put("/update")
    def update_route(body: Annotated[update, Body()]):  # type: ignore[valid-type]
        return body.model_dump(mode="json", exclude_unset=True)

    @api.post("/trigger")
    def trigger_route(body: Annotated[Optional[TriggerRequest], Body()] = None):  # type: ignore[valid-type]
        if body is None:
            return {"payload": None, "thread_id": None, "variables": {}}
        return {"payload": body.payload, "thread_id": body.thread_id,
                "variables": body.variables or {}}

    return api


# ---------------------------------------------------------------------------------------------
# The cases: each type's rules, lax and strict inputs, at every field of that type.

MINIMAL = {"name": "n", "endpoint_id": "agent", "namespace_id": "m"}

BY_TYPE = {
    "str": ["x", "", " ", 3, 3.5, True, None, [], {}, "é" * 201, "a" * 200, "\u0000"],
    "name": ["agent", "Agent", "a b", "a..b", "-a", "v1.agent", "a" * 253, "a" * 254, 5],
    "int": [
        0, 3, -1, 101, "3", " 3 ", "3.0", "3.5", "x", "", 3.0, 3.5, -0.0, 1e20, True, False,
        None, [], {}, 10**20, "1_000", "+3", "0x10", 2**63, -(2**63) - 1,
    ],
    "bool": [
        True, False, "true", "True", "TRUE", "false", "1", "0", "yes", "no", "on", "off", "t",
        "f", "y", "n", " true", "maybe", "", 0, 1, 2, -1, 0.0, 1.0, 1.5, None, [], {},
    ],
    "datetime": [
        "2030-01-01T00:00:00Z", "2030-01-01T00:00:00+02:00", "2030-01-01T00:00:00.123456Z",
        "2030-01-01T00:00:00", "2030-01-01 00:00:00Z", "2030-01-01T00:00Z", "2030-01-01",
        "2030-01-01T00:00:00z", "2030-02-30T00:00:00Z", "2030-13-01T00:00:00Z",
        "2030-01-01T25:00:00Z", "2030-01-01T00:00:00+25:00", "tomorrow", "", "2030",
        "2030-01-01T00:00:00Zjunk", 1893456000, 1893456000.5, "1893456000", 1893456000000,
        0, -1, True, None, [], {}, "2030-01-01T00:00:00.1234567Z", "2030-01-01T00:00:60Z",
        "2030-01-01t00:00:00Z", "2030-01-01_00:00:00Z", " 2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00+0530", "2030-01-01T00:00:00+05", "2030-01-01T00:00:00-23:59",
        "2030-01-01T00:00:00,5Z", "2030-01-01T0:00:00Z", "2030-1-01", "-1.5", "1e9", "2024-02-29",
        "2023-02-29", "0000-01-01", "9999-12-31T23:59:59Z", "2030-01-01T00:00:00 Z",
        "next tuesday", "99999999999999999999",
    ],
    "enum": ["new_each_run", "fixed", "NEW_EACH_RUN", "", " fixed", 1, None, [], True],
    "nullable_enum": ["cron", "manual", "one_time", "daily", None, 0],
    "dict": [{}, {"k": [1, None, {"z": "{{ date }}"}]}, [], [["k", 1]], "x", "{}", 3, None, True],
}

FIELDS = {
    "str": "namespace_id",
    "name": "endpoint_id",
    "int": "max_retries",
    "bool": "is_enabled",
    "datetime": "scheduled_at",
    "enum": "thread_mode",
    "nullable_enum": "schedule_type",
    "dict": "payload",
}
# The same types at other fields, once each, to catch a rule tied to one field.
EXTRA = [("name", None), ("description", None), ("description", 5), ("retry_delay_seconds", "5"),
         ("timezone", None), ("action_type", "trigger"), ("action_type", "call"),
         ("thread_id", None), ("cron_expression", ""), ("description", "x" * 2001)]

# Template variables of a trigger: names, values, how many.
VARIABLES = [
    {}, None, {"topic": "billing"}, {"_x9": ""}, {"a" * 64: "v"}, {"a" * 65: "v"},
    {"9lives": "v"}, {"a-b": "v"}, {"": "v"}, {"é": "v"}, {"ok": 3}, {"ok": None},
    {"ok": True}, {"ok": ["x"]}, {"ok": {"x": 1}}, {"ok": "x" * 4096}, {"ok": "x" * 4097},
    {"date": "x"},
    {"a-b": 1, "ok": "x" * 4097, "fine": "y"}, {f"v{i}": "x" for i in range(64)},
    {f"v{i}": "x" for i in range(65)}, {**{f"v{i}": "x" for i in range(65)}, "bad-name": 1},
    [], "x", 3, [["k", "v"]],
]

RAW = ["", " ", "null", "[]", "[1]", "3", "\"x\"", "{", "{\"name\": }", "{\"a\": 1,}",
       "{\"name\": \"n\"", "tru", "{\"name\": NaN}", "\ufeff{}"]


def cases() -> list[dict]:
    out = []

    def add(route, body_text, note):
        out.append({"id": len(out), "route": route, "body": body_text, "note": note})

    for kind, field in FIELDS.items():
        for value in BY_TYPE[kind]:
            body = dict(MINIMAL, **{field: value})
            add("create", json.dumps(body), f"create {field}={value!r}")
            add("update", json.dumps({field: value}), f"update {field}={value!r}")
    for field, value in EXTRA:
        add("create", json.dumps(dict(MINIMAL, **{field: value})), f"create {field}={value!r}")
        add("update", json.dumps({field: value}), f"update {field}={value!r}")
    add("create", json.dumps({}), "create {}")
    add("create", json.dumps({"name": 1, "max_retries": "x", "payload": 3}), "create, several")
    add("update", json.dumps({"unknown": 1, "action_id": "x"}), "update, unknown fields")
    for text in RAW:
        for route in ("create", "update", "trigger"):
            add(route, text, f"{route} raw {text!r}")
    for value in [{}, {"k": 1}, None, 3, "x", []]:
        add("trigger", json.dumps({"payload": value}), f"trigger payload={value!r}")
    for value in BY_TYPE["str"]:
        add("trigger", json.dumps({"thread_id": value}), f"trigger thread_id={value!r}")
    add("trigger", json.dumps({"thread_id": "t" * 255}), "trigger thread_id 255 long")
    add("trigger", json.dumps({"thread_id": "t" * 256}), "trigger thread_id 256 long")
    for value in VARIABLES:
        add("trigger", json.dumps({"variables": value}), f"trigger variables={value!r}"[:120])
    add("trigger", json.dumps({"payload": {"q": "{{ topic }}"}, "variables": {"topic": "x"},
                               "thread_id": "support-42"}), "trigger, every field")
    add("trigger", json.dumps({"payload": 3, "thread_id": 4, "variables": {"a-b": 1}}),
        "trigger, several")
    return out


# ---------------------------------------------------------------------------------------------
# Deliberate differences: (note prefix, what differs, why). docs/rest.md lists them too.

DELIBERATE = [
    *[(f"{route} max_retries={n}", "input",
       "an integer outside 64 bits is read as a float (serde_json without arbitrary precision): "
       "the same error, its input printed as a float")
      for route in ("create", "update") for n in (10**20, -(2**63) - 1)],
    *[(f"{route} raw '{{\"name\": NaN}}'", "json_invalid",
       "NaN is not JSON: Python's parser reads it, and FastAPI then fails (500) to encode the "
       "error body; the facade answers json_invalid") for route in ("create", "update", "trigger")],
    ("create scheduled_at='2030-01-01T00:00:00'", "value",
     "a time without offset is taken as UTC and stored as an instant"),
    ("update scheduled_at='2030-01-01T00:00:00'", "value",
     "a time without offset is taken as UTC and stored as an instant"),
    ("create scheduled_at='2030-01-01'", "value", "a date is midnight UTC, stored as an instant"),
    ("trigger variables={'date': 'x'}", "value_error",
     "a built-in template variable cannot be set: a check beyond types"),
    ("update scheduled_at='2030-01-01'", "value", "a date is midnight UTC, stored as an instant"),
]


def normalize(status: int, body: Any) -> Any:
    """Compare instants as instants: both sides print them differently but exactly."""
    if status != 200 or not isinstance(body, dict):
        return body
    out = dict(body)
    value = out.get("scheduled_at")
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return out  # outside Python's datetime (year 0): compared as printed
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        out["scheduled_at"] = parsed.astimezone(dt.timezone.utc).isoformat()
    return out


# ---------------------------------------------------------------------------------------------
# The document against the reference API itself, written out here by hand from its reference
# (the request and response examples of every route), so that the models above, which come from
# the document, cannot drift from it unnoticed: every response object has exactly the reference's
# fields, each field of the same JSON kind, and the request bodies' fields are of the kinds of the
# same fields in the reference's Action.

ACTION = {
    "action_id": "string", "workspace_id": "string", "app_id": "string",
    "endpoint_id": "string", "name": "string", "description": "string",
    "namespace_id": "string", "thread_mode": "enum", "thread_id": "string",
    "thread_id_template": "string", "payload": "object", "action_type": "enum",
    "schedule_type": "enum", "cron_expression": "string", "scheduled_at": "date-time",
    "timezone": "string", "max_retries": "integer", "retry_delay_seconds": "integer",
    "is_enabled": "boolean", "is_running": "boolean", "next_run_at": "date-time",
    "last_run_at": "date-time", "last_run_status": "enum", "last_execution_id": "string",
    "total_runs": "integer", "successful_runs": "integer", "failed_runs": "integer",
    "created_by": "string", "created_at": "date-time", "updated_at": "date-time",
}
RUN = {
    "run_id": "string", "action_id": "string", "workspace_id": "string",
    "execution_id": "string", "status": "enum", "attempt": "integer", "trigger_type": "enum",
    "triggered_at": "date-time", "started_at": "date-time", "completed_at": "date-time",
    # The reference's example is 0; a duration in seconds has fractions.
    "duration_seconds": "number",
    "resolved_payload": "object", "resolved_thread_id": "string", "error_message": "string",
    "error_code": "string",
}
REFERENCE = {
    "Action": ACTION,
    "Run": RUN,
    "ActionList": {"total": "integer", "has_more": "boolean", "next_cursor": "string",
                   "actions": "array"},
    "RunList": {"total": "integer", "has_more": "boolean", "next_cursor": "string",
                "runs": "array"},
    "TriggerResponse": {"action_id": "string", "run_id": "string", "execution_id": "string",
                        "status": "enum", "message": "string"},
}
# Enum values the reference's examples show.
REFERENCE_VALUES = {("Action", "thread_mode"): "new_each_run", ("Action", "action_type"): "trigger",
                    ("Action", "schedule_type"): "cron", ("Action", "last_run_status"): "pending",
                    ("Run", "status"): "pending", ("Run", "trigger_type"): "manual",
                    ("TriggerResponse", "status"): "pending"}
# Where the document is narrower than a plain string, on purpose (docs/rest.md): a zone must be
# an IANA name, a run's error code one of the documented codes.
NARROWED = {"timezone": "enum", "error_code": "enum"}


def kind(doc: dict, schema: dict) -> tuple[str, list]:
    """The JSON kind of a property (null allowed or not), and its enum values if it has any."""
    if "anyOf" in schema:
        schema = next(b for b in schema["anyOf"] if b.get("type") != "null")
    schema = resolve(doc, schema)
    of_type = schema.get("type")
    if isinstance(of_type, list):
        of_type = next(t for t in of_type if t != "null")
    if "enum" in schema:
        return "enum", schema["enum"]
    if of_type == "string" and schema.get("format") == "date-time":
        return "date-time", []
    return of_type, []


def reference_problems(doc: dict, order: list[str]) -> list[str]:
    schemas = doc["components"]["schemas"]
    problems = []
    for name, fields in REFERENCE.items():
        props = schemas[name]["properties"]
        if sorted(props) != sorted(fields):
            problems.append(f"{name}: fields {sorted(set(props) ^ set(fields))} differ")
        for field, expected in fields.items():
            if field not in props:
                continue
            got, values = kind(doc, props[field])
            if got != expected and NARROWED.get(field) != got:
                problems.append(f"{name}.{field}: {got}, the reference has {expected}")
            example = REFERENCE_VALUES.get((name, field))
            if example is not None and example not in values:
                problems.append(f"{name}.{field}: {example!r} is not among {values}")
    for name in ["ActionCreate", "ActionUpdate"]:
        props = schemas[name]["properties"]
        for field in order:
            expected = ACTION.get(field)
            got, _ = kind(doc, props[field])
            if expected is None:
                problems.append(f"{name}.{field}: not a field of the reference's Action")
            elif got != expected and NARROWED.get(field) != got:
                problems.append(f"{name}.{field}: {got}, the reference's Action has {expected}")
    return problems


def main() -> int:
    doc = json.load(open(sys.argv[1]))
    parser = sys.argv[2]
    order = json.loads(subprocess.run([parser, "--fields"], capture_output=True, text=True,
                                      check=True).stdout)
    problems = reference_problems(doc, order)
    for problem in problems:
        print(f"the document differs from the reference: {problem}")
    print(f"{len(REFERENCE)} response objects and {len(order)} request fields checked against "
          f"the reference: {len(problems)} differences")
    client = TestClient(app(doc, order), raise_server_exceptions=False)
    all_cases = cases()
    facade = subprocess.run([parser], input=json.dumps(all_cases), capture_output=True,
                            text=True, check=True)
    facade_answers = {a["id"]: a for a in json.loads(facade.stdout)}
    failures, deliberate = [], []
    for case in all_cases:
        method = "put" if case["route"] == "update" else "post"
        response = client.request(method, "/" + case["route"], content=case["body"].encode(),
                                  headers={"content-type": "application/json"})
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        oracle = (response.status_code, normalize(response.status_code, answer))
        mine = facade_answers[case["id"]]
        ours = (mine["status"], normalize(mine["status"], mine["body"]))
        if oracle == ours:
            continue
        known = [d for d in DELIBERATE if case["note"] == d[0]]
        record = {"case": case["note"], "body": case["body"][:200], "pydantic": oracle,
                  "facade": ours}
        (deliberate if known else failures).append(record)
    print(f"{len(all_cases)} cases, {len(all_cases) - len(failures) - len(deliberate)} equal, "
          f"{len(deliberate)} deliberate differences, {len(failures)} failures")
    for record in failures:
        print(json.dumps(record, ensure_ascii=False))
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
