//! `/metrics` in the Prometheus text exposition format (version 0.0.4). Counters live in
//! [`Metrics`], updated by the daemon's hooks; gauges are read when scraped. Names follow
//! `<noun>_<unit>_total`, with few label values (dispositions, devices, failure kinds).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::rules::Disposition;

/// The cycle-time histogram's upper bounds, in seconds.
pub const CYCLE_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0];

const DISPOSITIONS: [Disposition; 5] = [
    Disposition::Accept,
    Disposition::AcceptRepriced,
    Disposition::Hold,
    Disposition::Manual,
    Disposition::ReturnToSender,
];

/// Why a label gave no waybill.
pub const DECODE_FAILURE_KINDS: [&str; 3] = ["no_read", "ambiguous", "camera_error"];

/// A cumulative histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound of [`CYCLE_BUCKETS`] (not cumulative here).
    counts: [u64; CYCLE_BUCKETS.len()],
    over: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        self.sum += s;
        match CYCLE_BUCKETS.iter().position(|b| s <= *b) {
            Some(i) => self.counts[i] += 1,
            None => self.over += 1,
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }
}

/// Counters since the daemon started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub scans: BTreeMap<Disposition, u64>,
    pub decode_failures: BTreeMap<&'static str, u64>,
    pub cycle: Histogram,
    /// Times a device came back after a fault, by device name.
    pub reconnects: BTreeMap<String, u64>,
    pub resolutions: u64,
    /// The dashboard's guard and connection counters (filled by the web server).
    pub web: WebSecurity,
}

/// The dashboard's guard and connection counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebSecurity {
    /// Wrong PINs or tokens presented.
    pub pin_failures: u64,
    /// Clients locked out after a run of wrong PINs.
    pub lockouts: u64,
    /// Connections answered 503 because every connection was busy.
    pub connections_refused: u64,
    /// Quiet connections closed to make room for a new one.
    pub connections_evicted: u64,
}

/// Values read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub outbox_records: Option<u64>,
    /// Seconds since head office last acknowledged an upload; `None` before the first one.
    pub sync_age_seconds: Option<f64>,
    pub devices_up: BTreeMap<String, bool>,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
    pub ready: bool,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A sample value as Prometheus writes floats.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition (pure).
