//! Whether a finished transaction could become a sample. Per action and interval
//! the agent keeps the few slowest transactions (and erroring ones) whole and uses
//! only the durations and events of the rest. Their sample data (params, headers,
//! session data, tags) is thrown away there, yet serialising it is most of what
//! instrumenting a request costs the app thread. So the app asks first, and skips
//! that work for a transaction slower than none of the last few kept for its action
//! in this process during the current window.
//!
//! A process's slowest are a superset of the agent's slowest across processes,
//! except near window edges: the windows here are not aligned with the agent's
//! intervals. A sample there may lack its data; counts and durations never do.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The agent keeps this many of the slowest per action and interval.
const SLOWEST_KEPT: usize = 3;
/// Shorter than the agent's interval (30 s by default), so each interval sees the
/// candidates of several windows.
const WINDOW: Duration = Duration::from_secs(10);
/// Beyond this many actions (names built from user input, say) the table starts
/// over rather than grow: every transaction is admitted until it fills again.
const MAX_ACTIONS: usize = 10_000;

#[derive(Default)]
pub struct SampleGate {
    by_namespace: Mutex<HashMap<String, HashMap<String, Window>>>,
}

struct Window {
    started: Instant,
    /// Durations admitted in this window, at most [`SLOWEST_KEPT`].
    slowest: Vec<u64>,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            slowest: Vec::with_capacity(SLOWEST_KEPT),
        }
    }

    fn admit(&mut self, duration_ns: u64, now: Instant) -> bool {
        if now.duration_since(self.started) >= WINDOW {
            self.started = now;
            self.slowest.clear();
        }
        if self.slowest.len() < SLOWEST_KEPT {
            self.slowest.push(duration_ns);
            return true;
        }
        let (fastest_index, fastest) = self
            .slowest
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, d)| d)
            .unwrap_or((0, u64::MAX));
        if duration_ns <= fastest {
            return false;
        }
        self.slowest[fastest_index] = duration_ns;
        true
    }
}

impl SampleGate {
    /// The one gate of this process.
    pub fn global() -> &'static SampleGate {
        static GATE: OnceLock<SampleGate> = OnceLock::new();
        GATE.get_or_init(SampleGate::default)
    }

    /// True when a transaction of this action and duration, finished at `now`,
    /// could be among the samples the agent keeps.
    pub fn admit(&self, namespace: &str, action: &str, duration_ns: u64, now: Instant) -> bool {
        // A poisoned lock only means a panic elsewhere mid-update: the table is
        // still usable, at worst admitting a few more.
        let mut table = self
            .by_namespace
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(window) = table
            .get_mut(namespace)
            .and_then(|actions| actions.get_mut(action))
        {
            return window.admit(duration_ns, now);
        }
        if table.values().map(HashMap::len).sum::<usize>() >= MAX_ACTIONS {
            table.clear();
        }
        let mut window = Window::new(now);
        let admitted = window.admit(duration_ns, now);
        table
            .entry(namespace.to_owned())
            .or_default()
            .insert(action.to_owned(), window);
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_first_few_of_an_action_are_admitted_then_only_slower_ones() {
        let gate = SampleGate::default();
        let now = Instant::now();
        for d in [5, 3, 4] {
            assert!(gate.admit("web", "Home#index", d * MS, now));
        }
        assert!(
            !gate.admit("web", "Home#index", 3 * MS, now),
            "ties the fastest kept"
        );
        assert!(!gate.admit("web", "Home#index", 2 * MS, now));
        assert!(
            gate.admit("web", "Home#index", 6 * MS, now),
            "slower than 3 ms"
        );
        // 3 ms was replaced by 6 ms: 4 ms is now the bar.
        assert!(!gate.admit("web", "Home#index", 4 * MS, now));
        assert!(gate.admit("web", "Home#index", 4 * MS + 1, now));
    }

    #[test]
    fn actions_and_namespaces_are_judged_apart() {
        let gate = SampleGate::default();
        let now = Instant::now();
        for _ in 0..3 {
            gate.admit("web", "Home#index", 100 * MS, now);
        }
        assert!(!gate.admit("web", "Home#index", MS, now));
        assert!(gate.admit("web", "Home#show", MS, now));
        assert!(gate.admit("background_job", "Home#index", MS, now));
    }

    #[test]
    fn a_new_window_starts_over() {
        let gate = SampleGate::default();
        let start = Instant::now();
        for _ in 0..3 {
            gate.admit("web", "Home#index", 100 * MS, start);
        }
        assert!(!gate.admit("web", "Home#index", MS, start + WINDOW / 2));
        assert!(gate.admit("web", "Home#index", MS, start + WINDOW));
    }

    #[test]
    fn too_many_actions_start_the_table_over_instead_of_growing() {
        let gate = SampleGate::default();
        let now = Instant::now();
        for _ in 0..3 {
            gate.admit("web", "Hot#path", 100 * MS, now);
        }
        for i in 0..MAX_ACTIONS {
            gate.admit("web", &format!("Generated#{i}"), MS, now);
        }
        assert!(
            gate.admit("web", "Hot#path", MS, now),
            "forgotten with the rest"
        );
        let actions: usize = gate
            .by_namespace
            .lock()
            .unwrap()
            .values()
            .map(HashMap::len)
            .sum();
        assert!(actions <= MAX_ACTIONS, "{actions} actions kept");
    }
}
