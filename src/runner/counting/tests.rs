//! The counting protocol driven against a simulated API server, with a crash injected after
//! every possible write, a concurrent writer (the scheduler) bumping the resourceVersion, and
//! history cleanup deleting runs in between.

use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;

/// The API server as far as counting is concerned.
#[derive(Default)]
struct World {
    status: ActionStatus,
    rv: u64,
    /// name -> (phase, marked)
    runs: BTreeMap<String, (RunPhase, bool)>,
}

struct Crash;

/// One runner process: performs writes until `budget` runs out (then it "dies"). `conflict`
/// says whether another writer changes the Action between this process's read and write.
struct Process<'a> {
    budget: usize,
    conflict: &'a mut dyn FnMut() -> bool,
}

impl Process<'_> {
    fn write(&mut self) -> Result<(), Crash> {
        if self.budget == 0 {
            return Err(Crash);
        }
        self.budget -= 1;
        Ok(())
    }

    /// The runner's reconcile of one finished run, as the controller does it.
    fn count(&mut self, w: &mut World, run: &str) -> Result<(), Crash> {
        loop {
            let Some(&(phase, marked)) = w.runs.get(run) else {
                return Ok(());
            };
            let listed = w.status.counted_runs.iter().any(|n| n == run);
            match count_step(phase, marked, listed) {
                CountStep::Done => return Ok(()),
                CountStep::Count | CountStep::Unlist => {
                    let (read, rv) = (w.status.clone(), w.rv);
                    if (self.conflict)() {
                        w.status.missed_runs += 1; // the scheduler's write
                        w.rv += 1;
                    }
                    let new = if count_step(phase, marked, listed) == CountStep::Count {
                        counted(&read, run, phase)
                    } else {
                        let mut s = read.clone();
                        s.counted_runs =
                            unlisted(&read.counted_runs, run, |n| w.runs.contains_key(n));
                        s
                    };
                    self.write()?;
                    if rv != w.rv {
                        continue; // 409: read again
                    }
                    // A merge patch of the runner's fields only.
                    w.status.total_runs = new.total_runs;
                    w.status.successful_runs = new.successful_runs;
                    w.status.failed_runs = new.failed_runs;
                    w.status.counted_runs = new.counted_runs;
                    w.rv += 1;
                }
                CountStep::Mark => {
                    self.write()?;
                    if let Some(r) = w.runs.get_mut(run) {
                        r.1 = true;
                    }
                }
            }
        }
    }
}

fn world(runs: &[(&str, RunPhase)]) -> World {
    World {
        runs: runs
            .iter()
            .map(|(n, p)| (n.to_string(), (*p, false)))
            .collect(),
        ..World::default()
    }
}

const RUNS: [(&str, RunPhase); 5] = [
    ("r1", RunPhase::Succeeded),
    ("r2", RunPhase::Failed),
    ("r3", RunPhase::Succeeded),
    ("r4", RunPhase::Cancelled),
    ("r5", RunPhase::Running),
];

fn assert_exact(w: &World) {
    assert_eq!(w.status.total_runs, 3);
    assert_eq!(w.status.successful_runs, 2);
    assert_eq!(w.status.failed_runs, 1);
    assert!(
        w.status.counted_runs.is_empty(),
        "{:?}",
        w.status.counted_runs
    );
}

/// Small deterministic generator, so failures are repeatable.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[test]
fn a_crash_after_any_write_neither_loses_nor_doubles_a_count() {
    for crash_after in 0..20 {
        let mut w = world(&RUNS);
        let mut never = || false;
        let mut first = Process {
            budget: crash_after,
            conflict: &mut never,
        };
        for (name, _) in RUNS {
            if first.count(&mut w, name).is_err() {
                break;
            }
        }
        // The restarted process reconciles every run (its caches list them all).
        let mut never = || false;
        let mut second = Process {
            budget: usize::MAX,
            conflict: &mut never,
        };
        for (name, _) in RUNS {
            let _ = second.count(&mut w, name);
        }
        assert_exact(&w);
        // Reconciling again (any later event) changes nothing.
        for (name, _) in RUNS {
            let _ = second.count(&mut w, name);
        }
        assert_exact(&w);
    }
}