pub fn render(m: &Metrics, g: &Gauges) -> String {
    let mut o = String::with_capacity(4096);
    family(
        &mut o,
        "intake_scans_total",
        "counter",
        "Scans stored since the daemon started, by disposition.",
    );
    for d in DISPOSITIONS {
        let n = m.scans.get(&d).copied().unwrap_or(0);
        let _ = writeln!(o, "intake_scans_total{{disposition=\"{d}\"}} {n}");
    }
    family(
        &mut o,
        "intake_decode_failures_total",
        "counter",
        "Labels that gave no waybill: no barcode read, two different waybills, or a camera error.",
    );
    for k in DECODE_FAILURE_KINDS {
        let n = m.decode_failures.get(k).copied().unwrap_or(0);
        let _ = writeln!(o, "intake_decode_failures_total{{kind=\"{k}\"}} {n}");
    }
    family(
        &mut o,
        "intake_cycle_seconds",
        "histogram",
        "From a parcel detected on the scale to its scan stored.",
    );
    let mut cumulative = 0;
    for (b, n) in CYCLE_BUCKETS.iter().zip(m.cycle.counts) {
        cumulative += n;
        let _ = writeln!(
            o,
            "intake_cycle_seconds_bucket{{le=\"{}\"}} {cumulative}",
            num(*b)
        );
    }
    let _ = writeln!(
        o,
        "intake_cycle_seconds_bucket{{le=\"+Inf\"}} {}",
        m.cycle.count()
    );
    let _ = writeln!(o, "intake_cycle_seconds_sum {}", num(m.cycle.sum));
    let _ = writeln!(o, "intake_cycle_seconds_count {}", m.cycle.count());
    family(
        &mut o,
        "intake_resolutions_total",
        "counter",
        "Operator resolutions recorded through the dashboard or API.",
    );
    let _ = writeln!(o, "intake_resolutions_total {}", m.resolutions);
    family(
        &mut o,
        "intake_device_reconnects_total",
        "counter",
        "Times a device answered again after a fault.",
    );
    let mut devices: Vec<&String> = g.devices_up.keys().chain(m.reconnects.keys()).collect();
    devices.sort();
    devices.dedup();
    for d in &devices {
        let n = m.reconnects.get(*d).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "intake_device_reconnects_total{{device=\"{}\"}} {n}",
            label(d)
        );
    }
    family(
        &mut o,
        "intake_device_up",
        "gauge",
        "1 when the device works, 0 while it is in fault.",
    );
    for (d, up) in &g.devices_up {
        let _ = writeln!(
            o,
            "intake_device_up{{device=\"{}\"}} {}",
            label(d),
            u8::from(*up)
        );
    }
    if let Some(n) = g.outbox_records {
        family(
            &mut o,
            "intake_outbox_records",
            "gauge",
            "Records stored but not yet acknowledged by head office.",
        );
        let _ = writeln!(o, "intake_outbox_records {n}");
    }
    if let Some(age) = g.sync_age_seconds {
        family(
            &mut o,
            "intake_sync_age_seconds",
            "gauge",
            "Seconds since head office last acknowledged an upload.",
        );
        let _ = writeln!(o, "intake_sync_age_seconds {}", num(age));
    }
    family(
        &mut o,
        "intake_evidence_files",
        "gauge",
        "Evidence images kept.",
    );
    let _ = writeln!(o, "intake_evidence_files {}", g.evidence_files);
    family(
        &mut o,
        "intake_evidence_bytes",
        "gauge",
        "Bytes of evidence images kept.",
    );
    let _ = writeln!(o, "intake_evidence_bytes {}", g.evidence_bytes);
    family(
        &mut o,
        "intake_ready",
        "gauge",
        "1 when devices are ready and the store is writable (as /readyz).",
    );
    let _ = writeln!(o, "intake_ready {}", u8::from(g.ready));
    for (name, help, n) in [
        (
            "intake_web_pin_failures_total",
            "Wrong dashboard PINs or tokens presented.",
            m.web.pin_failures,
        ),
        (
            "intake_web_lockouts_total",
            "Dashboard clients locked out after a run of wrong PINs.",
            m.web.lockouts,
        ),
        (
            "intake_web_connections_refused_total",
            "Dashboard connections answered 503 because every connection was busy.",
            m.web.connections_refused,
        ),
        (
            "intake_web_connections_evicted_total",
            "Quiet dashboard connections closed to make room for a new one.",
            m.web.connections_evicted,
        ),
    ] {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name} {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut m = Metrics::default();
        for ms in [100, 250, 900, 2_500, 60_000] {
            m.cycle.observe(Duration::from_millis(ms));
        }
        *m.scans.entry(Disposition::Accept).or_default() += 3;
        m.reconnects.insert("scale".into(), 2);
        let g = Gauges {
            devices_up: [("scale".to_owned(), true), ("cam\"era".to_owned(), false)].into(),
            outbox_records: Some(7),
            ..Gauges::default()
        };
        let text = render(&m, &g);
        let has = |l: &str| assert!(text.lines().any(|x| x == l), "{l} missing in\n{text}");
        has("intake_cycle_seconds_bucket{le=\"0.25\"} 2");
        has("intake_cycle_seconds_bucket{le=\"1\"} 3");
        has("intake_cycle_seconds_bucket{le=\"3\"} 4");
        has("intake_cycle_seconds_bucket{le=\"30\"} 4");
        has("intake_cycle_seconds_bucket{le=\"+Inf\"} 5");
        has("intake_cycle_seconds_count 5");
        has("intake_cycle_seconds_sum 63.75");
        has("intake_scans_total{disposition=\"accept\"} 3");
        has("intake_scans_total{disposition=\"return_to_sender\"} 0");
        has("intake_device_reconnects_total{device=\"scale\"} 2");
        has("intake_device_up{device=\"cam\\\"era\"} 0");
        has("intake_outbox_records 7");
        assert!(!text.contains("intake_sync_age_seconds"), "no sync yet");
        assert!(text.ends_with('\n'));
    }
}
