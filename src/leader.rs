//! Leader election on a coordination.k8s.io/v1 Lease, so that among several replicas only one
//! schedules and executes. Writes use the Lease's resourceVersion, so two candidates can never
//! both win the same term.
//!
//! Safety does not rest on this alone: run names are deterministic, so even two leaders at once
//! (a paused process that has not noticed it lost the lease) cannot create a slot's run twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use crate::{Error, Result};

/// One candidate for the lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
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

/// Pure rule: renew our own lease, take a free or expired one, otherwise wait.
pub fn decide(spec: &LeaseSpec, identity: &str, now: DateTime<Utc>) -> Decision {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let renewed = spec
        .renew_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    if holder.is_empty() || renewed + duration < now.timestamp() {
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
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            duration,
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

    async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Utc::now();
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
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        match decide(spec, &self.identity, now) {
            Decision::Wait => return Ok(false),
            Decision::Renew => spec.renew_time = Some(micro_now),
            Decision::Take => {
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

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn renews_its_own_lease() {
        assert_eq!(
            decide(&spec(Some("a"), 100, 15), "a", at(200)),
            Decision::Renew
        );
    }

    #[test]
    fn waits_while_another_holder_is_fresh() {
        assert_eq!(
            decide(&spec(Some("b"), 100, 15), "a", at(115)),
            Decision::Wait
        );
    }

    #[test]
    fn takes_an_expired_or_released_lease() {
        assert_eq!(
            decide(&spec(Some("b"), 100, 15), "a", at(116)),
            Decision::Take
        );
        assert_eq!(decide(&spec(None, 100, 15), "a", at(101)), Decision::Take);
    }
}
