//! One watch cache per resource, shared by the scheduler, the runner and the facade. (About 500
//! lines, a quarter of them its tests.)
//!
//! Each resource has one watcher feeding one store; what the watchers see is fanned out to the
//! controllers that subscribed (a subscriber first gets the store's current contents, so one that
//! starts late, e.g. after winning the leader election, misses nothing). Runs are indexed by
//! their Action, so a reconcile costs the Action's own runs, not the cluster's. managedFields are
//! pruned here, once: runs keep none, Actions keep one entry (the facade's `updated_at`).
//!
//! `resync` restarts the Action and run watches and waits for their fresh list: a replica that
//! has just become leader decides from what the API server says now, not from a watch that may
//! have stalled while it was a follower (docs/write-path.md, "Why the cache can be trusted").

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::warn;

use crate::resources::{Action, ActionEndpoint, ActionRun};

/// What a subscriber is told about an object.
#[derive(Clone, Debug)]
pub enum Change<K> {
    /// Created, changed, or listed.
    Applied(Arc<K>),
    /// Deleted; the object as it was last.
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// The key of an Action's runs in the index: (namespace, Action name).
pub type ActionKey = (String, String);

/// Run names by (namespace, Action name), kept in step with the run store.
#[derive(Clone, Default)]
pub struct RunIndex(Arc<RwLock<HashMap<ActionKey, BTreeSet<String>>>>);

impl RunIndex {
    fn insert(&self, run: &ActionRun) {
        if let Ok(mut map) = self.0.write() {
            map.entry(key_of(run)).or_default().insert(run.name_any());
        }
    }

    fn remove(&self, run: &ActionRun) {
        if let Ok(mut map) = self.0.write() {
            let key = key_of(run);
            if let Some(set) = map.get_mut(&key) {
                set.remove(&run.name_any());
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// After a (re)list: exactly the runs listed, by `entry`.
    fn replace(&self, listed: Vec<(ActionKey, String)>) {
        let mut fresh: HashMap<ActionKey, BTreeSet<String>> = HashMap::new();
        for (key, name) in listed {
            fresh.entry(key).or_default().insert(name);
        }
        if let Ok(mut map) = self.0.write() {
            *map = fresh;
        }
    }

    fn names(&self, ns: &str, action: &str) -> Vec<String> {
        self.0
            .read()
            .ok()
            .and_then(|m| {
                m.get(&(ns.to_string(), action.to_string()))
                    .map(|s| s.iter().cloned().collect())
            })
            .unwrap_or_default()
    }
}

fn key_of(run: &ActionRun) -> ActionKey {
    (run.namespace().unwrap_or_default(), run.spec.action.clone())
}

/// A run's place in the index: its Action's key and its name.
fn entry(run: &ActionRun) -> (ActionKey, String) {
    (key_of(run), run.name_any())
}

type Subscribers<K> = Arc<Mutex<Vec<mpsc::UnboundedSender<Change<K>>>>>;

/// A store, its subscribers, and the counters that tell when a (re)list has completed.
struct Feed<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    subscribers: Subscribers<K>,
    /// Bumped to ask the watcher to start over with a fresh list.
    restart: watch::Sender<u64>,
    /// The number of the last restart whose list has completed; None before the first list.
    listed: watch::Receiver<Option<u64>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            subscribers: self.subscribers.clone(),
            restart: self.restart.clone(),
            listed: self.listed.clone(),
        }
    }
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    /// Starts the watcher of `api`; `prune` trims each object before it is stored, `on_change`
    /// sees every change after the store has it (the run index).
    fn start(
        api: Api<K>,
        prune: fn(&mut K),
        on_change: impl Fn(&watcher::Event<K>) + Send + 'static,
    ) -> Self {
        let (store, mut writer) = reflector::store();
        let subscribers: Subscribers<K> = Arc::default();
        let (restart, mut restarts) = watch::channel(0u64);
        let (listed_tx, listed) = watch::channel(None);
        let subs = subscribers.clone();
        let reader = store.clone();
        tokio::spawn(async move {
            loop {
                let round = *restarts.borrow_and_update();
                // The default list semantic: a consistent read, in pages of 500. (`any_semantic`
                // lists from the API server's watch cache, which may lag, and unpaginated: a
                // list of 20,000 runs then arrives as one body, the peak of a start.)
                let mut stream = watcher(api.clone(), watcher::Config::default())
                    .default_backoff()
                    .modify(prune)
                    .boxed();
                loop {
                    tokio::select! {
                        event = stream.next() => match event {
                            Some(Ok(event)) => {
                                writer.apply_watcher_event(&event);
                                on_change(&event);
                                fan_out(&subs, &reader, &event);
                                if matches!(event, watcher::Event::InitDone) {
                                    let _ = listed_tx.send(Some(round));
                                }
                            }
                            Some(Err(e)) => warn!(error = %e, "watch error; retrying"),
                            None => break,
                        },
                        changed = restarts.changed() => {
                            if changed.is_err() { return; }
                            break;
                        }
                    }
                }
            }
        });
        Feed {
            store,
            subscribers,
            restart,
            listed,
        }
    }

