//! `/metrics` in the OpenMetrics text format, through `prometheus-client`. Counters and
//! histograms live for the daemon's life (fixed size whatever it runs); gauges are read when
//! scraped. Names follow `<noun>_<unit>_total`, with few label values (dispositions,
//! devices, failure kinds).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use intake_hal::scale::{Note, NoteCounts};

use crate::daemon::Durations;
use crate::rules::Disposition;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The cycle-time histogram's upper bounds, in seconds.
pub const CYCLE_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0];
/// The verdict-latency histogram's upper bounds, in seconds (the target is 50 ms).
pub const VERDICT_BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

const DISPOSITIONS: [Disposition; 5] = [
    Disposition::Accept,
    Disposition::AcceptRepriced,
    Disposition::Hold,
    Disposition::Manual,
    Disposition::ReturnToSender,
];

/// Why a label gave no waybill.
pub const DECODE_FAILURE_KINDS: [&str; 3] = ["no_read", "ambiguous", "camera_error"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DispositionLabel {
    disposition: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    device: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabel {
    quantile: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

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
    /// The dashboard's guard and connection counters (kept by the web server).
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

/// The daemon's metrics since it started.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    scans: Family<DispositionLabel, Counter>,
    decode_failures: Family<KindLabel, Counter>,
    cycle: Histogram,
    verdict: Histogram,
    verdict_quantiles: Family<QuantileLabel, FloatGauge>,
    /// Exact quantiles of the verdict latency (fixed size).
    verdict_hdr: Mutex<Durations>,
    resolutions: Counter,
    reconnects: Family<DeviceLabel, Counter>,
    /// The serial scale's frames with notes (fields that differ from the manual), by kind.
    scale_notes: Mutex<Option<NoteCounts>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn new_histogram(buckets: &[f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            scans: Family::default(),
            decode_failures: Family::default(),
            cycle: new_histogram(&CYCLE_BUCKETS),
            verdict: new_histogram(&VERDICT_BUCKETS),
            verdict_quantiles: Family::default(),
            verdict_hdr: Mutex::new(Durations::default()),
            resolutions: Counter::default(),
            reconnects: Family::default(),
            scale_notes: Mutex::new(None),
            registry: Registry::default(),
        };
        // Every label value shows from the start (a zero is an answer; a gap is not).
        for d in DISPOSITIONS {
            let _ = m.scans.get_or_create(&DispositionLabel {
                disposition: d.as_str().to_owned(),
            });
        }
        for k in DECODE_FAILURE_KINDS {
            let _ = m
                .decode_failures
                .get_or_create(&KindLabel { kind: k.into() });
        }
        registry.register(
            "intake_scans",
            "Scans stored since the daemon started, by disposition",
            m.scans.clone(),
        );
        registry.register(
            "intake_decode_failures",
            "Labels that gave no waybill: no barcode read, two different waybills, or a camera error",
            m.decode_failures.clone(),
        );
        registry.register(
            "intake_cycle_seconds",
            "From a parcel detected on the scale to its scan stored",
            m.cycle.clone(),
        );
        registry.register(
            "intake_verdict_seconds",
            "From the stable weight to the verdict committed and shown",
            m.verdict.clone(),
        );
        registry.register(
            "intake_verdict_ms",
            "The verdict latency's median and 99th percentile, in milliseconds",
            m.verdict_quantiles.clone(),
        );
        registry.register(
            "intake_resolutions",
            "Resolutions recorded: an operator's, or the station judging again",
            m.resolutions.clone(),
        );
        registry.register(
            "intake_device_reconnects",
            "Times a device answered again after a fault",
            m.reconnects.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn scan(&self, d: Disposition) {
        self.scans
            .get_or_create(&DispositionLabel {
                disposition: d.as_str().to_owned(),
            })
            .inc();
    }

    pub fn decode_failure(&self, kind: &str) {
        self.decode_failures
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    pub fn resolution(&self) {
        self.resolutions.inc();
    }

    pub fn reconnect(&self, device: &str) {
        self.reconnects
            .get_or_create(&DeviceLabel {
                device: device.into(),
            })
            .inc();
    }

    /// Reports the serial scale's note counts from now on.
    pub fn watch_scale_notes(&self, counts: NoteCounts) {
        *self.scale_notes.lock().unwrap_or_else(|e| e.into_inner()) = Some(counts);
    }

    pub fn cycle(&self, d: Duration) {
        self.cycle.observe(d.as_secs_f64());
    }

    pub fn verdict(&self, d: Duration) {
        self.verdict.observe(d.as_secs_f64());
        let mut h = self.verdict_hdr.lock().unwrap_or_else(|e| e.into_inner());
        h.record(d);
        for (label, q) in [("0.5", 0.5), ("0.99", 0.99)] {
            if let Some(ms) = h.quantile_ms(q) {
                self.verdict_quantiles
                    .get_or_create(&QuantileLabel {
                        quantile: label.into(),
                    })
                    .set(ms);
            }
        }
    }

    /// Scans stored since start, by disposition (for the dashboard's status).
    pub fn scans_total(&self) -> u64 {
        DISPOSITIONS
            .iter()
            .map(|d| {
                self.scans
                    .get_or_create(&DispositionLabel {
                        disposition: d.as_str().to_owned(),
                    })
                    .get()
            })
            .sum()
    }

    /// Times `device` came back after a fault.
    pub fn reconnects_of(&self, device: &str) -> u64 {
        self.reconnects
            .get_or_create(&DeviceLabel {
                device: device.into(),
            })
            .get()
    }

    /// Labels that gave no waybill, of one kind.
    pub fn decode_failures_of(&self, kind: &str) -> u64 {
        self.decode_failures
            .get_or_create(&KindLabel { kind: kind.into() })
            .get()
    }

    /// The whole exposition: the long-lived metrics, then the gauges of this scrape.
    pub fn render(&self, g: &Gauges) -> String {
        let mut gauges = Registry::default();
        let up: Family<DeviceLabel, Gauge> = Family::default();
        for (d, ok) in &g.devices_up {
            up.get_or_create(&DeviceLabel { device: d.clone() })
                .set(i64::from(*ok));
            // A device that never failed still shows its zero reconnects.
            let _ = self
                .reconnects
                .get_or_create(&DeviceLabel { device: d.clone() });
        }
        gauges.register(
            "intake_device_up",
            "1 when the device works, 0 while it is in fault",
            up,
        );
        let int = |v: u64| {
            let g: Gauge = Gauge::default();
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
            g
        };
        if let Some(n) = g.outbox_records {
            gauges.register(
                "intake_outbox_records",
                "Records stored but not yet acknowledged by head office",
                int(n),
            );
        }
        if let Some(age) = g.sync_age_seconds {
            let a: FloatGauge = Gauge::default();
            a.set(age);
            gauges.register(
                "intake_sync_age_seconds",
                "Seconds since head office last acknowledged an upload",
                a,
            );
        }
        gauges.register(
            "intake_evidence_files",
            "Evidence images kept",
            int(g.evidence_files),
        );
        gauges.register(
            "intake_evidence_bytes",
            "Bytes of evidence images kept",
            int(g.evidence_bytes),
        );
        gauges.register(
            "intake_ready",
            "1 when devices are ready and the store is writable (as /readyz)",
            int(u64::from(g.ready)),
        );
        for (name, help, n) in [
            (
                "intake_web_pin_failures",
                "Wrong dashboard PINs or tokens presented",
                g.web.pin_failures,
            ),
            (
                "intake_web_lockouts",
                "Dashboard clients locked out after a run of wrong PINs",
                g.web.lockouts,
            ),
            (
                "intake_web_connections_refused",
                "Dashboard connections answered 503 because every connection was busy",
                g.web.connections_refused,
            ),
            (
                "intake_web_connections_evicted",
                "Quiet dashboard connections closed to make room for a new one",
                g.web.connections_evicted,
            ),
        ] {
            gauges.register(name, help, ConstCounter::new(n));
        }
        // Every kind shows, zero until a frame carries it. Counted by the serial driver;
        // copied into a family of this scrape.
        let notes: Family<KindLabel, Counter> = Family::default();
        let counts = self
            .scale_notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(NoteCounts::snapshot)
            .unwrap_or_else(|| Note::KINDS.iter().map(|k| (*k, 0)).collect());
        for (kind, n) in counts {
            notes
                .get_or_create(&KindLabel { kind: kind.into() })
                .inc_by(n);
        }
        gauges.register(
            "intake_scale_notes",
            "Scale frames that decoded with a note (a status bit or field that differs from the manual), by kind",
            notes,
        );
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &gauges);
        let _ = encode_eof(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let m = Metrics::new();
        for ms in [100, 250, 900, 2_500, 60_000] {
            m.cycle(Duration::from_millis(ms));
        }
        for _ in 0..3 {
            m.scan(Disposition::Accept);
        }
        m.reconnect("scale");
        m.reconnect("scale");
        for ms in 1..=100 {
            m.verdict(Duration::from_millis(ms));
        }
        let g = Gauges {
            devices_up: [("scale".to_owned(), true), ("cam\"era".to_owned(), false)].into(),
            outbox_records: Some(7),
            ..Gauges::default()
        };
        let text = m.render(&g);
        let has = |l: &str| assert!(text.lines().any(|x| x == l), "{l} missing in\n{text}");
        has("# TYPE intake_cycle_seconds histogram");
        has("intake_cycle_seconds_bucket{le=\"0.25\"} 2");
        has("intake_cycle_seconds_bucket{le=\"1.0\"} 3");
        has("intake_cycle_seconds_bucket{le=\"3.0\"} 4");
        has("intake_cycle_seconds_bucket{le=\"30.0\"} 4");
        has("intake_cycle_seconds_bucket{le=\"+Inf\"} 5");
        has("intake_cycle_seconds_count 5");
        has("intake_cycle_seconds_sum 63.75");
        has("# TYPE intake_scans counter");
        has("intake_scans_total{disposition=\"accept\"} 3");
        has("intake_scans_total{disposition=\"return_to_sender\"} 0");
        has("intake_device_reconnects_total{device=\"scale\"} 2");
        has("intake_device_up{device=\"cam\\\"era\"} 0");
        has("intake_outbox_records 7");
        let gauge = |series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
        };
        assert!((gauge("intake_verdict_ms{quantile=\"0.5\"}") - 50.0).abs() < 0.1);
        assert!((gauge("intake_verdict_ms{quantile=\"0.99\"}") - 99.0).abs() < 0.1);
        assert!(!text.contains("intake_sync_age_seconds"), "no sync yet");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(m.scans_total(), 3);
        has("intake_scale_notes_total{kind=\"status_bit_differs\"} 0");
    }

    #[test]
    fn scale_notes_are_counted_by_kind() {
        use intake_hal::scale::Note;
        let m = Metrics::new();
        let counts = NoteCounts::default();
        m.watch_scale_notes(counts.clone());
        counts.add(&[Note::NoChecksum, Note::NoChecksum]);
        counts.add(&[Note::NoChecksum]);
        let text = m.render(&Gauges::default());
        let has = |l: &str| assert!(text.lines().any(|x| x == l), "{l} missing in\n{text}");
        has("# TYPE intake_scale_notes counter");
        has("intake_scale_notes_total{kind=\"no_checksum\"} 3");
        for k in Note::KINDS.iter().filter(|k| **k != "no_checksum") {
            has(&format!("intake_scale_notes_total{{kind=\"{k}\"}} 0"));
        }
    }
}
