//! When to sync, decided by a pure function: the configured schedule, what happened so far
//! and the current time (passed in) give the jobs due now and when to look again.
//!
//! * Upload once a day at a local time (default 02:00), and at once when the outbox backlog
//!   reaches its threshold. A missed slot (the station was off, or head office did not
//!   answer) is caught up as soon as the station runs: the rule is "the last successful
//!   upload is older than the latest slot", so no special start-up case is needed.
//! * Pull the manifest and rate card every `pull_every` (default 5 minutes) while head
//!   office answers; after failures, less often (doubling, up to an hour).
//! * A failed upload is retried with exponential backoff and jitter.

use std::time::Duration;

use jiff::civil::Time;
use jiff::{Timestamp, ZonedDateTime};

/// The configured schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Local time of the daily upload.
    pub upload_at: Time,
    /// Upload at once when this many records wait (0: never by backlog).
    pub upload_backlog: u64,
    /// Manifest and rate card pull interval while head office answers.
    pub pull_every: Duration,
    /// First retry delay after a failure; doubles per failure.
    pub retry_first: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            upload_at: Time::constant(2, 0, 0, 0),
            upload_backlog: 10_000,
            pull_every: Duration::from_secs(300),
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
        }
    }
}

/// What happened so far (the daemon keeps it; `last_upload_ok` is also in the store, so a
/// restarted station knows whether it missed a night).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// When an upload last emptied the outbox.
    pub last_upload_ok: Option<Timestamp>,
    /// When the last upload attempt ended, and how many failed in a row.
    pub last_upload_attempt: Option<Timestamp>,
    pub upload_failures: u32,
    /// When the last pull ended, and how many failed in a row.
    pub last_pull_attempt: Option<Timestamp>,
    pub pull_failures: u32,
}

/// Why an upload is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadWhy {
    /// The daily slot at this instant has not been served yet.
    Scheduled { slot: Timestamp },
    /// A slot more than a day old was missed (station off, head office away): catch up.
    MissedSlot { slot: Timestamp },
    /// The backlog reached the threshold.
    Backlog { waiting: u64 },
}

/// The jobs due now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    pub upload: Option<UploadWhy>,
    pub pull: bool,
}

/// Exponential backoff with "equal jitter": the `attempt`-th retry (1-based) waits half of
/// `min(max, first × 2^(attempt-1))` plus up to the other half, by `jitter` in [0, 1).
pub fn backoff(attempt: u32, first: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = first
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(30))
        .min(max);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(t.as_millisecond().saturating_add(ms)).unwrap_or(Timestamp::MAX)
}

