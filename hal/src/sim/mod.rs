//! The simulated dock: a seeded parcel generator driven by the manifest, and a simulated
//! operator who puts each parcel on the station, waits for the light, and takes it off.
//!
//! What is on the platform is published on a `watch` channel; each simulated device (the
//! scale over a pseudo-terminal, the range finders, the camera) turns it into what a real
//! device would report, and the daemon reads those through the same drivers and decoders
//! as real hardware. Every parcel's exact ground truth is handed to a callback, so tests can
//! compare the stored verdicts with it.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::device::{Light, Signal};
use crate::quantity::{Dims, Length, Mass};

/// An order the generator may draw a parcel for (from the station's manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOrder {
    pub waybill: String,
    pub declared_weight: Option<Mass>,
    pub declared_dims: Option<Dims>,
}

/// What kind of parcel the generator made, so tests know what verdict to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimKind {
    /// As declared in its manifest entry.
    AsDeclared,
    /// Heavier than the carrier's weight limit.
    OverWeight,
    /// A side longer than the carrier's size limit.
    OverSize,
    /// The label is torn: no barcode can be read.
    TornLabel,
    /// A valid waybill that is not in the manifest.
    UnknownWaybill,
}

/// One simulated parcel with its exact ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimParcel {
    /// 1, 2, 3 … in the order the operator places them.
    pub seq: u64,
    pub kind: SimKind,
    /// The waybill printed on the label.
    pub waybill: String,
    /// Whether the label's barcode is printed whole (false: torn).
    pub barcode_readable: bool,
    pub weight: Mass,
    pub dims: Dims,
}

/// How the generator mixes parcels; shares are per thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub seed: u64,
    pub over_weight_permille: u32,
    pub over_size_permille: u32,
    pub torn_label_permille: u32,
    pub unknown_waybill_permille: u32,
    /// The carrier's limits, so "bad" parcels are clearly beyond them.
    pub max_weight: Mass,
    pub max_side: Length,
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            seed: 1,
            over_weight_permille: 60,
            over_size_permille: 60,
            torn_label_permille: 60,
            unknown_waybill_permille: 60,
            max_weight: Mass::from_lb(44),
            max_side: Length::from_inches(59),
        }
    }
}

/// Draws parcels: mostly manifest orders as declared, plus a configured share of bad ones.
#[derive(Debug)]
pub struct Generator {
    cfg: GeneratorConfig,
    rng: ChaCha8Rng,
    orders: Vec<SimOrder>,
    unknown: Vec<String>,
    seq: u64,
}

/// Why the generator cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeneratorError {
    #[error(
        "the simulated dock needs manifest orders with a declared weight and size; import a manifest (intake manifest import) or set [manifest] preload"
    )]
    NoOrders,
}

impl Generator {
    /// `orders` without declared weight and dimensions are skipped; `unknown` are valid
    /// waybills known not to be in the manifest (the daemon makes them).
    pub fn new(
        cfg: GeneratorConfig,
        orders: Vec<SimOrder>,
        unknown: Vec<String>,
    ) -> Result<Generator, GeneratorError> {
        let orders: Vec<SimOrder> = orders
            .into_iter()
            .filter(|o| o.declared_weight.is_some() && o.declared_dims.is_some())
            .collect();
        if orders.is_empty() {
            return Err(GeneratorError::NoOrders);
        }
        Ok(Generator {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            orders,
            unknown,
            seq: 0,
        })
    }

    fn pick_kind(&mut self) -> SimKind {
        let c = &self.cfg;
        let roll = self.rng.random_range(0..1000u32);
        let mut edge = c.over_weight_permille;
        if roll < edge {
            return SimKind::OverWeight;
        }
        edge += c.over_size_permille;
        if roll < edge {
            return SimKind::OverSize;
        }
        edge += c.torn_label_permille;
        if roll < edge {
            return SimKind::TornLabel;
        }
        edge += c.unknown_waybill_permille;
        if roll < edge && !self.unknown.is_empty() {
            return SimKind::UnknownWaybill;
        }
        SimKind::AsDeclared
    }