    /// A stream of every change from now on, starting with the store's current contents.
    fn subscribe(&self) -> mpsc::UnboundedReceiver<Change<K>> {
        let (tx, rx) = mpsc::unbounded();
        if let Ok(mut subs) = self.subscribers.lock() {
            // Under the lock, so no change falls between the replay and the live feed.
            for obj in self.store.state() {
                let _ = tx.unbounded_send(Change::Applied(obj));
            }
            subs.push(tx);
        }
        rx
    }

    async fn relist(&self) {
        let round = *self.restart.borrow() + 1;
        let _ = self.restart.send(round);
        let _ = self
            .listed
            .clone()
            .wait_for(|done| done.is_some_and(|d| d >= round))
            .await;
    }

    /// Resolves once the first list has completed. (Not `Store::wait_until_ready`: it wakes only
    /// one of several concurrent waiters, and the controllers already wait on it.)
    async fn listed_once(&self) {
        let _ = self.listed.clone().wait_for(Option::is_some).await;
    }
}

fn fan_out<K>(subs: &Subscribers<K>, store: &Store<K>, event: &watcher::Event<K>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let changes: Vec<Change<K>> = match event {
        watcher::Event::Apply(obj) => store
            .get(&ObjectRef::from_obj(obj))
            .map(Change::Applied)
            .into_iter()
            .collect(),
        watcher::Event::Delete(obj) => vec![Change::Deleted(Arc::new(obj.clone()))],
        // A (re)list is complete: every object may have changed while the watch was down.
        watcher::Event::InitDone => store.state().into_iter().map(Change::Applied).collect(),
        watcher::Event::Init | watcher::Event::InitApply(_) => Vec::new(),
    };
    if changes.is_empty() {
        return;
    }
    if let Ok(mut subs) = subs.lock() {
        subs.retain(|tx| changes.iter().all(|c| tx.unbounded_send(c.clone()).is_ok()));
    }
}

/// The shared caches of one process.
#[derive(Clone)]
pub struct Caches {
    actions: Feed<Action>,
    runs: Feed<ActionRun>,
    endpoints: Feed<ActionEndpoint>,
    index: RunIndex,
    ready: watch::Receiver<bool>,
}

impl Caches {
    /// Starts the watches (all namespaces, or only `namespace`).
    pub fn start(client: &Client, namespace: Option<&str>) -> Self {
        let actions = Feed::start(api(client, namespace), prune_action, |_| {});
        let index = RunIndex::default();
        let runs = {
            let index = index.clone();
            // Only the index entries of a list in progress: a copy of every listed run would
            // double the memory a start with many runs needs.
            let mut listing: Vec<(ActionKey, String)> = Vec::new();
            let on_change = move |event: &watcher::Event<ActionRun>| match event {
                watcher::Event::Apply(r) => index.insert(r),
                watcher::Event::Delete(r) => index.remove(r),
                watcher::Event::Init => listing.clear(),
                watcher::Event::InitApply(r) => listing.push(entry(r)),
                watcher::Event::InitDone => index.replace(std::mem::take(&mut listing)),
            };
            let on_change = Mutex::new(on_change);
            Feed::start(api(client, namespace), prune_run, move |e| {
                if let Ok(mut f) = on_change.lock() {
                    f(e)
                }
            })
        };
        let endpoints = Feed::start(api(client, namespace), |_| {}, |_| {});
        let (ready_tx, ready) = watch::channel(false);
        {
            let feeds = (actions.clone(), runs.clone(), endpoints.clone());
            tokio::spawn(async move {
                tokio::join!(
                    feeds.0.listed_once(),
                    feeds.1.listed_once(),
                    feeds.2.listed_once()
                );
                let _ = ready_tx.send(true);
            });
        }
        Caches {
            actions,
            runs,
            endpoints,
            index,
            ready,
        }
    }