impl Schedule {
    /// The latest daily slot at or before `now`, in `now`'s time zone.
    pub fn last_slot(&self, now: &ZonedDateTime) -> Timestamp {
        let today = now
            .with()
            .time(self.upload_at)
            .build()
            .map(|z| z.timestamp());
        match today {
            Ok(t) if t <= now.timestamp() => t,
            _ => now
                .yesterday()
                .and_then(|y| y.with().time(self.upload_at).build())
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MIN),
        }
    }

    /// The first daily slot after `now`.
    pub fn next_slot(&self, now: &ZonedDateTime) -> Timestamp {
        let today = now
            .with()
            .time(self.upload_at)
            .build()
            .map(|z| z.timestamp());
        match today {
            Ok(t) if t > now.timestamp() => t,
            _ => now
                .tomorrow()
                .and_then(|y| y.with().time(self.upload_at).build())
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MAX),
        }
    }

    fn pull_interval(&self, h: &History) -> Duration {
        if h.pull_failures == 0 {
            self.pull_every
        } else {
            let cap = self.pull_every.max(Duration::from_secs(3600));
            backoff(h.pull_failures + 1, self.pull_every, cap, 1.0)
        }
    }

    /// Upload retries after a failure wait; `jitter` in [0, 1) spreads stations apart.
    fn upload_retry_at(&self, h: &History, jitter: f64) -> Option<Timestamp> {
        match (h.upload_failures, h.last_upload_attempt) {
            (0, _) | (_, None) => None,
            (n, Some(at)) => Some(after(
                at,
                backoff(n, self.retry_first, self.retry_max, jitter),
            )),
        }
    }

    /// The jobs due at `now` with `backlog` records waiting.
    pub fn due(&self, h: &History, now: &ZonedDateTime, backlog: u64, jitter: f64) -> Due {
        let t = now.timestamp();
        let waiting_to_retry = self.upload_retry_at(h, jitter).is_some_and(|r| t < r);
        let slot = self.last_slot(now);
        let upload = if waiting_to_retry {
            None
        } else if h.last_upload_ok.is_none_or(|ok| ok < slot) {
            let missed = h
                .last_upload_ok
                .is_some_and(|ok| slot.as_millisecond() - ok.as_millisecond() > 86_400_000);
            Some(if missed {
                UploadWhy::MissedSlot { slot }
            } else {
                UploadWhy::Scheduled { slot }
            })
        } else if self.upload_backlog > 0 && backlog >= self.upload_backlog {
            Some(UploadWhy::Backlog { waiting: backlog })
        } else {
            None
        };
        let pull = h
            .last_pull_attempt
            .is_none_or(|last| t >= after(last, self.pull_interval(h)));
        Due { upload, pull }
    }

    /// When to look again if nothing else happens (a new scan may wake the daemon earlier to
    /// check the backlog). Never before `now`.
    pub fn next_wake(
        &self,
        h: &History,
        now: &ZonedDateTime,
        backlog: u64,
        jitter: f64,
    ) -> Timestamp {
        let t = now.timestamp();
        let due = self.due(h, now, backlog, jitter);
        if due.upload.is_some() || due.pull {
            return t;
        }
        let mut wake = self.next_slot(now);
        if let Some(retry) = self.upload_retry_at(h, jitter) {
            let slot_pending = h.last_upload_ok.is_none_or(|ok| ok < self.last_slot(now));
            let backlog_pending = self.upload_backlog > 0 && backlog >= self.upload_backlog;
            if slot_pending || backlog_pending {
                wake = wake.min(retry);
            }
        }
        if let Some(last) = h.last_pull_attempt {
            wake = wake.min(after(last, self.pull_interval(h)));
        }
        wake.max(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> ZonedDateTime {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        at(s).timestamp()
    }

    const TZ: &str = "[Asia/Hong_Kong]";

    fn hk(local: &str) -> ZonedDateTime {
        format!("{local}+08:00{TZ}").parse().unwrap()
    }

    #[test]
    fn the_daily_slot_is_local_time() {
        let s = Schedule::default();
        assert_eq!(
            s.last_slot(&hk("2026-11-26T01:59:59")),
            ts("2026-11-25T02:00:00+08:00[Asia/Hong_Kong]")
        );
        assert_eq!(
            s.last_slot(&hk("2026-11-26T02:00:00")),
            ts("2026-11-26T02:00:00+08:00[Asia/Hong_Kong]")
        );
        assert_eq!(
            s.next_slot(&hk("2026-11-26T02:00:00")),
            ts("2026-11-27T02:00:00+08:00[Asia/Hong_Kong]")
        );
        assert_eq!(
            s.next_slot(&hk("2026-11-26T01:00:00")),
            ts("2026-11-26T02:00:00+08:00[Asia/Hong_Kong]")
        );
    }

    #[test]
    fn a_slot_in_a_dst_gap_still_happens() {
        // 2026-03-08 02:00 does not exist in New York; jiff moves it forward an hour.
        let s = Schedule::default();
        let now = at("2026-03-08T05:00:00-04:00[America/New_York]");
        assert_eq!(
            s.last_slot(&now),
            ts("2026-03-08T03:00:00-04:00[America/New_York]")
        );
    }

    #[test]
    fn upload_at_the_slot_then_not_again_until_the_next() {
        let s = Schedule::default();
        let mut h = History {
            last_upload_ok: Some(ts("2026-11-25T02:00:05+08:00[Asia/Hong_Kong]")),
            last_pull_attempt: Some(ts("2026-11-26T01:59:00+08:00[Asia/Hong_Kong]")),
            ..History::default()
        };
        let before = hk("2026-11-26T01:59:30");
        assert_eq!(s.due(&h, &before, 5, 0.0).upload, None);
        assert_eq!(
            s.next_wake(&h, &before, 5, 0.0),
            ts("2026-11-26T02:00:00+08:00[Asia/Hong_Kong]")
        );
        let slot_time = hk("2026-11-26T02:00:00");
        assert_eq!(
            s.due(&h, &slot_time, 0, 0.0).upload,
            Some(UploadWhy::Scheduled {
                slot: slot_time.timestamp()
            }),
            "the slot is served even with an empty outbox, so it is not retried all day"
        );
        h.last_upload_ok = Some(ts("2026-11-26T02:00:03+08:00[Asia/Hong_Kong]"));
        assert_eq!(s.due(&h, &hk("2026-11-26T13:00:00"), 5, 0.0).upload, None);
    }

    #[test]
    fn a_missed_night_is_caught_up_at_start() {
        let s = Schedule::default();
        let h = History {
            last_upload_ok: Some(ts("2026-11-23T02:00:05+08:00[Asia/Hong_Kong]")),
            ..History::default()
        };
        let start = hk("2026-11-26T09:00:00");
        let due = s.due(&h, &start, 3, 0.0);
        assert_eq!(
            due.upload,
            Some(UploadWhy::MissedSlot {
                slot: ts("2026-11-26T02:00:00+08:00[Asia/Hong_Kong]")
            })
        );
        assert!(due.pull, "a station that never pulled pulls at once");
        let fresh = s.due(&History::default(), &start, 0, 0.0);
        assert!(
            matches!(fresh.upload, Some(UploadWhy::Scheduled { .. })),
            "{fresh:?}"
        );
    }

    #[test]
    fn a_backlog_uploads_between_slots() {
        let s = Schedule {
            upload_backlog: 100,
            ..Schedule::default()
        };
        let h = History {
            last_upload_ok: Some(ts("2026-11-26T02:00:05+08:00[Asia/Hong_Kong]")),
            last_pull_attempt: Some(ts("2026-11-26T11:59:00+08:00[Asia/Hong_Kong]")),
            ..History::default()
        };
        let noon = hk("2026-11-26T12:00:00");
        assert_eq!(s.due(&h, &noon, 99, 0.0).upload, None);
        assert_eq!(
            s.due(&h, &noon, 100, 0.0).upload,
            Some(UploadWhy::Backlog { waiting: 100 })
        );
        let off = Schedule {
            upload_backlog: 0,
            ..s
        };
        assert_eq!(off.due(&h, &noon, 1_000_000, 0.0).upload, None);
    }

    #[test]
    fn failed_uploads_back_off_with_jitter() {
        let s = Schedule {
            retry_first: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..Schedule::default()
        };
        let failed_at = ts("2026-11-26T02:00:10+08:00[Asia/Hong_Kong]");
        let h = History {
            last_upload_ok: Some(ts("2026-11-25T02:00:05+08:00[Asia/Hong_Kong]")),
            last_upload_attempt: Some(failed_at),
            upload_failures: 3,
            last_pull_attempt: Some(failed_at),
            ..History::default()
        };
        // Third failure: 2 s × 2² = 8 s; equal jitter waits 4..8 s.
        assert_eq!(s.due(&h, &hk("2026-11-26T02:00:13"), 0, 0.0).upload, None);
        assert!(
            s.due(&h, &hk("2026-11-26T02:00:14"), 0, 0.0)
                .upload
                .is_some()
        );
        assert_eq!(s.due(&h, &hk("2026-11-26T02:00:17"), 0, 0.99).upload, None);
        assert_eq!(
            s.next_wake(&h, &hk("2026-11-26T02:00:11"), 0, 0.5),
            ts("2026-11-26T02:00:16+08:00[Asia/Hong_Kong]")
        );
    }

    #[test]
    fn backoff_grows_then_caps() {
        let f = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(1, f, m, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(1, f, m, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(3, f, m, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(10, f, m, 1.0), m);
        assert_eq!(backoff(u32::MAX, f, m, 0.0), m / 2);
        for j in [0.0, 0.3, 0.99] {
            let d = backoff(4, f, m, j);
            assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
        }
    }

    #[test]
    fn pulls_every_interval_while_head_office_answers_and_less_often_when_not() {
        let s = Schedule::default();
        let last = ts("2026-11-26T12:00:00+08:00[Asia/Hong_Kong]");
        let ok = History {
            last_upload_ok: Some(last),
            last_pull_attempt: Some(last),
            ..History::default()
        };
        assert!(!s.due(&ok, &hk("2026-11-26T12:04:59"), 0, 0.0).pull);
        assert!(s.due(&ok, &hk("2026-11-26T12:05:00"), 0, 0.0).pull);
        assert_eq!(
            s.next_wake(&ok, &hk("2026-11-26T12:01:00"), 0, 0.0),
            ts("2026-11-26T12:05:00+08:00[Asia/Hong_Kong]")
        );
        let failing = History {
            pull_failures: 2,
            ..ok
        };
        assert!(!s.due(&failing, &hk("2026-11-26T12:19:59"), 0, 0.0).pull);
        assert!(s.due(&failing, &hk("2026-11-26T12:20:00"), 0, 0.0).pull);
        let long = History {
            pull_failures: 30,
            ..ok
        };
        assert!(s.due(&long, &hk("2026-11-26T13:00:00"), 0, 0.0).pull);
    }
}