#[test]
fn crashes_conflicts_and_history_cleanup_interleaved_at_random() {
    for seed in 0..500u64 {
        let mut rng = seed;
        let mut w = world(&RUNS);
        // Several processes in a row, each dying after a random number of writes; between them,
        // history cleanup deletes some marked runs (keep none).
        for _ in 0..4 {
            let budget = (lcg(&mut rng) % 6) as usize;
            let mut rng2 = lcg(&mut rng);
            let mut conflict = move || lcg(&mut rng2).is_multiple_of(3);
            let mut p = Process {
                budget,
                conflict: &mut conflict,
            };
            for i in 0..RUNS.len() {
                let (name, _) = RUNS[(i + seed as usize) % RUNS.len()];
                if p.count(&mut w, name).is_err() {
                    break;
                }
            }
            if lcg(&mut rng).is_multiple_of(2) {
                w.runs
                    .retain(|_, (phase, marked)| !*marked || phase.is_active());
            }
        }
        let mut never = || false;
        let mut last = Process {
            budget: usize::MAX,
            conflict: &mut never,
        };
        for (name, _) in RUNS {
            let _ = last.count(&mut w, name);
        }
        // A listed run deleted by history is pruned by the next unlist of any run; finish with
        // one more finished run to exercise that path.
        w.runs.insert("r6".into(), (RunPhase::Succeeded, false));
        let _ = last.count(&mut w, "r6");
        assert_eq!(
            (
                w.status.total_runs,
                w.status.successful_runs,
                w.status.failed_runs
            ),
            (4, 3, 1),
            "seed {seed}"
        );
        assert!(w.status.counted_runs.is_empty(), "seed {seed}");
    }
}

#[test]
fn steps_follow_the_state() {
    use RunPhase::*;
    assert_eq!(count_step(Running, false, false), CountStep::Done);
    assert_eq!(count_step(Pending, false, true), CountStep::Done);
    assert_eq!(count_step(Succeeded, false, false), CountStep::Count);
    assert_eq!(count_step(Failed, false, false), CountStep::Count);
    assert_eq!(count_step(Cancelled, false, false), CountStep::Mark);
    assert_eq!(count_step(Failed, false, true), CountStep::Mark);
    assert_eq!(count_step(Failed, true, true), CountStep::Unlist);
    assert_eq!(count_step(Succeeded, true, false), CountStep::Done);
}

#[test]
fn unlisting_prunes_names_of_deleted_runs() {
    let list = vec!["a".to_string(), "gone".into(), "b".into()];
    assert_eq!(unlisted(&list, "a", |n| n != "gone"), vec!["b".to_string()]);
}

#[test]
fn history_deletes_the_oldest_counted_runs_beyond_each_limit() {
    let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    let f = |name: &str, phase, s: i64, marked| Finished {
        name: name.into(),
        phase,
        completed_at: at(s),
        marked,
    };
    let runs = vec![
        f("s1", RunPhase::Succeeded, 1, true),
        f("s2", RunPhase::Succeeded, 2, true),
        f("s3", RunPhase::Succeeded, 3, true),
        f("s4", RunPhase::Succeeded, 4, true),
        f("f1", RunPhase::Failed, 1, false),
        f("c2", RunPhase::Cancelled, 2, true),
        f("f3", RunPhase::Failed, 3, true),
        f("p", RunPhase::Running, 0, false),
    ];
    assert_eq!(history_victims(&runs, 2, 1), vec!["s1", "s2", "c2"]);
    assert_eq!(history_victims(&runs, 10, 10), Vec::<String>::new());
    assert_eq!(
        history_victims(&runs, 0, 0),
        vec!["s1", "s2", "s3", "s4", "c2", "f3"]
    );
}
