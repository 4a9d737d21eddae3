//! Deterministic ActionRun names. A scheduled run's name is a function of its Action and its
//! slot, so a second creation of the same slot (a retry after a crash, a second replica) fails
//! with AlreadyExists: that is what makes double-firing impossible.

use chrono::{DateTime, Utc};

/// Longest run name; longer ones are shortened with a hash (label values and many tools stop at
/// 63 characters).
pub const MAX_NAME_LEN: usize = 63;

/// `<action>-<unix seconds of the nominal instant>`.
pub fn scheduled_run_name(action: &str, slot: DateTime<Utc>) -> String {
    fit(action, &slot.timestamp().to_string())
}

/// `<action>-m-<random>` for a manual trigger; `random` is passed in so tests stay repeatable.
pub fn manual_run_name(action: &str, random: &str) -> String {
    fit(action, &format!("m-{random}"))
}

/// `<action>-<suffix>`, shortening the action part with a hash of the full name when needed, so
/// that two long Action names sharing a prefix still get different run names.
fn fit(action: &str, suffix: &str) -> String {
    let full = format!("{action}-{suffix}");
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(action.as_bytes()) as u32);
    let keep = MAX_NAME_LEN.saturating_sub(suffix.len() + hash.len() + 2);
    // Action names are DNS labels (ASCII), so byte slicing is safe; trim a trailing '-' or '.'.
    let prefix = action[..keep.min(action.len())].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}-{suffix}")
}

/// FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`), good enough for names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn short_names_are_action_and_unix_seconds() {
        assert_eq!(
            scheduled_run_name("daily", t("2026-03-01T09:00:00Z")),
            "daily-1772355600"
        );
        assert_eq!(manual_run_name("daily", "x7k2p"), "daily-m-x7k2p");
    }

    #[test]
    fn long_names_are_shortened_with_a_hash_and_stay_distinct() {
        let a = "a".repeat(60) + "-one";
        let b = "a".repeat(60) + "-two";
        let slot = t("2026-03-01T09:00:00Z");
        let (na, nb) = (scheduled_run_name(&a, slot), scheduled_run_name(&b, slot));
        assert!(na.len() <= MAX_NAME_LEN && nb.len() <= MAX_NAME_LEN);
        assert_ne!(na, nb);
        assert!(na.ends_with("-1772355600"), "{na}");
        assert_eq!(na, scheduled_run_name(&a, slot), "deterministic");
    }

    #[test]
    fn shortening_never_leaves_a_dangling_dash() {
        let name = "x".repeat(40) + "-" + &"y".repeat(40);
        let run = scheduled_run_name(&name, t("2026-03-01T09:00:00Z"));
        assert!(!run.contains("--"), "{run}");
        assert!(run.len() <= MAX_NAME_LEN);
    }
}
