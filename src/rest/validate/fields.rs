//! Field readers over one body object, with Pydantic's lax coercions ("3" is an int, "false" a
//! bool, 5.0 an int; docs/rest.md, "Errors").

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::pydantic::{enum_error, ge, le, too_long, too_short};
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

    pub(super) fn required_str(
        &mut self,
        field: &str,
        length: Length,
        required: bool,
    ) -> Option<String> {
        if required && self.raw(field).is_none() {
            self.errs.push(FieldError::missing(
                Self::at(field),
                Value::Object(self.obj.clone()),
            ));
            return None;
        }
        if self.raw(field).is_some_and(Value::is_null) {
            self.errs.push(FieldError::new(
                "string_type",
                Self::at(field),
                "Input should be a valid string",
                Value::Null,
            ));
            return None;
        }
        self.str(field, length)
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

    pub(super) fn int(&mut self, field: &str, Range { min, max }: Range) -> Option<i32> {
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
        i32::try_from(n).ok()
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

    pub(super) fn enumeration<T: serde::de::DeserializeOwned>(
        &mut self,
        field: &str,
        options: &[&str],
    ) -> Option<T> {
        let value = self.raw(field)?;
        if value.is_null() {
            return None;
        }
        match value.as_str().filter(|s| options.contains(s)) {
            Some(s) => serde_json::from_value(json!(s)).ok(),
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
