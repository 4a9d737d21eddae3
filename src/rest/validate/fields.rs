//! Field readers over one body object, with Pydantic's lax coercions ("3" is an int, "false" a
//! bool, 5.0 an int; docs/rest.md, "Errors").

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::body::{BodyField, Kind, Presence};
use super::lax::{LaxInt, Refusal, lax_bool, lax_datetime, lax_int};
use super::path::{DNS_SUBDOMAIN, DNS_SUBDOMAIN_PATTERN};
use super::pydantic::{enum_error, ge, le, pattern_mismatch, too_long, too_short};
use crate::resources::{JsonObject, Length, Range};
use crate::rest::error::{FieldError, loc};

/// Field readers over one body object; each records its own errors and goes on.
pub(super) struct Fields<'a> {
    pub(super) obj: &'a Map<String, Value>,
    pub(super) errs: &'a mut Vec<FieldError>,
}

impl<'a> Fields<'a> {
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

    fn raw(&self, field: &str) -> Option<&'a Value> {
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
        let n = match lax_int(value) {
            Ok(n) => n,
            Err(refusal) => {
                self.errs.push(refused(Self::at(field), refusal, value));
                return None;
            }
        };
        match n {
            LaxInt::Exact(n) if n < min => self.errs.push(ge(Self::at(field), min, value.clone())),
            LaxInt::BelowI64 => self.errs.push(ge(Self::at(field), min, value.clone())),
            LaxInt::Exact(n) if n > max => self.errs.push(le(Self::at(field), max, value.clone())),
            LaxInt::AboveI64 => self.errs.push(le(Self::at(field), max, value.clone())),
            LaxInt::Exact(n) => return Some(n),
        }
        None
    }

    pub(super) fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.raw(field)?;
        lax_bool(value)
            .map_err(|refusal| self.errs.push(refused(Self::at(field), refusal, value)))
            .ok()
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
        lax_datetime(value)
            .map_err(|refusal| self.errs.push(refused(Self::at(field), refusal, value)))
            .ok()
    }
}

/// The error of a refused coercion, at `loc`.
fn refused(loc: Vec<Value>, refusal: Refusal, input: &Value) -> FieldError {
    let error = FieldError::new(refusal.kind, loc, refusal.msg, input.clone());
    match refusal.ctx_error {
        Some(reason) => error.with_ctx(json!({ "error": reason })),
        None => error,
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

/// A date-time text as the body reader accepts it (`lax::lax_datetime`), or Pydantic's reason.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    lax_datetime(&Value::String(s.to_string())).map_err(|r| r.ctx_error.unwrap_or(r.msg))
}
