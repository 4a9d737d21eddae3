//! Per-endpoint flow control (docs/delivery.md, "Flow control"): an ActionEndpoint's
//! `maxConcurrentRequests` and `maxRequestsPerSecond`, on top of the global request cap. Runs
//! waiting for their endpoint stay `pending` (nothing is written) and are let through in the
//! order of their nominal instant, whatever order their tasks started in. The decision is the
//! pure `decide`; the rest is bookkeeping around it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::resources::ActionEndpointSpec;

/// An endpoint's limits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_concurrent: Option<usize>,
    /// The least time between two request starts (1 / maxRequestsPerSecond).
    pub min_interval: Option<Duration>,
}

impl Limits {
    pub fn of(spec: &ActionEndpointSpec) -> Self {
        Self {
            max_concurrent: spec
                .max_concurrent_requests
                .and_then(|n| usize::try_from(n).ok())
                .map(|n| n.max(1)),
            min_interval: spec
                .max_requests_per_second
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.max_concurrent.is_none() && self.min_interval.is_none()
    }
}

/// Whether the first waiter may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Start,
    /// The rate allows the next start at this instant.
    WaitUntil(Instant),
    /// As many requests in flight as allowed: wait for one to end.
    Full,
}

/// May a request start at `now`, with `in_flight` requests running and the last one started at
/// `last_start`?
pub fn decide(
    limits: &Limits,
    in_flight: usize,
    last_start: Option<Instant>,
    now: Instant,
) -> Decision {
    if limits.max_concurrent.is_some_and(|max| in_flight >= max) {
        return Decision::Full;
    }
    match (limits.min_interval, last_start) {
        (Some(gap), Some(last)) if now < last + gap => Decision::WaitUntil(last + gap),
        _ => Decision::Start,
    }
}

/// Where a run waits: its nominal instant (the slot, or when a manual run was created), then its
/// name.
pub type Order = (DateTime<Utc>, String);

#[derive(Default)]
struct Gate {
    limits: Limits,
    in_flight: usize,
    last_start: Option<Instant>,
    waiters: BTreeMap<Order, oneshot::Sender<()>>,
    timer: bool,
}

/// The gates of every limited endpoint, by (namespace, name).
#[derive(Default)]
pub struct FlowControl {
    gates: Mutex<HashMap<(String, String), Gate>>,
}

/// A request's place at its endpoint; dropping it (the endpoint answered, or the task ended)
/// lets the next one in.
pub struct Permit {
    flow: Arc<FlowControl>,
    key: (String, String),
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut gates) = self.flow.gates.lock()
            && let Some(gate) = gates.get_mut(&self.key)
        {
            gate.in_flight = gate.in_flight.saturating_sub(1);
        }
        pump(&self.flow, &self.key);
    }
}

impl FlowControl {
    /// Waits until a request of the run at `order` may go to endpoint `key` under `limits`.
    /// None when the endpoint is not limited (nothing to hold).
    pub async fn acquire(
        self: &Arc<Self>,
        key: (String, String),
        order: Order,
        limits: Limits,
    ) -> Option<Permit> {
        if limits.is_unlimited() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut gates) = self.gates.lock() {
            let gate = gates.entry(key.clone()).or_default();
            gate.limits = limits;
            gate.waiters.insert(order, tx);
        }
        pump(self, &key);
        // The sender is only dropped unsent when the gate's lock was poisoned: go ahead then.
        let _ = rx.await;
        Some(Permit {
            flow: self.clone(),
            key,
        })
    }
}

