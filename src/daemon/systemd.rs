//! systemd's service notifications (`Type=notify`): readiness, the watchdog and status
//! lines, sent to `$NOTIFY_SOCKET`. Not under systemd (no socket named) every call does
//! nothing. A notification that cannot be sent is logged, never fatal: the station works on.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::{Interval, MissedTickBehavior};
use tracing::{debug, warn};

/// How often status lines go out when systemd asked for no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(30);

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// The store is open and the devices answered: systemd may start what depends on us.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A configuration reload began (systemd 253+ then waits for [`reloaded`]).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => debug!(error = %e, "no monotonic clock for RELOADING=1"),
    }
}

/// A reload ended (applied or refused): we are ready again, with this status line.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The station is stopping (after the parcel in progress).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A one-line status for `systemctl status`.
pub fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// The station loop's heartbeat: ticks at half of systemd's `WatchdogSec` (from
/// `$WATCHDOG_USEC`), so a loop that stalls stops pinging and systemd restarts the daemon.
/// Under systemd without a watchdog it ticks every 30 s for the status line only; outside
/// systemd it never ticks.
pub struct Heartbeat {
    interval: Option<Interval>,
    /// Whether a tick means WATCHDOG=1.
    pub watchdog: bool,
}

impl Heartbeat {
    pub fn from_env() -> Heartbeat {
        let (every, watchdog) = match sd_notify::watchdog_enabled() {
            Some(d) if !d.is_zero() => ((d / 2).max(Duration::from_millis(1)), true),
            _ if std::env::var_os("NOTIFY_SOCKET").is_some() => (STATUS_EVERY, false),
            _ => {
                return Heartbeat {
                    interval: None,
                    watchdog: false,
                };
            }
        };
        // The first tick is at once: the loop's first turn proves it runs.
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Heartbeat {
            interval: Some(interval),
            watchdog,
        }
    }

    /// Resolves at the next heartbeat.
    pub async fn tick(&mut self) {
        match &mut self.interval {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Sends WATCHDOG=1 when systemd watches.
    pub fn beat(&self) {
        if self.watchdog {
            send(&[NotifyState::Watchdog]);
        }
    }
}

/// The status line: what this run did and what waits for head office.
pub fn status_line(parcels: u64, outbox: Option<u64>, in_force: u64) -> String {
    let outbox = outbox.map_or("?".to_owned(), |n| n.to_string());
    format!("{parcels} parcel(s) this run; outbox {outbox} waiting; in force v{in_force}")
}
