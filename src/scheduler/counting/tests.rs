//! Counting driven against a simulated API server: a crash after every write, stale views of the
//! Action and of the runs, concurrent writers, history cleanup and hand deletions in between.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::*;

fn info(name: &str, phase: RunPhase, code: Option<RunErrorCode>, minute: u32) -> RunInfo {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, minute, 0).unwrap();
    RunInfo {
        name: name.into(),
        uid: None,
        phase,
        scheduled_at: None,
        triggered_at: at,
        execution_id: None,
        error_code: code,
        error_message: code.map(|c| format!("{} happened", c.as_str())),
        completed_at: (!phase.is_active()).then_some(at),
        attempt: 1,
        generation: None,
        deleted: false,
        notification_pending: false,
        accepted: false,
    }
}

#[test]
fn the_streak_follows_the_counted_runs_in_the_order_they_finished() {
    let failed =
        |name: &str, minute| info(name, RunPhase::Failed, Some(RunErrorCode::Timeout), minute);
    // Counted in one batch, listed out of order: the order of completion decides.
    let runs = [
        failed("f3", 3),
        info("ok", RunPhase::Succeeded, None, 2),
        failed("f1", 1),
        failed("f4", 4),
        info("skip", RunPhase::Cancelled, Some(RunErrorCode::Skipped), 5),
        info(
            "cancel",
            RunPhase::Cancelled,
            Some(RunErrorCode::Cancelled),
            6,
        ),
    ];
    let t = tally(&ActionStatus::default(), &runs);
    assert_eq!(t.status.consecutive_failures, 2);
    assert_eq!(
        t.status.last_failure.as_deref(),
        Some("run f4: timeout: timeout happened")
    );
    // Counting again changes nothing; a later success ends the streak.
    let again = tally(&t.status, &runs);
    assert_eq!(again.status.consecutive_failures, 2);
    let mut later = runs.to_vec();
    later.push(info("ok2", RunPhase::Succeeded, None, 7));
    let t2 = tally(&t.status, &later);
    assert_eq!(
        (t2.status.consecutive_failures, t2.status.last_failure),
        (0, None)
    );
}

#[test]
fn each_outcome_goes_to_its_counter_once() {
    let runs = [
        info("ok", RunPhase::Succeeded, None, 1),
        info("bad", RunPhase::Failed, Some(RunErrorCode::HttpError), 2),
        info("skip", RunPhase::Cancelled, Some(RunErrorCode::Skipped), 3),
        info("miss", RunPhase::Cancelled, Some(RunErrorCode::Missed), 4),
        info(
            "gone",
            RunPhase::Cancelled,
            Some(RunErrorCode::Cancelled),
            5,
        ),
        info("busy", RunPhase::Running, None, 6),
    ];
    let first = tally(&ActionStatus::default(), &runs);
    let s = &first.status;
    assert_eq!((s.total_runs, s.successful_runs, s.failed_runs), (2, 1, 1));
    assert_eq!((s.skipped_runs, s.missed_runs), (1, 1));
    // A cancelled run is in no counter, yet listed: its Event is told once.
    assert_eq!(s.counted_runs, ["ok", "bad", "skip", "miss", "gone"]);
    assert!(
        first
            .counted
            .contains(&("gone".to_string(), Effect::Nothing))
    );
    // Replayed against the status it wrote: nothing more.
    let again = tally(&first.status, &runs);
    assert!(again.counted.is_empty());
    assert_eq!(again.status, first.status);
}

#[test]
fn a_name_leaves_the_ledger_only_when_its_run_is_gone() {
    let mut status = ActionStatus {
        counted_runs: vec!["old".into(), "kept".into()],
        total_runs: 2,
        successful_runs: 2,
        ..ActionStatus::default()
    };
    let mut runs = vec![info("kept", RunPhase::Succeeded, None, 1)];
    // Nothing to count: no write, so the ledger stays as it is.
    assert_eq!(tally(&status, &runs).status, status);
    runs.push(info("new", RunPhase::Succeeded, None, 2));
    status = tally(&status, &runs).status;
    assert_eq!(status.counted_runs, ["kept", "new"]);
    assert_eq!(status.total_runs, 3);
}

