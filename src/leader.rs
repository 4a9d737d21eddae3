//! Leader election on a coordination.k8s.io/v1 Lease, so that among several replicas only one
//! schedules and executes. Writes use the Lease's resourceVersion, so two candidates can never
//! both win the same term.
//!
//! Safety does not rest on this alone: run names are deterministic, so even two leaders at once
//! (a paused process that has not noticed it lost the lease) cannot create a slot's run twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use crate::{Clock, Error, Result};

/// One candidate for the lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// Wall clock for the timestamps written into the Lease (informational only: expiry is never
    /// judged from them, so a skewed clock cannot take a live leader's lease).
    clock: Arc<dyn Clock>,
    /// The lease record as this candidate last saw it change, and when (monotonic clock).
    observed: Mutex<Option<Observation>>,
}

/// What identifies one version of the lease record: any renewal or takeover changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub holder: String,
    pub renew_time: Option<String>,
    pub resource_version: Option<String>,
}

impl Record {
    pub fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.unwrap_or_default(),
            renew_time: spec.renew_time.map(|t| t.0.to_string()),
            resource_version: lease.resource_version(),
        }
    }
}

/// The lease record this candidate last saw change, and the instant (on this process's monotonic
/// clock) it first saw that version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub record: Record,
    pub at: Instant,
}

/// Pure: the observation after reading `record` at `now`. The instant moves only when the
/// record changed, so "unchanged for a lease duration" is measured on this replica's own clock.
pub fn observe(prev: Option<&Observation>, record: Record, now: Instant) -> Observation {
    match prev {
        Some(p) if p.record == record => p.clone(),
        _ => Observation { record, at: now },
    }
}

/// What the candidate should do with a lease it read.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Take,
    /// Someone else holds it.
    Wait,
}

