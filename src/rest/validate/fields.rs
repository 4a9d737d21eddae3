//! Field readers over one body object, with Pydantic's lax coercions ("3" is an int, "false" a
//! bool, 5.0 an int; docs/rest.md, "Errors").

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::body::{BodyField, Kind, Presence};
use super::path::{DNS_SUBDOMAIN, DNS_SUBDOMAIN_PATTERN};
use super::pydantic::{enum_error, ge, le, pattern_mismatch, too_long, too_short};
use crate::resources::{JsonObject, Length, Range};
use crate::rest::error::{FieldError, loc};

/// Field readers over one body object; each records its own errors and goes on.
pub(super) struct Fields<'a> {
    pub(super) obj: &'a Map<String, Value>,
    pub(super) errs: &'a mut Vec<FieldError>,
}

impl Fields<'_> {
    fn at(field: &str) -> Vec<Value> {
        loc(&["body", field])
    }

    /// A field that may be null: `Some(None)` for an explicit null, None when not sent.
    pub(super) fn nullable<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.raw(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(read(self)),
        }
    }

    fn raw(&self, field: &str) -> Option<&Value> {
        self.obj.get(field)
    }

    /// Reads one field of `ACTION_FIELDS`: its value as the spec stores it when it was sent and
    /// is valid, `Value::Null` for the explicit null of a `Nullable` one, else None (not sent,
    /// or invalid and recorded in `errs`).
    pub(super) fn field(&mut self, field: &BodyField, create: bool) -> Option<Value> {
        let name = field.rest;
        match field.presence {
            Presence::Nullable => self
                .nullable(name, |v| v.value(name, field.kind))
                .map(|value| value.unwrap_or(Value::Null)),
            Presence::Required if create && self.raw(name).is_none() => {
                self.errs.push(FieldError::missing(
                    Self::at(name),
                    Value::Object(self.obj.clone()),
                ));
                None
            }
            // Only a `Nullable` field may be null, as the document says (Pydantic: a field whose
            // type does not include None refuses null).
            Presence::Required | Presence::Defaulted
                if self.raw(name).is_some_and(Value::is_null) =>
            {
                self.errs.push(null_error(name, field.kind));
                None
            }
            Presence::Required | Presence::Defaulted => self.value(name, field.kind),
        }
    }

    /// The sent value of `field` read as `kind` (never null: `field` answers a null first).
    fn value(&mut self, field: &str, kind: Kind) -> Option<Value> {
        match kind {
            Kind::Str(length) | Kind::Zone(length) => self.str(field, length).map(Value::String),
            Kind::Name(length) => self.name(field, length).map(Value::String),
            Kind::Int(range) => self.int(field, range).map(Value::from),
            Kind::Bool => self.boolean(field).map(Value::Bool),
            Kind::Enum(e) => self.enumeration(field, &e.values()).map(Value::String),
            Kind::Object => self.dict(field).map(Value::Object),
            Kind::Time => self
                .datetime(field)
                .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
        }
    }

    pub(super) fn str(&mut self, field: &str, Length { min, max }: Length) -> Option<String> {
        let value = self.raw(field)?;
        let Some(s) = value.as_str() else {
            if !value.is_null() {
                self.errs.push(FieldError::new(
                    "string_type",
                    Self::at(field),
                    "Input should be a valid string",
                    value.clone(),
                ));
            }
            return None;
        };
        let len = s.chars().count();
        if len < min {
            self.errs
                .push(too_short(Self::at(field), min, value.clone()));
            return None;
        }
        if len > max {
            self.errs
                .push(too_long(Self::at(field), max, value.clone()));
            return None;
        }
        Some(s.to_string())
    }

    /// An object name: a string of `length` that matches `DNS_SUBDOMAIN_PATTERN`.
    fn name(&mut self, field: &str, length: Length) -> Option<String> {
        let s = self.str(field, length)?;
        if DNS_SUBDOMAIN.is_match(&s) {
            return Some(s);
        }
        self.errs.push(pattern_mismatch(
            Self::at(field),
            DNS_SUBDOMAIN_PATTERN,
            json!(s),
        ));
        None
    }

    pub(super) fn int(&mut self, field: &str, Range { min, max }: Range) -> Option<i64> {
        let value = self.raw(field)?;
        let n = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(i),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(f as i64),
                    _ => {
                        self.errs.push(FieldError::new(
                            "int_from_float",
                            Self::at(field),
                            "Input should be a valid integer, got a number with a fractional part",
                            value.clone(),
                        ));
                        return None;
                    }
                },
            },
            // Pydantic's lax mode accepts integers written as strings.
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => {
                    self.errs.push(FieldError::new(
                        "int_parsing",
                        Self::at(field),
                        "Input should be a valid integer, unable to parse string as an integer",
                        value.clone(),
                    ));
                    return None;
                }
            },
            _ => None,
        };
        let Some(n) = n else {
            self.errs.push(FieldError::new(
                "int_type",
                Self::at(field),
                "Input should be a valid integer",
                value.clone(),
            ));
            return None;
        };
        if n < min {
            self.errs.push(ge(Self::at(field), min, value.clone()));
            return None;
        }
        if n > max {
            self.errs.push(le(Self::at(field), max, value.clone()));
            return None;
        }
        Some(n)
    }

    pub(super) fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.raw(field)?;
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
                _ => {
                    self.errs.push(FieldError::new(
                        "bool_parsing",
                        Self::at(field),
                        "Input should be a valid boolean, unable to interpret input",
                        value.clone(),
                    ));
                    None
                }
            },
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Some(n.as_i64() == Some(1))
            }
            _ => {
                self.errs.push(FieldError::new(
                    "bool_type",
                    Self::at(field),
                    "Input should be a valid boolean",
                    value.clone(),
                ));
                None
            }
        }
    }

    pub(super) fn enumeration(&mut self, field: &str, options: &[String]) -> Option<String> {
        let value = self.raw(field)?;
        if value.is_null() {
            return None;
        }
        match value.as_str().filter(|s| options.iter().any(|o| o == s)) {
            Some(s) => Some(s.to_string()),
            None => {
                self.errs
                    .push(enum_error(Self::at(field), options, value.clone()));
                None
            }
        }
    }

    pub(super) fn dict(&mut self, field: &str) -> Option<JsonObject> {
        let value = self.raw(field)?;
        match value {
            Value::Object(m) => Some(m.clone()),
            Value::Null => None,
            _ => {
                self.errs.push(FieldError::new(
                    "dict_type",
                    Self::at(field),
                    "Input should be a valid dictionary",
                    value.clone(),
                ));
                None
            }
        }
    }

    pub(super) fn datetime(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let value = self.raw(field)?;
        let Some(s) = value.as_str() else {
            if !value.is_null() {
                self.errs.push(FieldError::new(
                    "datetime_type",
                    Self::at(field),
                    "Input should be a valid datetime",
                    value.clone(),
                ));
            }
            return None;
        };
        match parse_datetime(s) {
            Ok(t) => Some(t),
            Err(reason) => {
                self.errs.push(
                    FieldError::new(
                        "datetime_from_date_parsing",
                        Self::at(field),
                        format!("Input should be a valid datetime or date, {reason}"),
                        value.clone(),
                    )
                    .with_ctx(json!({ "error": reason })),
                );
                None
            }
        }
    }
}

/// The error for a `null` where a field of `kind` that is not nullable was expected, as Pydantic
/// words it.
fn null_error(field: &str, kind: Kind) -> FieldError {
    let at = Fields::at(field);
    let (kind, msg) = match kind {
        Kind::Str(_) | Kind::Name(_) | Kind::Zone(_) => {
            ("string_type", "Input should be a valid string")
        }
        Kind::Int(_) => ("int_type", "Input should be a valid integer"),
        Kind::Bool => ("bool_type", "Input should be a valid boolean"),
        Kind::Enum(e) => return enum_error(at, &e.values(), Value::Null),
        Kind::Object => ("dict_type", "Input should be a valid dictionary"),
        Kind::Time => ("datetime_type", "Input should be a valid datetime"),
    };
    FieldError::new(kind, at, msg, Value::Null)
}

/// RFC 3339, or a date-time without offset (taken as UTC), or a bare date (midnight UTC), as
/// Pydantic accepts them.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, &'static str> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    if s.len() < 10 {
        Err("input is too short")
    } else {
        Err("invalid datetime format")
    }
}
