//! Latency percentiles and the summary of one phase.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `p`-th percentile (0 < p <= 100) of `sorted` by the nearest-rank method: the smallest value
/// with at least `p` % of the values at or below it. `None` for no values.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // Nearest rank, 1-based: ceil(p/100 · n), at least 1.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The figures of one phase, as printed and as `--json` gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests answered (any status).
    pub requests: u64,
    /// Answers that passed the phase's check (2xx for load phases; 200 with a `ts1_` key for the
    /// stored-key check).
    pub ok: u64,
    /// Requests that got no answer (connection error or per-request timeout).
    pub errors: u64,
    /// How many answers had each status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Wall time from the first request to the last answer, in seconds.
    pub seconds: f64,
    /// Answers per second over that time.
    pub throughput: f64,
    /// Median latency in milliseconds (`null` with no answers).
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency in milliseconds.
    pub p99_ms: Option<f64>,
    /// Slowest answer in milliseconds.
    pub max_ms: Option<f64>,
    /// Whether the phase's time budget ran out before all its requests were sent.
    pub stopped_by_time_limit: bool,
    /// The first answer that failed the check, or the first error, if any.
    pub first_failure: Option<String>,
}

impl Summary {
    /// Why this phase (called `name`) did not go as it should, if any request failed its check or
    /// got no answer.
    pub fn failure(&self, name: &str) -> Option<String> {
        let failed = self.requests - self.ok + self.errors;
        (failed > 0).then(|| {
            format!(
                "{name}: {failed} of {} requests failed{}",
                self.requests + self.errors,
                self.first_failure
                    .as_deref()
                    .map(|first| format!(" (first: {first})"))
                    .unwrap_or_default()
            )
        })
    }

    /// Whether every request was answered and passed its check, with a throughput to divide by.
    pub fn is_clean(&self) -> bool {
        self.errors == 0 && self.ok == self.requests && self.throughput > 0.0
    }

    /// The column headings of [`Summary::row`].
    pub fn heading() -> String {
        format!(
            "{:<36} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9}\n",
            "phase", "answers", "ok", "seconds", "req/s", "p50 ms", "p99 ms", "max ms"
        )
    }

    /// This phase as one line of a table, called `name`.
    pub fn row(&self, name: &str) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        format!(
            "{:<36} {:>8} {:>8} {:>8.2} {:>10.1} {:>9} {:>9} {:>9}{}\n",
            name,
            self.requests,
            self.ok,
            self.seconds,
            self.throughput,
            ms(self.p50_ms),
            ms(self.p99_ms),
            ms(self.max_ms),
            if self.stopped_by_time_limit {
                "  (time budget ran out)"
            } else {
                ""
            }
        )
    }
}

/// What a phase records, from one worker or pooled: [`Recorded`] for a phase of single requests.
pub trait Records: Default {
    /// Its figures, as reported.
    type Summary;

    /// Adds another worker's or run's records.
    fn merge(&mut self, other: Self);

    /// The figures over `elapsed` wall time.
    fn summary_over(&self, elapsed: Duration) -> Self::Summary;
}

/// What one or more runs of a phase recorded, and the wall time they took.
#[derive(Clone, Debug, Default)]
pub struct Measured<R = Recorded> {
    /// The answers.
    pub recorded: R,
    /// Wall time from the first request to the last answer (summed over pooled runs).
    pub elapsed: Duration,
}

impl<R: Records> Measured<R> {
    /// What `workers` recorded, together, over `elapsed`.
    pub fn of_workers(workers: Vec<R>, elapsed: Duration) -> Measured<R> {
        let mut recorded = R::default();
        for worker in workers {
            recorded.merge(worker);
        }
        Measured { recorded, elapsed }
    }

    /// Adds another run of the same phase: answers pooled, times added.
    pub fn pool(&mut self, other: Measured<R>) {
        self.recorded.merge(other.recorded);
        self.elapsed += other.elapsed;
    }

    /// The summary.
    pub fn summary(&self) -> R::Summary {
        self.recorded.summary_over(self.elapsed)
    }
}

impl Records for Recorded {
    type Summary = Summary;

    fn merge(&mut self, other: Recorded) {
        Recorded::merge(self, other);
    }

    fn summary_over(&self, elapsed: Duration) -> Summary {
        self.clone().summarise(elapsed)
    }
}

/// What a phase recorded, before summarising.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// Latency of every answered request.
    pub latencies: Vec<Duration>,
    /// Answers that passed the phase's check.
    pub ok: u64,
    /// Requests without an answer.
    pub errors: u64,
    /// Answers per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// The first failure, to show the user.
    pub first_failure: Option<String>,
    /// Whether the time budget stopped the phase.
    pub stopped_by_time_limit: bool,
}

impl Recorded {
    /// Adds another worker's records.
    pub fn merge(&mut self, other: Recorded) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.stopped_by_time_limit |= other.stopped_by_time_limit;
    }

    /// The summary over `elapsed` wall time.
    pub fn summarise(mut self, elapsed: Duration) -> Summary {
        self.latencies.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let requests = self.latencies.len() as u64;
        let seconds = elapsed.as_secs_f64();
        Summary {
            requests,
            ok: self.ok,
            errors: self.errors,
            statuses: self.statuses,
            seconds,
            throughput: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(&self.latencies, 50.0).map(ms),
            p99_ms: percentile(&self.latencies, 99.0).map(ms),
            max_ms: self.latencies.last().copied().map(ms),
            stopped_by_time_limit: self.stopped_by_time_limit,
            first_failure: self.first_failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let hundred = ms(1..=100);
        assert_eq!(percentile(&hundred, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(
            percentile(&hundred, 100.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(percentile(&hundred, 0.0), Some(Duration::from_millis(1)));

        // The textbook example: 15, 20, 35, 40, 50.
        let five = ms([15, 20, 35, 40, 50]);
        assert_eq!(percentile(&five, 5.0), Some(Duration::from_millis(15)));
        assert_eq!(percentile(&five, 30.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&five, 40.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&five, 50.0), Some(Duration::from_millis(35)));
        assert_eq!(percentile(&five, 99.0), Some(Duration::from_millis(50)));

        // With 1000 values p99 is the 990th, so the ten slowest do not move it.
        let mut thousand = ms(1..=990);
        thousand.extend(ms([10_000; 10]));
        assert_eq!(
            percentile(&thousand, 99.0),
            Some(Duration::from_millis(990))
        );

        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&ms([7]), 99.0), Some(Duration::from_millis(7)));
    }

    #[test]
    fn summary_of_merged_workers() {
        let mut a = Recorded {
            latencies: ms([30, 10]),
            ok: 2,
            statuses: BTreeMap::from([(200, 2)]),
            ..Recorded::default()
        };
        let b = Recorded {
            latencies: ms([20, 40]),
            ok: 1,
            errors: 1,
            statuses: BTreeMap::from([(200, 1), (500, 1)]),
            first_failure: Some("500".into()),
            ..Recorded::default()
        };
        a.merge(b);
        let summary = a.summarise(Duration::from_secs(2));
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.ok, 3);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.statuses, BTreeMap::from([(200, 3), (500, 1)]));
        assert_eq!(summary.throughput, 2.0);
        assert_eq!(summary.p50_ms, Some(20.0));
        assert_eq!(summary.p99_ms, Some(40.0));
        assert_eq!(summary.max_ms, Some(40.0));
        assert!(!summary.stopped_by_time_limit);
    }
}