/// Pure rule, as client-go's: renew our own lease; take a free one, or one whose record this
/// replica has not seen change for a whole lease duration (the record's, else `fallback`);
/// otherwise wait. The holder's `renewTime` is never compared with the local wall clock, which
/// may be skewed either way.
pub fn decide(
    spec: &LeaseSpec,
    identity: &str,
    observed: &Observation,
    now: Instant,
    fallback: Duration,
) -> Decision {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(fallback, Duration::from_secs);
    if holder.is_empty() || now.saturating_duration_since(observed.at) >= duration {
        Decision::Take
    } else {
        Decision::Wait
    }
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            duration,
            clock,
            observed: Mutex::new(None),
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&self) -> Result<()> {
        info!(lease = %self.name, identity = %self.identity, "waiting for leadership");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "became leader");
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "lease not acquired"),
            }
            tokio::time::sleep(self.duration / 4).await;
        }
    }

    /// Renews the lease until renewal fails for longer than the renew deadline; returns then,
    /// meaning leadership is lost and the caller must stop acting as leader.
    pub async fn hold(&self) -> Error {
        // Give up well before the lease expires, so that a successor never overlaps with us.
        let renew_deadline = self.duration.mul_f32(0.66);
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.duration / 4).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => return Error::Lease("another replica holds the lease".into()),
                Err(e) => warn!(error = %e, "lease renewal failed"),
            }
            if last_renewed.elapsed() > renew_deadline {
                return Error::Lease("could not renew the lease in time".into());
            }
        }
    }

    /// Gives the lease up on shutdown, so a successor need not wait for it to expire.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                spec.holder_identity = None;
                if let Err(e) = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    warn!(error = %e, "could not release the lease");
                }
            }
        }
    }

    /// The observation after reading `lease` now.
    fn observe(&self, lease: &Lease) -> Observation {
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        let next = observe(observed.as_ref(), Record::of(lease), Instant::now());
        *observed = Some(next.clone());
        next
    }

    async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = self.clock.now();
        let micro_now = MicroTime(
            k8s_openapi::jiff::Timestamp::from_millisecond(now.timestamp_millis())
                .unwrap_or_default(),
        );
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(Error::Kube)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(micro_now.clone()),
                    renew_time: Some(micro_now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let observed = self.observe(&lease);
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        match decide(
            spec,
            &self.identity,
            &observed,
            Instant::now(),
            self.duration,
        ) {
            Decision::Wait => return Ok(false),
            Decision::Renew => spec.renew_time = Some(micro_now),
            Decision::Take => {
                info!(lease = %self.name, previous = ?spec.holder_identity, "taking the lease: free, or unchanged for a lease duration");
                spec.holder_identity = Some(self.identity.clone());
                spec.lease_duration_seconds = Some(seconds);
                spec.acquire_time = Some(micro_now.clone());
                spec.renew_time = Some(micro_now);
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        // `replace` carries the resourceVersion we read: a concurrent writer makes this a 409.
        conflict_is_false(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
    }
}

fn conflict_is_false(result: Result<Lease, kube::Error>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(Error::Kube(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FALLBACK: Duration = Duration::from_secs(15);

    /// A lease held by `holder` with `renewTime` at wall-clock second `renewed`.
    fn spec(holder: Option<&str>, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(Into::into),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(
                k8s_openapi::jiff::Timestamp::from_second(renewed).unwrap(),
            )),
            ..LeaseSpec::default()
        }
    }

    fn record(holder: &str, renewed: i64, rv: &str) -> Record {
        Record {
            holder: holder.into(),
            renew_time: Some(renewed.to_string()),
            resource_version: Some(rv.into()),
        }
    }

    /// Each row: the lease as read, how long ago (this replica's monotonic clock) its record was
    /// first seen unchanged, and the decision. The wall clock of this replica plays no part: rows
    /// marked "old rule" are those where comparing `renewTime` with a skewed local clock decided
    /// the opposite.
    #[test]
    fn expiry_is_judged_by_when_this_replica_saw_the_record_change() {
        let base = Instant::now();
        let rows: &[(&str, LeaseSpec, u64, u64, Decision)] = &[
            (
                "own lease",
                spec(Some("a"), 100, 15),
                0,
                100,
                Decision::Renew,
            ),
            (
                "own lease, long unchanged",
                spec(Some("a"), 100, 15),
                0,
                1000,
                Decision::Renew,
            ),
            ("free lease", spec(None, 100, 15), 0, 0, Decision::Take),
            (
                "empty holder",
                spec(Some(""), 100, 15),
                5,
                5,
                Decision::Take,
            ),
            (
                "fresh holder",
                spec(Some("b"), 100, 15),
                10,
                14,
                Decision::Wait,
            ),
            // Old rule: renewTime 100 + 15 < a local clock 30 s ahead (145) -> Take.
            (
                "renewTime far behind our clock, just seen",
                spec(Some("b"), 100, 15),
                20,
                20,
                Decision::Wait,
            ),
            (
                "unchanged for exactly a lease duration",
                spec(Some("b"), 100, 15),
                0,
                15,
                Decision::Take,
            ),
            (
                "unchanged for longer",
                spec(Some("b"), 100, 15),
                0,
                40,
                Decision::Take,
            ),
            // Old rule: a renewTime in our future (leader clock ahead) -> Wait forever.
            (
                "renewTime in the future, but a dead holder",
                spec(Some("b"), 10_000, 15),
                0,
                16,
                Decision::Take,
            ),
            (
                "record's duration wins over ours",
                spec(Some("b"), 100, 60),
                0,
                30,
                Decision::Wait,
            ),
            (
                "no duration in the record: ours",
                spec(Some("b"), 100, 0),
                0,
                15,
                Decision::Take,
            ),
        ];
        for (what, spec, seen, now, want) in rows {
            let observed = Observation {
                record: record("b", 100, "1"),
                at: base + Duration::from_secs(*seen),
            };
            let now = base + Duration::from_secs(*now);
            assert_eq!(&decide(spec, "a", &observed, now, FALLBACK), want, "{what}");
        }
    }

    /// The observation instant moves only when holder, renewTime or resourceVersion change.
    #[test]
    fn the_observation_moves_only_when_the_record_changes() {
        let base = Instant::now();
        let at = |s: u64| base + Duration::from_secs(s);
        let first = observe(None, record("b", 100, "1"), at(0));
        assert_eq!(first.at, at(0));
        let same = observe(Some(&first), record("b", 100, "1"), at(10));
        assert_eq!(same.at, at(0), "unchanged record: still the first sighting");
        for changed in [
            record("b", 101, "1"),
            record("b", 100, "2"),
            record("c", 100, "1"),
        ] {
            let next = observe(Some(&same), changed.clone(), at(12));
            assert_eq!((next.at, next.record), (at(12), changed));
        }
    }

    /// A live leader renewing every few seconds, watched by a follower whose wall clock is 30 s
    /// ahead: the follower never takes it; once renewals stop, it takes it one duration later.
    #[test]
    fn a_follower_with_a_skewed_clock_waits_for_a_live_leader() {
        let base = Instant::now();
        let mut observed: Option<Observation> = None;
        for tick in 0..40u64 {
            // The leader renews every 2 s until second 30 (its renewTime is its own wall clock).
            let renewed = 1_000 + tick.min(30) / 2 * 2;
            let rv = format!("{}", tick.min(30) / 2);
            let now = base + Duration::from_secs(tick);
            let o = observe(observed.as_ref(), record("b", renewed as i64, &rv), now);
            let d = decide(&spec(Some("b"), renewed as i64, 6), "a", &o, now, FALLBACK);
            let expired = tick >= 30 + 6;
            assert_eq!(
                d,
                if expired {
                    Decision::Take
                } else {
                    Decision::Wait
                },
                "tick {tick}"
            );
            observed = Some(o);
        }
    }
}
