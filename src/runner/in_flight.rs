//! The attempts of this process, by run uid: which runs have a request in flight here (so a
//! cancel can abort it), which have just been written by an attempt that ended (so a reconcile
//! of a cached copy older than that write waits instead of conflicting), and which were deleted
//! mid-request (so a stale copy is not cancelled and counted a second time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use tokio::task::AbortHandle;

use crate::resources::ActionRun;

/// How long a settled attempt waits for the cache to show its write before a cached run of
/// another version is trusted again (the conditional writes make a decision from it harmless:
/// it can only be a write, which fails).
pub const SETTLE: Duration = Duration::from_secs(2);
/// How long a cache that still shows the version an attempt was decided from is taken to be
/// behind (a bound on memory only: a watch catches up long before).
pub const SETTLE_MAX: Duration = Duration::from_secs(600);

/// An attempt of this process.
enum Slot {
    /// Its task is running.
    Running(AbortHandle),
    /// Its task ended. Until the cache shows the version it wrote (if any) the cached run is
    /// older than the task's last write, so acting on it would only conflict.
    Settled(Settled),
    /// Deleted while its request was in flight, and counted as cancelled then. A reconcile of a
    /// stale cached copy (queued before the deletion) must not cancel and count it again.
    Gone(Instant),
}

/// What an attempt's task left when it ended.
pub struct Settled {
    /// The resourceVersion the task's last write made, if it made one.
    pub written: Option<String>,
    /// The resourceVersion of the run the attempt was decided from. A cache that still shows it
    /// is behind for sure, however long that lasts (a watch reconnecting after an API server
    /// restart): acting on it would send the attempt again, and only the write after the request
    /// would be refused.
    pub from: Option<String>,
    pub at: Instant,
}

/// Whether this process has an attempt of a run running, or has just written it and the cache
/// does not show that write yet.
pub enum Busy {
    No,
    Running,
    CacheBehind,
    Gone,
}

/// The attempts of this process. A poisoned lock (a panic while holding it) reads as empty:
/// every write is conditional, so forgetting an attempt can cost a conflict, never a double.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, Slot>>);

impl InFlight {
    /// Records the task `spawn` starts as running. The lock is held while it spawns, so a task
    /// that ends at once cannot settle before it is recorded as running.
    pub fn start(&self, uid: String, spawn: impl FnOnce() -> AbortHandle) {
        if let Ok(mut map) = self.0.lock() {
            let handle = spawn();
            map.insert(uid, Slot::Running(handle));
        }
    }

    /// The task of `uid` ended: what it wrote, or `None` if its write failed (the next
    /// reconcile decides from the cache again).
    pub fn settle(&self, uid: String, settled: Option<Settled>) {
        if let Ok(mut m) = self.0.lock() {
            match settled {
                Some(settled) => m.insert(uid, Slot::Settled(settled)),
                None => m.remove(&uid),
            };
        }
    }

    /// Aborts the request in flight for `uid`, if there is one.
    pub fn abort(&self, uid: &str) -> bool {
        let slot = self.0.lock().ok().and_then(|mut m| match m.get(uid) {
            // Already deleted and counted: keep the mark.
            Some(Slot::Gone(_)) => None,
            _ => m.remove(uid),
        });
        match slot {
            Some(Slot::Running(h)) => {
                h.abort();
                true
            }
            _ => false,
        }
    }

    /// `abort` for a run that was deleted: leaves a `Gone` mark if a request was aborted (and
    /// drops marks older than `SETTLE_MAX`, so they do not pile up).
    pub fn abort_deleted(&self, uid: &str) -> bool {
        let aborted = self.abort(uid);
        if let (true, Ok(mut m)) = (aborted, self.0.lock()) {
            m.retain(|_, slot| !matches!(slot, Slot::Gone(at) if at.elapsed() >= SETTLE_MAX));
            m.insert(uid.to_string(), Slot::Gone(Instant::now()));
        }
        aborted
    }

    /// Whether a request of `uid` is in flight here.
    pub fn is_running(&self, uid: &str) -> bool {
        self.0
            .lock()
            .is_ok_and(|m| matches!(m.get(uid), Some(Slot::Running(_))))
    }

