//! The latency monitor behind LATENCY LATEST, HISTORY, RESET, DOCTOR and GRAPH: every event
//! (a command, an expiry cycle) that took at least `latency-monitor-threshold` milliseconds is
//! kept per event name as Redis keeps it, one sample per second (the highest), the last 160,
//! and the all-time maximum.

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event, as Redis's `LATENCY_TS_LEN`.
const KEPT: usize = 160;

/// One second's highest latency of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Unix time, seconds.
    pub time: i64,
    pub millis: u64,
}

#[derive(Default)]
struct Series {
    samples: VecDeque<Sample>,
    max: u64,
}

/// An event's latest sample and its all-time maximum (LATENCY LATEST).
pub struct Latest {
    pub event: String,
    pub sample: Sample,
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<String, Series>>,
}

impl LatencyMonitor {
    /// Records that `event` took `millis` at `time` (Unix seconds).
    pub fn record(&self, event: &str, time: i64, millis: u64) {
        let mut events = self.events.lock();
        let series = events.entry(event.to_string()).or_default();
        series.max = series.max.max(millis);
        match series.samples.back_mut() {
            Some(last) if last.time == time => last.millis = last.millis.max(millis),
            _ => {
                if series.samples.len() == KEPT {
                    series.samples.pop_front();
                }
                series.samples.push_back(Sample { time, millis });
            }
        }
    }

    pub fn latest(&self) -> Vec<Latest> {
        let events = self.events.lock();
        events
            .iter()
            .filter_map(|(event, series)| {
                Some(Latest {
                    event: event.clone(),
                    sample: *series.samples.back()?,
                    max: series.max,
                })
            })
            .collect()
    }

    /// An event's samples, oldest first; empty for an event never seen.
    pub fn history(&self, event: &str) -> Vec<Sample> {
        let events = self.events.lock();
        events
            .get(event)
            .map(|series| series.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets the events named (every event when none is), returning how many it forgot.
    pub fn reset(&self, named: &[String]) -> usize {
        let mut events = self.events.lock();
        if named.is_empty() {
            let count = events.len();
            events.clear();
            return count;
        }
        named
            .iter()
            .filter(|event| events.remove(event.as_str()).is_some())
            .count()
    }

    /// LATENCY DOCTOR's report: each event's samples summed up, and what to look at.
    pub fn doctor(&self) -> String {
        let events = self.events.lock();
        if events.is_empty() {
            return "I have no latency reports to show you: no event reached the \
                    latency-monitor-threshold since the monitor started or was reset. \
                    (Set the threshold with CONFIG SET latency-monitor-threshold <ms>: \
                    0 leaves the monitor off.)\n"
                .to_string();
        }
        let mut report = String::from("Latency spikes were observed for these events:\n\n");
        for (index, (event, series)) in events.iter().enumerate() {
            let count = series.samples.len() as u64;
            let sum: u64 = series.samples.iter().map(|s| s.millis).sum();
            let first = series.samples.front().map_or(0, |s| s.time);
            report.push_str(&format!(
                "{}. {event}: {count} latency spikes (average {}ms, max {}ms) since {first} \
                 (Unix time); all-time max {}ms.\n",
                index + 1,
                sum / count.max(1),
                series.samples.iter().map(|s| s.millis).max().unwrap_or(0),
                series.max,
            ));
        }
        report.push_str(
            "\nFor `command` events, SLOWLOG GET shows which commands were slow; for \
             `expire-cycle`, look for big keys expiring at once.\n",
        );
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_highest_and_at_most_160() {
        let monitor = LatencyMonitor::default();
        monitor.record("command", 100, 5);
        monitor.record("command", 100, 9);
        monitor.record("command", 100, 7);
        monitor.record("command", 101, 3);
        let history = monitor.history("command");
        assert_eq!(
            history,
            [
                Sample {
                    time: 100,
                    millis: 9
                },
                Sample {
                    time: 101,
                    millis: 3
                }
            ]
        );
        let latest = monitor.latest();
        assert_eq!((latest[0].sample.millis, latest[0].max), (3, 9));
        for second in 0..500 {
            monitor.record("command", 1_000 + second, 1);
        }
        assert_eq!(monitor.history("command").len(), KEPT);
        assert_eq!(monitor.reset(&["nosuch".to_string()]), 0);
        assert_eq!(monitor.reset(&[]), 1);
        assert!(monitor.latest().is_empty());
    }
}