    /// The next parcel.
    pub fn next_parcel(&mut self) -> SimParcel {
        self.seq += 1;
        let kind = self.pick_kind();
        let order = self.orders[self.rng.random_range(0..self.orders.len())].clone();
        // Filtered in `new`: every order has both.
        let mut weight = order.declared_weight.unwrap_or(Mass::ZERO);
        let mut dims =
            order
                .declared_dims
                .unwrap_or(Dims::new(Length::ZERO, Length::ZERO, Length::ZERO));
        let mut waybill = order.waybill;
        let mut barcode_readable = true;
        match kind {
            SimKind::AsDeclared => {}
            SimKind::OverWeight => {
                // 2 to 25 lb over the limit, in whole hundredths of a pound.
                let extra = self.rng.random_range(200..2_500i64);
                weight =
                    Mass::from_micrograms(self.cfg.max_weight.micrograms() + extra * 4_535_924);
            }
            SimKind::OverSize => {
                let extra_in = self.rng.random_range(2..16i64);
                let long =
                    Length::from_micrometres(self.cfg.max_side.micrometres() + extra_in * 25_400);
                dims = Dims::new(long, dims.width, dims.height);
            }
            SimKind::TornLabel => barcode_readable = false,
            SimKind::UnknownWaybill => {
                waybill = self.unknown[self.rng.random_range(0..self.unknown.len())].clone();
            }
        }
        SimParcel {
            seq: self.seq,
            kind,
            waybill,
            barcode_readable,
            weight,
            dims,
        }
    }
}

/// How the simulated operator paces the dock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorConfig {
    /// Empty platform between two parcels.
    pub gap: Duration,
    /// From the verdict light to lifting the parcel.
    pub removal_delay: Duration,
    /// Lift the parcel anyway if no verdict shows for this long.
    pub patience: Duration,
    /// Stop after this many parcels (None: run until stopped).
    pub parcels: Option<u64>,
}

/// The simulated operator: places parcels, waits for the light, lifts them.
pub struct Operator {
    generator: Generator,
    cfg: OperatorConfig,
    platform: watch::Sender<Option<SimParcel>>,
    signals: mpsc::UnboundedReceiver<Signal>,
    truth: Box<dyn FnMut(&SimParcel) + Send>,
}

impl Operator {
    /// `platform` publishes what is on the station; `signals` are what the station shows;
    /// `truth` is called with each parcel as it is placed.
    pub fn new(
        generator: Generator,
        cfg: OperatorConfig,
        platform: watch::Sender<Option<SimParcel>>,
        signals: mpsc::UnboundedReceiver<Signal>,
        truth: Box<dyn FnMut(&SimParcel) + Send>,
    ) -> Operator {
        Operator {
            generator,
            cfg,
            platform,
            signals,
            truth,
        }
    }

    /// Runs until `cfg.parcels` were handled or the signal channel closes.
    pub async fn run(mut self) {
        let mut placed = 0u64;
        // A parcel the station refused (its store failing): put on again later, once.
        let mut again: Option<SimParcel> = None;
        loop {
            if self.cfg.parcels.is_some_and(|n| placed >= n) {
                return;
            }
            tokio::time::sleep(self.cfg.gap).await;
            let parcel = match again.take() {
                Some(p) => p,
                None => {
                    let p = self.generator.next_parcel();
                    (self.truth)(&p);
                    p
                }
            };
            // Drain stale signals (the "ready" after the last removal).
            while self.signals.try_recv().is_ok() {}
            self.platform.send_replace(Some(parcel.clone()));
            let verdict = tokio::time::timeout(self.cfg.patience, async {
                loop {
                    match self.signals.recv().await {
                        Some(s) if s.light != Light::Off => return Some(s),
                        Some(_) => {}
                        None => return None,
                    }
                }
            })
            .await;
            match verdict {
                Ok(None) => return,
                Ok(Some(s)) if s.text.starts_with(crate::device::REFUSED_TEXT) => {
                    // Not taken: off the platform, and on again when the station is ready.
                    self.platform.send_replace(None);
                    again = Some(parcel);
                    tokio::time::sleep(self.cfg.patience.min(Duration::from_millis(500))).await;
                    continue;
                }
                _ => placed += 1,
            }
            tokio::time::sleep(self.cfg.removal_delay).await;
            self.platform.send_replace(None);
            // Wait for the station to see the platform empty (its light goes off) before
            // the next parcel, as an operator would; a parcel lifted early may never get
            // that, so not for long.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(s) = self.signals.recv().await {
                    if s.light == Light::Off {
                        return;
                    }
                }
            })
            .await;
        }
    }
}

