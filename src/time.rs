//! Conversions between Kubernetes timestamps and chrono instants, shared by every layer.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A Kubernetes timestamp as a chrono instant.
pub fn to_chrono(time: &Time) -> DateTime<Utc> {
    let nanos = u32::try_from(time.0.subsec_nanosecond()).unwrap_or(0);
    DateTime::from_timestamp(time.0.as_second(), nanos).unwrap_or_default()
}

/// A chrono instant as a Kubernetes timestamp (whole seconds, as the API server stores them).
pub fn to_time(t: DateTime<Utc>) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).unwrap_or_default())
}

/// RFC 3339 in UTC with a `Z`, with fractional seconds only when there are any.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