/// Lets waiters in, earliest first, while `decide` allows; arms one timer when the rate is what
/// holds them back.
fn pump(flow: &Arc<FlowControl>, key: &(String, String)) {
    let Ok(mut gates) = flow.gates.lock() else {
        return;
    };
    let Some(gate) = gates.get_mut(key) else {
        return;
    };
    while let Some(first) = gate.waiters.first_key_value().map(|(k, _)| k.clone()) {
        let now = Instant::now();
        match decide(&gate.limits, gate.in_flight, gate.last_start, now) {
            Decision::Full => break,
            Decision::WaitUntil(at) => {
                if !gate.timer {
                    gate.timer = true;
                    let (flow, key) = (flow.clone(), key.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        if let Ok(mut gates) = flow.gates.lock()
                            && let Some(gate) = gates.get_mut(&key)
                        {
                            gate.timer = false;
                        }
                        pump(&flow, &key);
                    });
                }
                break;
            }
            Decision::Start => {
                let Some(tx) = gate.waiters.remove(&first) else {
                    break;
                };
                // A waiter whose task was aborted meanwhile takes no place.
                if tx.send(()).is_ok() {
                    gate.in_flight += 1;
                    gate.last_start = Some(now);
                }
            }
        }
    }
    // An idle gate is forgotten once it no longer remembers anything the rate needs.
    let rate_free = match (gate.limits.min_interval, gate.last_start) {
        (Some(gap), Some(last)) => Instant::now() >= last + gap,
        _ => true,
    };
    if gate.in_flight == 0 && gate.waiters.is_empty() && !gate.timer && rate_free {
        gates.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_by_concurrency_then_rate() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let limits = |c: Option<usize>, gap: Option<u64>| Limits {
            max_concurrent: c,
            min_interval: gap.map(ms),
        };
        // (limits, in flight, last start, now, decision)
        let table = [
            (limits(None, None), 100, Some(t0), t0, Decision::Start),
            (limits(Some(2), None), 1, None, t0, Decision::Start),
            (limits(Some(2), None), 2, None, t0, Decision::Full),
            (limits(Some(2), Some(500)), 2, Some(t0), t0, Decision::Full),
            (limits(None, Some(500)), 0, None, t0, Decision::Start),
            (
                limits(None, Some(500)),
                5,
                Some(t0),
                t0 + ms(100),
                Decision::WaitUntil(t0 + ms(500)),
            ),
            (
                limits(None, Some(500)),
                5,
                Some(t0),
                t0 + ms(500),
                Decision::Start,
            ),
            (
                limits(Some(1), Some(500)),
                0,
                Some(t0),
                t0 + ms(499),
                Decision::WaitUntil(t0 + ms(500)),
            ),
        ];
        for (l, n, last, now, want) in table {
            assert_eq!(decide(&l, n, last, now), want, "{l:?} {n}");
        }
    }

    #[test]
    fn limits_from_the_endpoint() {
        let spec: ActionEndpointSpec = serde_json::from_value(serde_json::json!({
            "url": "http://a/", "maxConcurrentRequests": 3, "maxRequestsPerSecond": 4.0
        }))
        .unwrap();
        let l = Limits::of(&spec);
        assert_eq!(l.max_concurrent, Some(3));
        assert_eq!(l.min_interval, Some(Duration::from_millis(250)));
        let plain: ActionEndpointSpec =
            serde_json::from_value(serde_json::json!({"url": "http://a/"})).unwrap();
        assert!(Limits::of(&plain).is_unlimited());
    }

    fn order(s: i64, name: &str) -> Order {
        (DateTime::from_timestamp(s, 0).unwrap(), name.to_string())
    }

    #[tokio::test]
    async fn the_rate_holds_between_requests_that_do_not_overlap() {
        let flow = Arc::new(FlowControl::default());
        let key = ("ns".to_string(), "agent".to_string());
        let limits = Limits {
            max_concurrent: None,
            min_interval: Some(Duration::from_millis(200)),
        };
        let start = Instant::now();
        for i in 0..3 {
            // Each request ends before the next one asks: the gate still remembers the rate.
            drop(flow.acquire(key.clone(), order(i, "r"), limits).await);
        }
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn waiters_go_in_nominal_order_and_never_beyond_the_cap() {
        let flow = Arc::new(FlowControl::default());
        let key = ("ns".to_string(), "agent".to_string());
        let limits = Limits {
            max_concurrent: Some(1),
            min_interval: None,
        };
        let first = flow.acquire(key.clone(), order(50, "z"), limits).await;
        assert!(first.is_some());
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Queued latest first; let through earliest first.
        for (s, name) in [(30, "c"), (20, "b"), (10, "a")] {
            let (flow, key, got) = (flow.clone(), key.clone(), got.clone());
            tasks.push(tokio::spawn(async move {
                let permit = flow.acquire(key, order(s, name), limits).await;
                got.lock().unwrap().push(name);
                tokio::task::yield_now().await;
                drop(permit);
            }));
            tokio::task::yield_now().await;
        }
        // All three are waiting behind the first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(got.lock().unwrap().is_empty());
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*got.lock().unwrap(), ["a", "b", "c"]);
        assert!(
            flow.gates.lock().unwrap().is_empty(),
            "idle gates are dropped"
        );
    }
}