/// A simulated indicator: hands every signal to the simulated operator.
#[derive(Debug)]
pub struct SimIndicator {
    tx: mpsc::UnboundedSender<Signal>,
}

impl SimIndicator {
    pub fn new(tx: mpsc::UnboundedSender<Signal>) -> SimIndicator {
        SimIndicator { tx }
    }
}

impl crate::device::Indicator for SimIndicator {
    fn name(&self) -> &str {
        "simulated light"
    }

    fn show(
        &mut self,
        signal: &Signal,
    ) -> crate::device::BoxFuture<'_, Result<(), crate::device::DeviceError>> {
        // The operator may have gone home (the run is ending): nothing to tell then.
        let _ = self.tx.send(signal.clone());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> Vec<SimOrder> {
        (0..10)
            .map(|i| SimOrder {
                waybill: format!("W{i}"),
                declared_weight: Some(Mass::from_lb(1 + i)),
                declared_dims: Some(Dims::new(
                    Length::from_inches(10),
                    Length::from_inches(8),
                    Length::from_inches(6),
                )),
            })
            .collect()
    }

    #[test]
    fn the_generator_is_seeded_and_mixes_every_kind() {
        let mk =
            || Generator::new(GeneratorConfig::default(), orders(), vec!["U1".into()]).unwrap();
        let (mut a, mut b) = (mk(), mk());
        let pa: Vec<SimParcel> = (0..500).map(|_| a.next_parcel()).collect();
        let pb: Vec<SimParcel> = (0..500).map(|_| b.next_parcel()).collect();
        assert_eq!(pa, pb, "same seed, same parcels");
        for kind in [
            SimKind::AsDeclared,
            SimKind::OverWeight,
            SimKind::OverSize,
            SimKind::TornLabel,
            SimKind::UnknownWaybill,
        ] {
            assert!(pa.iter().any(|p| p.kind == kind), "{kind:?}");
        }
        let limit = GeneratorConfig::default();
        for p in &pa {
            match p.kind {
                SimKind::OverWeight => assert!(p.weight > limit.max_weight),
                SimKind::OverSize => assert!(p.dims.longest() > limit.max_side),
                SimKind::TornLabel => assert!(!p.barcode_readable),
                SimKind::UnknownWaybill => assert_eq!(p.waybill, "U1"),
                SimKind::AsDeclared => {
                    assert!(p.weight <= limit.max_weight && p.waybill.starts_with('W'))
                }
            }
        }
        assert_eq!(pa.last().map(|p| p.seq), Some(500));
    }

    #[test]
    fn no_orders_no_dock() {
        let err = Generator::new(GeneratorConfig::default(), vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("manifest"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_operator_waits_for_the_light_before_lifting() {
        let g = Generator::new(GeneratorConfig::default(), orders(), vec![]).unwrap();
        let (ptx, mut prx) = watch::channel(None);
        let (stx, srx) = mpsc::unbounded_channel();
        let cfg = OperatorConfig {
            gap: Duration::from_millis(100),
            removal_delay: Duration::from_millis(300),
            patience: Duration::from_secs(60),
            parcels: Some(2),
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let op = Operator::new(
            g,
            cfg,
            ptx,
            srx,
            Box::new(move |p| s2.lock().unwrap().push(p.seq)),
        );
        let task = tokio::spawn(op.run());
        prx.changed().await.unwrap();
        assert!(prx.borrow_and_update().is_some());
        // Nothing but "ready" for a long while: the parcel stays.
        let ready = Signal {
            light: Light::Off,
            blink: false,
            beep: crate::device::Beep::None,
            text: "ready".into(),
        };
        stx.send(ready.clone()).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(prx.borrow().is_some());
        stx.send(Signal {
            light: Light::Green,
            ..ready.clone()
        })
        .unwrap();
        prx.changed().await.unwrap();
        assert!(prx.borrow_and_update().is_none(), "lifted after the light");
        prx.changed().await.unwrap();
        assert_eq!(prx.borrow_and_update().as_ref().map(|p| p.seq), Some(2));
        stx.send(Signal {
            light: Light::Red,
            ..ready
        })
        .unwrap();
        task.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }
}