    /// Forgets a settled attempt once the cache shows its write (or after `SETTLE`, unless the
    /// cache still shows the version the attempt started from).
    pub fn busy(&self, run: &ActionRun) -> Busy {
        let uid = run.uid().unwrap_or_default();
        let Ok(mut map) = self.0.lock() else {
            return Busy::No;
        };
        match map.get(&uid) {
            None => Busy::No,
            Some(Slot::Running(_)) => Busy::Running,
            Some(Slot::Gone(_)) => Busy::Gone,
            Some(Slot::Settled(settled)) => {
                let rv = run.resource_version();
                let caught_up = settled.written.is_some() && rv == settled.written;
                let surely_behind = rv == settled.from && settled.at.elapsed() < SETTLE_MAX;
                if caught_up || (settled.at.elapsed() >= SETTLE && !surely_behind) {
                    map.remove(&uid);
                    Busy::No
                } else {
                    Busy::CacheBehind
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(rv: &str) -> ActionRun {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "r", "uid": "u1", "resourceVersion": rv},
            "spec": {"action": "a", "triggerType": "manual", "namespaceId": "n",
                     "endpoint": "e", "maxRetries": 0, "retryDelaySeconds": 1}
        }))
        .expect("run")
    }

    fn settled(written: Option<&str>, from: &str, ago: Duration) -> InFlight {
        let map = InFlight::default();
        map.settle(
            "u1".into(),
            Some(Settled {
                written: written.map(Into::into),
                from: Some(from.into()),
                at: Instant::now() - ago,
            }),
        );
        map
    }

    /// A cache still showing the version an attempt started from is behind however long the
    /// watch takes (after an API server restart it took longer than `SETTLE`, and the runner
    /// sent the slot again and again); any other version is trusted after `SETTLE`.
    #[test]
    fn a_cache_showing_the_attempts_starting_version_is_behind_past_settle() {
        let long = SETTLE * 5;
        let rows = [
            (
                "cache shows our write",
                settled(Some("3"), "1", Duration::ZERO),
                "3",
                false,
            ),
            (
                "cache at the start, just now",
                settled(Some("3"), "1", Duration::ZERO),
                "1",
                true,
            ),
            (
                "cache at the start, long after",
                settled(Some("3"), "1", long),
                "1",
                true,
            ),
            (
                "no write of ours, cache at the start",
                settled(None, "1", long),
                "1",
                true,
            ),
            (
                "another version, within SETTLE",
                settled(Some("3"), "1", Duration::ZERO),
                "2",
                true,
            ),
            (
                "another version, past SETTLE",
                settled(Some("3"), "1", long),
                "2",
                false,
            ),
            (
                "at the start, past the memory bound",
                settled(Some("3"), "1", SETTLE_MAX),
                "1",
                false,
            ),
        ];
        for (what, map, rv, behind) in rows {
            let got = map.busy(&run_at(rv));
            assert_eq!(matches!(got, Busy::CacheBehind), behind, "{what}");
        }
    }

    /// A run deleted while its request was in flight is counted once, there; a reconcile of a
    /// stale copy afterwards leaves it alone (it used to cancel and count it a second time).
    #[test]
    fn a_run_deleted_mid_request_is_gone_for_later_reconciles() {
        let map = InFlight::default();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        map.start("u1".into(), || {
            runtime.spawn(std::future::pending::<()>()).abort_handle()
        });
        assert!(map.is_running("u1"));
        assert!(map.abort_deleted("u1"), "its request was aborted");
        assert!(!map.is_running("u1"));
        assert!(matches!(map.busy(&run_at("1")), Busy::Gone));
        assert!(!map.abort_deleted("u1"), "nothing left to abort");
        assert!(!map.abort("u1"));
        assert!(
            matches!(map.busy(&run_at("1")), Busy::Gone),
            "the mark stays"
        );
        assert!(!map.abort_deleted("u2"), "no request in flight: no mark");
        let mut other = run_at("1");
        other.metadata.uid = Some("u2".into());
        assert!(matches!(map.busy(&other), Busy::No), "and u2 has none");
    }
}