#[test]
fn a_run_deleted_before_it_was_counted_is_counted_from_its_delete_event() {
    let mut deleted = info("hand", RunPhase::Failed, Some(RunErrorCode::Timeout), 1);
    deleted.deleted = true;
    let t = tally(&ActionStatus::default(), &[deleted.clone()]);
    assert_eq!((t.status.total_runs, t.status.failed_runs), (1, 1));
    // Listed in the write that counts it; pruned by the next count (it is not in the cache).
    assert_eq!(t.status.counted_runs, ["hand"]);
    let next = tally(&t.status, &[info("next", RunPhase::Succeeded, None, 2)]);
    assert_eq!(next.status.counted_runs, ["next"]);
}

#[test]
fn history_deletes_only_counted_runs_oldest_first_and_bookkeeping_at_once() {
    let runs = [
        info("s1", RunPhase::Succeeded, None, 1),
        info("s2", RunPhase::Succeeded, None, 2),
        info("s3", RunPhase::Succeeded, None, 3),
        info("f1", RunPhase::Failed, None, 4),
        info("c1", RunPhase::Cancelled, Some(RunErrorCode::Cancelled), 0),
        info("k1", RunPhase::Cancelled, Some(RunErrorCode::Skipped), 5),
        info("k2", RunPhase::Cancelled, Some(RunErrorCode::Missed), 6),
    ];
    let ledger: Vec<String> = ["s1", "s2", "s3", "f1", "k1"].map(String::from).into();
    // k2 is not counted yet, so it stays; c1 has no count to lose.
    assert_eq!(
        history_victims(&runs, &ledger, 1, 1),
        ["k1", "s1", "s2", "c1"]
    );
    // s1 not counted yet: it survives this pass.
    let ledger: Vec<String> = ["s2", "s3", "f1"].map(String::from).into();
    assert_eq!(history_victims(&runs, &ledger, 1, 1), ["s2", "c1"]);
    // A run whose notification is still pending is kept until it is settled.
    let mut waiting = runs.to_vec();
    waiting[0].notification_pending = true;
    let ledger: Vec<String> = ["s1", "s2", "s3", "f1", "k1"].map(String::from).into();
    assert_eq!(history_victims(&waiting, &ledger, 1, 1), ["k1", "s2", "c1"]);
}

/// The API server: the Action's status versions, and a log of run changes that caches replay.
struct World {
    versions: Vec<ActionStatus>,
    runs: BTreeMap<String, RunInfo>,
    /// (name, state after the change; None = deleted)
    log: Vec<(String, Option<RunInfo>)>,
    writes: usize,
    /// Runs deleted since the last status write (the ledger may still name them).
    deleted_since_write: Vec<String>,
}

impl World {
    fn new() -> Self {
        World {
            versions: vec![ActionStatus::default()],
            runs: BTreeMap::new(),
            log: Vec::new(),
            writes: 0,
            deleted_since_write: Vec::new(),
        }
    }

    fn rv(&self) -> usize {
        self.versions.len() - 1
    }

    fn status(&self) -> &ActionStatus {
        &self.versions[self.rv()]
    }

    fn set_run(&mut self, r: RunInfo) {
        self.runs.insert(r.name.clone(), r.clone());
        self.log.push((r.name.clone(), Some(r)));
    }

    fn delete_run(&mut self, name: &str) {
        if self.runs.remove(name).is_some() {
            self.log.push((name.to_string(), None));
            self.deleted_since_write.push(name.to_string());
        }
    }
}

struct Crash;

/// One operator process: its run cache is a prefix of the log (it only moves forward); a new
/// process lists afresh. `budget` writes, then it dies right after the last one.
struct Process {
    seen: usize,
    cache: BTreeMap<String, RunInfo>,
    deleted: Vec<RunInfo>,
    action_seen: usize,
    budget: usize,
}

impl Process {
    fn start(w: &World, budget: usize) -> Self {
        Process {
            seen: w.log.len(),
            cache: w.runs.clone(),
            deleted: Vec::new(),
            action_seen: w.rv(),
            budget,
        }
    }

    fn wrote(&mut self, w: &mut World) -> Result<(), Crash> {
        w.writes += 1;
        if self.budget == 0 {
            return Err(Crash);
        }
        self.budget -= 1;
        Ok(())
    }

