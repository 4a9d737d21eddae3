//! W3C Trace Context for requests (pure; docs/delivery.md, "Tracing"): one trace per run, one
//! span per attempt, both derived from ids the run already has, so they are known before an
//! attempt starts and are the same after a restart. Every request carries
//! `traceparent: 00-<trace-id>-<span-id>-01`; the run records its trace id in `status.traceId`.

/// The trace id of a run: the 32 hex digits of a UUID derived from its uid (never all zero).
pub fn trace_id(run_uid: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("trace/{run_uid}").as_bytes(),
    );
    id.simple().to_string()
}

/// The span id of an attempt: the first 16 hex digits of its execution id, or a fixed non-zero
/// id if those are all zero (an all-zero span id is invalid).
pub fn span_id(execution_id: &str) -> String {
    let hex: String = execution_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(16)
        .collect();
    if hex.len() == 16 && hex.chars().any(|c| c != '0') {
        hex
    } else {
        "0000000000000001".into()
    }
}

/// The `traceparent` of an attempt: version 00, sampled.
pub fn traceparent(run_uid: &str, execution_id: &str) -> String {
    format!("00-{}-{}-01", trace_id(run_uid), span_id(execution_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_hex(s: &str, len: usize) -> bool {
        s.len() == len
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && s.chars().any(|c| c != '0')
    }

    #[test]
    fn one_trace_per_run_one_span_per_attempt() {
        let uid = "3f1c2a9e-0000-4000-8000-000000000001";
        let one = crate::runspec::execution_id(uid, 1).to_string();
        let two = crate::runspec::execution_id(uid, 2).to_string();
        let (a, b) = (traceparent(uid, &one), traceparent(uid, &two));
        for tp in [&a, &b] {
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!(parts.len(), 4, "{tp}");
            assert_eq!((parts[0], parts[3]), ("00", "01"));
            assert!(is_hex(parts[1], 32) && is_hex(parts[2], 16), "{tp}");
            assert_eq!(parts[1], trace_id(uid));
        }
        assert_ne!(a, b, "a new span per attempt");
        assert_eq!(a, traceparent(uid, &one), "the same after a restart");
        assert_ne!(trace_id(uid), trace_id("another-run"));
        assert_eq!(
            span_id("00000000-0000-0000-0000-000000000000"),
            "0000000000000001"
        );
        assert_eq!(
            span_id("ABCDEF01-2345-6789-0000-000000000000"),
            "abcdef0123456789"
        );
    }
}