    pub fn actions(&self) -> &Store<Action> {
        &self.actions.store
    }

    pub fn runs(&self) -> &Store<ActionRun> {
        &self.runs.store
    }

    pub fn endpoints(&self) -> &Store<ActionEndpoint> {
        &self.endpoints.store
    }

    /// Whether every cache has completed its first list.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once every cache has completed its first list. (A watch channel, because
    /// `Store::wait_until_ready` wakes only one of several concurrent waiters.)
    pub async fn wait_ready(&self) {
        let _ = self.ready.clone().wait_for(|r| *r).await;
    }

    /// Restarts the Action and run watches and waits until both have listed afresh.
    pub async fn resync(&self) {
        tokio::join!(self.actions.relist(), self.runs.relist());
    }

    pub fn subscribe_actions(&self) -> mpsc::UnboundedReceiver<Change<Action>> {
        self.actions.subscribe()
    }

    pub fn subscribe_runs(&self) -> mpsc::UnboundedReceiver<Change<ActionRun>> {
        self.runs.subscribe()
    }

    pub fn subscribe_endpoints(&self) -> mpsc::UnboundedReceiver<Change<ActionEndpoint>> {
        self.endpoints.subscribe()
    }

    /// The cached runs of the Action `name` in `ns` (by `spec.action`; the caller checks owners).
    pub fn runs_of(&self, ns: &str, name: &str) -> Vec<Arc<ActionRun>> {
        self.index
            .names(ns, name)
            .into_iter()
            .filter_map(|run| self.runs.store.get(&ObjectRef::new(&run).within(ns)))
            .collect()
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What `kubectl apply` keeps on an object: the whole manifest again, as one annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A cached run keeps no managedFields and no labels: nothing reads them from the cache (the
/// `punctual.dev/action` label repeats `spec.action`, which the index uses), and with many runs
/// a label map is a noticeable share of the memory. Nothing writes a run back whole, so what is
/// left out here is never lost on the server.
fn prune_run(run: &mut ActionRun) {
    run.managed_fields_mut().clear();
    run.metadata.labels = None;
}

/// Keeps of an Action's managedFields only what the facade's `updated_at` reads: the latest entry
/// that is not a status write, without its field set; drops `kubectl apply`'s copy of the
/// manifest (as large as the Action itself, and read by nothing here).
pub(crate) fn prune_action(action: &mut Action) {
    if let Some(annotations) = action.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            action.metadata.annotations = None;
        }
    }
    let latest: Option<ManagedFieldsEntry> = action
        .managed_fields()
        .iter()
        .filter(|e| e.subresource.as_deref().unwrap_or_default().is_empty())
        .max_by_key(|e| e.time.as_ref().map(|t| t.0))
        .map(|e| ManagedFieldsEntry {
            time: e.time.clone(),
            manager: e.manager.clone(),
            operation: e.operation.clone(),
            ..ManagedFieldsEntry::default()
        });
    *action.managed_fields_mut() = latest.into_iter().collect();
}

/// Whether `run` belongs to `action`: no owner (created by hand), or owned by this very Action
/// (not by an earlier Action of the same name).
pub fn owned_by(run: &ActionRun, action: &Action) -> bool {
    let owners = run.owner_references();
    owners.is_empty()
        || action
            .uid()
            .is_some_and(|u| owners.iter().any(|o| o.uid == u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn entry(manager: &str, second: i64, subresource: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            time: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(second).unwrap_or_default(),
            )),
            subresource: subresource.map(Into::into),
            fields_v1: Some(Default::default()),
            ..ManagedFieldsEntry::default()
        }
    }

