//! Lists: filtering, ordering and the opaque cursor.
//!
//! The cursor is the sort key of the last item of a page, `(time, name)`, not an offset: items
//! added or removed before that position cannot shift the next page, so nothing is lost or
//! repeated. It is base64url of a small versioned JSON object; anything else is rejected.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Position in a list ordered newest first, then by name ascending.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Format version, so that the encoding can change without misreading old cursors.
    v: u8,
    /// The sort time in nanoseconds since the epoch.
    t: i64,
    /// The name (action_id or run_id).
    n: String,
}

const VERSION: u8 = 1;

impl Cursor {
    pub fn after(time: DateTime<Utc>, name: &str) -> Self {
        Self {
            v: VERSION,
            t: time.timestamp_nanos_opt().unwrap_or(i64::MAX),
            n: name.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        // Serialising a struct of plain fields cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cursor in `text`, or None when it is not one this facade issued.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
        (cursor.v == VERSION && !cursor.n.is_empty()).then_some(cursor)
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
    let order =
        |a: &(i64, &str, usize), b: &(i64, &str, usize)| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1));
    let mut keyed: Vec<(i64, &str, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (t, n) = key(item);
            (t.timestamp_nanos_opt().unwrap_or(i64::MAX), n, i)
        })
        .filter(|(t, n, _)| cursor.is_none_or(|c| *t < c.t || (*t == c.t && *n > c.n.as_str())))
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
                v: VERSION,
                t: *t,
                n: (*n).to_string(),
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
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "abc", "!!!", "eyJ2IjoyLCJ0IjoxLCJuIjoieCJ9", "bnVsbA"] {
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
