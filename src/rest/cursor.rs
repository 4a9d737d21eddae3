//! Lists: filtering, ordering and the cursor.
//!
//! The cursor is the sort key of the last item of a page, `(time, name)`, not an offset: items
//! added or removed before that position cannot shift the next page, so nothing is lost or
//! repeated. Its text is `1.<seconds>.<nanoseconds>.<name>` (format version 1, the time since
//! the epoch, the name): clients treat it as opaque, but its grammar is published in the OpenAPI
//! document (`CURSOR_PATTERN`), and every string of that grammar is a valid position, so a
//! generated client never sends a cursor the facade refuses.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;

/// The grammar of a cursor: version, seconds since the epoch (at most 13 digits: every instant
/// chrono can hold), nanoseconds (9 digits), and an object name (a DNS-1123 subdomain).
pub const CURSOR_PATTERN: &str = r"^1\.(0|-?[1-9][0-9]{0,12})\.([0-9]{9})\.([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$";
/// The longest cursor: the longest time and a 253-character name.
pub const CURSOR_MAX_LENGTH: usize = 2 + 14 + 1 + 9 + 1 + 253;

static CURSOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(CURSOR_PATTERN).expect("the cursor pattern compiles"));

/// Position in a list ordered newest first, then by name ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The sort time: seconds since the epoch and nanoseconds (`sort_time`).
    time: (i64, u32),
    /// The name (action_id or run_id).
    name: String,
}

/// An instant as the lists sort it. A leap second's nanoseconds (1e9 and up in chrono) are
/// clamped, so that the cursor's nanoseconds always have 9 digits.
fn sort_time(t: DateTime<Utc>) -> (i64, u32) {
    (t.timestamp(), t.timestamp_subsec_nanos().min(999_999_999))
}

impl Cursor {
    pub fn after(time: DateTime<Utc>, name: &str) -> Self {
        Self {
            time: sort_time(time),
            name: name.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        let (seconds, nanos) = self.time;
        format!("1.{seconds}.{nanos:09}.{}", self.name)
    }

    /// The cursor in `text`, or None when it is not in the grammar (`CURSOR_PATTERN`,
    /// `CURSOR_MAX_LENGTH`). Every text in the grammar decodes.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > CURSOR_MAX_LENGTH {
            return None;
        }
        let captures = CURSOR.captures(text)?;
        let seconds = captures.get(1)?.as_str().parse().ok()?;
        let nanos = captures.get(2)?.as_str().parse().ok()?;
        Some(Self {
            time: (seconds, nanos),
            name: captures.get(3)?.as_str().to_string(),
        })
    }
}

/// One page of a list.
#[derive(Debug, PartialEq)]
pub struct Page<T> {
    pub total: usize,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    pub items: Vec<T>,
}

/// Orders `items` (already filtered) newest first then by name, and cuts the page after
/// `cursor`. `key` gives each item's (time, name). Linear in the number of items: each key is
/// computed once, and only the page itself is sorted (a list of 10,000 Actions stays cheap).
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> (DateTime<Utc>, &str),
    limit: usize,
    cursor: Option<&Cursor>,
) -> Page<T> {
    let total = items.len();
    type Key<'a> = ((i64, u32), &'a str, usize);
    let order = |a: &Key, b: &Key| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1));
    let mut keyed: Vec<Key> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (t, n) = key(item);
            (sort_time(t), n, i)
        })
        .filter(|(t, n, _)| {
            cursor.is_none_or(|c| *t < c.time || (*t == c.time && *n > c.name.as_str()))
        })
        .collect();
    let has_more = keyed.len() > limit;
    if has_more {
        keyed.select_nth_unstable_by(limit, order);
        keyed.truncate(limit);
    }
    keyed.sort_unstable_by(order);
    let next_cursor = if has_more {
        keyed.last().map(|(t, n, _)| {
            Cursor {
                time: *t,
                name: (*n).to_string(),
            }
            .encode()
        })
    } else {
        None
    };
    let picked: Vec<usize> = keyed.iter().map(|(_, _, i)| *i).collect();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let page = picked.into_iter().filter_map(|i| slots[i].take()).collect();
    Page {
        total,
        has_more,
        next_cursor,
        items: page,
    }
}

/// Case-insensitive substring of the name or description; an empty search matches everything.
pub fn matches_search(search: Option<&str>, name: &str, description: Option<&str>) -> bool {
    let Some(needle) = search.map(str::to_lowercase).filter(|s| !s.is_empty()) else {
        return true;
    };
    name.to_lowercase().contains(&needle)
        || description.is_some_and(|d| d.to_lowercase().contains(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::after(t(5), "daily-report");
        assert_eq!(c.encode(), "1.1700000005.000000000.daily-report");
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let before_1970 = Utc.timestamp_opt(-5, 120).unwrap();
        let c = Cursor::after(before_1970, "v1.run-0");
        assert_eq!(c.encode(), "1.-5.000000120.v1.run-0");
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let leap = Utc.timestamp_opt(59, 1_500_000_000).unwrap();
        assert_eq!(Cursor::after(leap, "a").encode(), "1.59.999999999.a");
        let longest = Cursor::after(DateTime::<Utc>::MIN_UTC, &"a".repeat(253)).encode();
        assert_eq!(longest.len(), CURSOR_MAX_LENGTH);
        assert!(Cursor::decode(&longest).is_some());
        for bad in [
            "",
            "abc",
            "!!!",
            "eyJ2IjoxLCJ0IjoxLCJuIjoieCJ9",
            "2.5.000000000.a",
            "1.05.000000000.a",
            "1.-0.000000000.a",
            "1.5.00000000.a",
            "1.5.000000000.",
            "1.5.000000000.A",
            "1.5.000000000.a-",
            "1.99999999999999.000000000.a",
            &format!("1.0.000000000.{}", "a".repeat(267)),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    fn key(i: &(DateTime<Utc>, String)) -> (DateTime<Utc>, &str) {
        (i.0, i.1.as_str())
    }

    #[test]
    fn pages_follow_the_order_and_survive_adds_and_removes() {
        let mut items: Vec<(DateTime<Utc>, String)> =
            (0..120).map(|i| (t(i / 3), format!("a{i:03}"))).collect();
        let first = paginate(items.clone(), key, 50, None);
        assert_eq!(first.total, 120);
        assert!(first.has_more);
        assert_eq!(first.items[0].1, "a117", "newest first, then name");
        let cursor = Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
        // Between pages: remove an item already seen, one not yet seen, add a newer one.
        items.retain(|i| i.1 != first.items[3].1 && i.1 != "a010");
        items.push((t(1000), "new".into()));
        let second = paginate(items.clone(), key, 50, Some(&cursor));
        let cursor = Cursor::decode(second.next_cursor.as_deref().unwrap()).unwrap();
        let third = paginate(items, key, 50, Some(&cursor));
        assert!(!third.has_more);
        assert_eq!(third.next_cursor, None);
        let mut seen: Vec<String> = [first.items, second.items, third.items]
            .concat()
            .into_iter()
            .map(|i| i.1)
            .collect();
        assert_eq!(seen.len(), 119, "a010 removed before it was reached");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 119, "no repeats");
    }

    #[test]
    fn search_is_case_insensitive_on_name_and_description() {
        assert!(matches_search(Some("REPORT"), "Daily report", None));
        assert!(matches_search(Some("slack"), "x", Some("Posts to Slack")));
        assert!(!matches_search(Some("zzz"), "x", Some("y")));
        assert!(matches_search(None, "x", None));
        assert!(matches_search(Some(""), "x", None));
    }
}