    fn run(ns: &str, name: &str, action: &str) -> ActionRun {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"action": action, "triggerType": "manual", "namespaceId": "n",
                     "endpoint": "e", "maxRetries": 0, "retryDelaySeconds": 0},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_run_index_follows_creates_deletes_and_relists() {
        let index = RunIndex::default();
        index.insert(&run("a", "r1", "job"));
        index.insert(&run("a", "r2", "job"));
        index.insert(&run("b", "r1", "job"));
        index.insert(&run("a", "r3", "other"));
        assert_eq!(index.names("a", "job"), ["r1", "r2"]);
        assert_eq!(index.names("b", "job"), ["r1"], "namespaces are apart");
        index.remove(&run("a", "r1", "job"));
        assert_eq!(index.names("a", "job"), ["r2"]);
        // A relist replaces everything: runs deleted while the watch was down disappear.
        index.replace(vec![super::entry(&run("a", "r9", "job"))]);
        assert_eq!(index.names("a", "job"), ["r9"]);
        assert!(index.names("a", "other").is_empty());
        assert!(index.names("b", "job").is_empty());
    }

    #[test]
    fn an_action_keeps_only_its_latest_spec_change() {
        let mut a: Action = serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": "a"},
            "spec": {"app": "x", "namespaceId": "n", "endpoint": "e"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        a.metadata.managed_fields = Some(vec![
            entry("kubectl", 100, None),
            entry("punctual-scheduler", 300, Some("status")),
            entry("punctual-facade", 200, None),
        ]);
        prune_action(&mut a);
        let kept = a.managed_fields();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].manager.as_deref(), Some("punctual-facade"));
        assert!(kept[0].fields_v1.is_none());
    }

    #[test]
    fn an_action_loses_kubectls_copy_of_the_manifest_and_keeps_its_own_annotations() {
        let mut a: Action = serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": "a", "annotations": {
                super::LAST_APPLIED: "{\"apiVersion\": \"punctual.dev/v1alpha1\"}",
                "punctual.dev/resume": "2026-03-29T00:00:00Z"}},
            "spec": {"app": "x", "namespaceId": "n", "endpoint": "e"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        prune_action(&mut a);
        let kept: Vec<&String> = a.annotations().keys().collect();
        assert_eq!(kept, ["punctual.dev/resume"]);
        let mut only: Action = serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": "a", "annotations": {super::LAST_APPLIED: "{}"}},
            "spec": {"app": "x", "namespaceId": "n", "endpoint": "e"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        prune_action(&mut only);
        assert_eq!(only.metadata.annotations, None);
    }

    #[test]
    fn a_run_keeps_its_annotations_and_owner_but_no_labels() {
        let mut r = run("a", "r1", "job");
        r.metadata.labels = Some([("punctual.dev/action".to_string(), "job".to_string())].into());
        r.metadata.annotations = Some(
            [(
                "punctual.dev/action-generation".to_string(),
                "3".to_string(),
            )]
            .into(),
        );
        prune_run(&mut r);
        assert_eq!(r.metadata.labels, None);
        assert_eq!(r.annotations().len(), 1);
        assert_eq!(r.spec.action, "job", "the index key stays");
    }
}