    /// The cache catches up by `n` events of the log.
    fn advance(&mut self, w: &World, n: usize) {
        let upto = self.seen.saturating_add(n).min(w.log.len());
        for (name, state) in &w.log[self.seen..upto] {
            match state {
                Some(r) => {
                    self.cache.insert(name.clone(), r.clone());
                }
                None => {
                    // The delete event carries the run's last state (as the watch does).
                    if let Some(mut last) = self.cache.remove(name)
                        && effect(last.phase, last.error_code).is_some()
                    {
                        last.deleted = true;
                        self.deleted.push(last);
                    }
                }
            }
        }
        self.seen = upto;
    }

    /// The Action controller's reconcile: tally from a possibly stale Action copy, a conditional
    /// write, and on 409 a fresh read and a new tally; then history cleanup.
    fn reconcile(&mut self, w: &mut World, stale_action: usize) -> Result<(), Crash> {
        let mut rv = self.action_seen.max(w.rv().saturating_sub(stale_action));
        for _ in 0..5 {
            self.action_seen = rv;
            let view = w.versions[rv].clone();
            let mut runs: Vec<RunInfo> = self.cache.values().cloned().collect();
            runs.extend(self.deleted.iter().cloned());
            let t = tally(&view, &runs);
            let done: Vec<String> = t
                .counted
                .iter()
                .map(|(n, _)| n.clone())
                .chain(t.settled.iter().cloned())
                .collect();
            let ledger = if t.status == view {
                self.deleted.retain(|d| !done.contains(&d.name));
                view.counted_runs.clone()
            } else if rv == w.rv() {
                w.versions.push(t.status.clone());
                w.deleted_since_write.clear();
                self.action_seen = w.rv();
                self.deleted.retain(|d| !done.contains(&d.name));
                self.wrote(w)?;
                t.status.counted_runs.clone()
            } else {
                w.writes += 1; // the 409
                rv = w.rv(); // a fresh GET
                continue;
            };
            for victim in history_victims(&runs, &ledger, 2, 1) {
                w.delete_run(&victim);
                self.wrote(w)?;
            }
            return Ok(());
        }
        Ok(())
    }
}

/// Small deterministic generator, so failures are repeatable.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

fn lost(expect: &mut [i64; 4], e: Effect) {
    match e {
        Effect::Succeeded => expect[0] -= 1,
        Effect::Failed => expect[1] -= 1,
        Effect::Skipped => expect[2] -= 1,
        Effect::Missed => expect[3] -= 1,
        Effect::Nothing => {}
    }
}

const OUTCOMES: [(RunPhase, Option<RunErrorCode>); 5] = [
    (RunPhase::Succeeded, None),
    (RunPhase::Failed, Some(RunErrorCode::HttpError)),
    (RunPhase::Cancelled, Some(RunErrorCode::Skipped)),
    (RunPhase::Cancelled, Some(RunErrorCode::Missed)),
    (RunPhase::Cancelled, Some(RunErrorCode::Cancelled)),
];

