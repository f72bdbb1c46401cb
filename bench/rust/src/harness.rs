//! A plain harness: warm up, time several rounds, keep the median.

use std::time::{Duration, Instant};

/// How long each benchmark runs: `full` for figures, `quick` for a look, `smoke`
/// only proves each one still runs.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub rounds: usize,
    /// Multiplies each benchmark's own iteration count.
    pub factor: f64,
}

impl Scale {
    pub fn full() -> Scale {
        Scale {
            rounds: 9,
            factor: 1.0,
        }
    }

    pub fn quick() -> Scale {
        Scale {
            rounds: 5,
            factor: 0.2,
        }
    }

    pub fn smoke() -> Scale {
        Scale {
            rounds: 1,
            factor: 0.01,
        }
    }

    /// `base` scaled, at least 1.
    pub fn iterations(&self, base: u64) -> u64 {
        ((base as f64 * self.factor) as u64).max(1)
    }
}

/// One line of the table: a figure and the baseline it is compared with.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline_name: String,
    pub baseline_value: f64,
    /// A figure derived from `value`, e.g. events/s per core.
    pub derived: Option<String>,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.value / self.baseline_value
    }

    /// Tab-separated, for `bench/run.rb`.
    pub fn to_tsv(&self) -> String {
        format!(
            "row\t{}\t{:.3}\t{}\t{}\t{:.3}\t{:.2}\t{}",
            self.name,
            self.value,
            self.unit,
            self.baseline_name,
            self.baseline_value,
            self.ratio(),
            self.derived.as_deref().unwrap_or("")
        )
    }
}

/// Median time per iteration in nanoseconds. `round(n)` runs `n` iterations and
/// returns the time of the part that counts (setup it does before or after is not
/// timed).
pub fn median_ns(
    scale: Scale,
    base_iterations: u64,
    mut round: impl FnMut(u64) -> Duration,
) -> f64 {
    let n = scale.iterations(base_iterations);
    round(n.min(1_000)); // warm-up
    let mut samples: Vec<f64> = (0..scale.rounds.max(1))
        .map(|_| round(n).as_nanos() as f64 / n as f64)
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Times `f` run `n` times.
pub fn timed(n: u64, mut f: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed()
}