/// Random histories: runs finish, the controller reconciles from stale views and crashes after
/// random writes, another writer bumps the Action, counted runs are deleted by hand, finished
/// runs are deleted by hand before they were counted (while the process watches). At the end a
/// clean process settles, and every counter equals what really happened.
#[test]
fn no_history_of_crashes_stale_views_and_deletions_loses_or_doubles_a_count() {
    for seed0 in 0..400u64 {
        let mut seed = seed0;
        let mut w = World::new();
        let mut expect = [0i64; 4]; // succeeded, failed, skipped, missed
        // Every run that finished, in order, and those whose count the documented gap lost.
        let mut finished: Vec<(String, Effect)> = Vec::new();
        let mut lost_names: Vec<String> = Vec::new();
        let mut p = Process::start(&w, (lcg(&mut seed) % 12) as usize);
        for i in 0..40 {
            match lcg(&mut seed) % 8 {
                // A run finishes (the runner's outcome write).
                0..=2 => {
                    let (phase, code) = OUTCOMES[(lcg(&mut seed) % 5) as usize];
                    let r = info(&format!("r{i:02}"), phase, code, i);
                    w.set_run(info(&r.name, RunPhase::Pending, None, i));
                    finished.extend(effect(phase, code).map(|e| (r.name.clone(), e)));
                    w.set_run(r);
                    match effect(phase, code) {
                        Some(Effect::Succeeded) => expect[0] += 1,
                        Some(Effect::Failed) => expect[1] += 1,
                        Some(Effect::Skipped) => expect[2] += 1,
                        Some(Effect::Missed) => expect[3] += 1,
                        _ => {}
                    }
                }
                // Another writer changes the Action (a new resourceVersion, same counters).
                3 => {
                    let s = w.status().clone();
                    w.versions.push(s);
                }
                // A hand deletion of any run the process is watching.
                4 => {
                    if let Some(name) = w.runs.keys().nth((lcg(&mut seed) % 4) as usize).cloned() {
                        p.advance(&w, usize::MAX); // it watches: it sees every event up to now
                        w.delete_run(&name);
                        p.advance(&w, usize::MAX);
                    }
                }
                // The controller reconciles from a cache that is behind, or crashes.
                _ => {
                    let lag = (lcg(&mut seed) % 4) as usize;
                    p.advance(&w, (lcg(&mut seed) % 6) as usize);
                    if p.reconcile(&mut w, lag).is_err() {
                        // The documented gap: a run deleted by hand before it was counted, and
                        // the process that saw it go died before counting it.
                        for d in &p.deleted {
                            let listed = w.status().counted_runs.contains(&d.name);
                            if let (false, Some(e)) = (listed, effect(d.phase, d.error_code)) {
                                lost(&mut expect, e);
                                lost_names.push(d.name.clone());
                            }
                        }
                        p = Process::start(&w, (lcg(&mut seed) % 12) as usize);
                    }
                }
            }
        }
        // The last process stops crashing and settles; then a fresh one (a restart) changes
        // nothing.
        p.budget = usize::MAX;
        for _ in 0..3 {
            p.advance(&w, usize::MAX);
            let _ = p.reconcile(&mut w, 0);
        }
        let mut clean = Process::start(&w, usize::MAX);
        for _ in 0..3 {
            clean.advance(&w, usize::MAX);
            let _ = clean.reconcile(&mut w, 0);
        }
        // The streak is the failures since the last success among the runs counted, in order.
        let mut streak = 0;
        for (_, e) in finished.iter().filter(|(n, _)| !lost_names.contains(n)) {
            match e {
                Effect::Failed => streak += 1,
                Effect::Succeeded => streak = 0,
                _ => {}
            }
        }
        assert_eq!(w.status().consecutive_failures, streak, "seed {seed0}");
        // One more count, which also drops the names of runs deleted since the last one.
        w.set_run(info("zz", RunPhase::Succeeded, None, 59));
        expect[0] += 1;
        clean.advance(&w, usize::MAX);
        let _ = clean.reconcile(&mut w, 0);
        let s = w.status();
        assert_eq!(
            [
                s.successful_runs,
                s.failed_runs,
                s.skipped_runs,
                s.missed_runs
            ],
            expect,
            "seed {seed0}: {s:?}"
        );
        assert_eq!(s.total_runs, expect[0] + expect[1], "seed {seed0}");
        // The ledger names only runs that exist, or were deleted after it was last written.
        for name in &s.counted_runs {
            assert!(
                w.runs.contains_key(name) || w.deleted_since_write.contains(name),
                "seed {seed0}: {name} listed but long gone"
            );
        }
    }
}

/// The drift of the old protocol: a second reconcile from a stale cache after the first one had
/// counted. Here, with the Action view one version behind and the run cache unchanged, the write
/// gets a 409, the fresh read lists the run, and nothing is counted twice.
#[test]
fn a_stale_view_after_a_count_gets_a_conflict_not_a_second_count() {
    let mut w = World::new();
    w.set_run(info("r", RunPhase::Succeeded, None, 1));
    let mut p = Process::start(&w, usize::MAX);
    assert!(p.reconcile(&mut w, 0).is_ok());
    p.action_seen = 0; // as if the Action cache still held the version before the count
    assert!(p.reconcile(&mut w, 1).is_ok());
    assert_eq!(w.status().total_runs, 1);
}
