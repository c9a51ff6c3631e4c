//! Operator I/O: stack light, buzzer and foot switch (GPIO), and the simulated indicator.
//!
//! What the outputs do over time is a pure function of the [`Signal`] and the time since it
//! was shown ([`Outputs::at`], [`next_change`]); [`StackLight`] only plays that on pins.
//! The foot switch's debouncing and press classification ([`Debouncer`]) take time as an
//! argument too; [`FootSwitch`] only samples the pin.

pub mod config;
pub mod pi;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_hal::digital::{InputPin, OutputPin};
use serde::{Deserialize, Serialize};

use crate::device::{Beep, BoxFuture, DeviceError, ErrorKind, Indicator, Light, Signal};

/// Whether an output (or input) is on when the line is high or low. Relay boards are often
/// active-low; a transistor driving a lamp is active-high. A switch to ground with a pull-up
/// reads active-low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    #[default]
    ActiveHigh,
    ActiveLow,
}

impl Polarity {
    /// The line level (`true` high) that means `on`.
    pub fn level(self, on: bool) -> bool {
        match self {
            Polarity::ActiveHigh => on,
            Polarity::ActiveLow => !on,
        }
    }
}

/// The state of every output at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outputs {
    pub green: bool,
    pub amber: bool,
    pub red: bool,
    pub buzzer: bool,
}

/// A blinking light is on for this long, then off for as long.
pub const BLINK_HALF_PERIOD: Duration = Duration::from_millis(500);

/// The buzzer's on-intervals `(from, to)` since the signal was shown.
pub fn beep_intervals(beep: Beep) -> &'static [(Duration, Duration)] {
    const SHORT: [(Duration, Duration); 1] = [(Duration::ZERO, Duration::from_millis(150))];
    const DOUBLE: [(Duration, Duration); 2] = [
        (Duration::ZERO, Duration::from_millis(120)),
        (Duration::from_millis(240), Duration::from_millis(360)),
    ];
    const LONG: [(Duration, Duration); 1] = [(Duration::ZERO, Duration::from_millis(800))];
    match beep {
        Beep::None => &[],
        Beep::Short => &SHORT,
        Beep::Double => &DOUBLE,
        Beep::Long => &LONG,
    }
}

impl Outputs {
    /// What the outputs show `t` after `signal` was shown.
    pub fn at(signal: &Signal, t: Duration) -> Outputs {
        let lit =
            !signal.blink || (t.as_millis() / BLINK_HALF_PERIOD.as_millis()).is_multiple_of(2);
        Outputs {
            green: lit && signal.light == Light::Green,
            amber: lit && signal.light == Light::Amber,
            red: lit && signal.light == Light::Red,
            buzzer: beep_intervals(signal.beep)
                .iter()
                .any(|(from, to)| *from <= t && t < *to),
        }
    }
}

/// The next moment after `t` at which the outputs may change, or `None` if they stay as they
/// are from `t` on.
pub fn next_change(signal: &Signal, t: Duration) -> Option<Duration> {
    let beep = beep_intervals(signal.beep)
        .iter()
        .flat_map(|(a, b)| [*a, *b])
        .filter(|x| *x > t)
        .min();
    let blink = (signal.blink && signal.light != Light::Off).then(|| {
        let half = BLINK_HALF_PERIOD.as_millis();
        let k = t.as_millis() / half + 1;
        Duration::from_millis(u64::try_from(k * half).unwrap_or(u64::MAX))
    });
    match (beep, blink) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The stack light's lines: three lamps and an optional buzzer, one pin type.
pub struct StackLightPins<P> {
    pub green: P,
    pub amber: P,
    pub red: P,
    pub buzzer: Option<P>,
    /// Polarity of the lamps (and the buzzer unless `buzzer_polarity` says otherwise).
    pub polarity: Polarity,
    pub buzzer_polarity: Polarity,
}

impl<P: OutputPin> StackLightPins<P> {
    /// Drives every line to `o`. The first failure is returned; the others are still tried.
    pub fn apply(&mut self, o: Outputs) -> Result<(), P::Error> {
        fn set<P: OutputPin>(pin: &mut P, high: bool) -> Result<(), P::Error> {
            if high { pin.set_high() } else { pin.set_low() }
        }
        let lamp = self.polarity;
        let results = [
            set(&mut self.green, lamp.level(o.green)),
            set(&mut self.amber, lamp.level(o.amber)),
            set(&mut self.red, lamp.level(o.red)),
            match &mut self.buzzer {
                Some(b) => set(b, self.buzzer_polarity.level(o.buzzer)),
                None => Ok(()),
            },
        ];
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }
}

/// A stack light and buzzer on GPIO, as an [`Indicator`]. `show` sets the outputs at once
/// and plays the rest of the pattern (beeps, blinking) in a background task, which the next
/// `show` replaces.
pub struct StackLight<P> {
    name: String,
    pins: Arc<Mutex<StackLightPins<P>>>,
    player: Option<tokio::task::JoinHandle<()>>,
}

impl<P> StackLight<P>
where
    P: OutputPin + Send + 'static,
    P::Error: std::fmt::Debug,
{
    pub fn new(name: impl Into<String>, pins: StackLightPins<P>) -> Self {
        StackLight {
            name: name.into(),
            pins: Arc::new(Mutex::new(pins)),
            player: None,
        }
    }

    fn apply(pins: &Mutex<StackLightPins<P>>, o: Outputs) -> Result<(), String> {
        // A poisoned lock only means a panic elsewhere mid-write; the pins are still usable.
        let mut p = pins.lock().unwrap_or_else(|e| e.into_inner());
        p.apply(o).map_err(|e| format!("{e:?}"))
    }

    /// Turns everything off and stops any pattern (and returns the pins' state to off).
    pub fn off(&mut self) -> Result<(), DeviceError> {
        if let Some(p) = self.player.take() {
            p.abort();
        }
        Self::apply(&self.pins, Outputs::default()).map_err(|e| self.error(e))
    }

    fn error(&self, e: String) -> DeviceError {
        DeviceError::new(
            self.name.clone(),
            ErrorKind::Disconnected,
            format!(
                "cannot drive an output line ({e}); check the GPIO numbers and that no other program holds them"
            ),
        )
    }
}

impl<P> Indicator for StackLight<P>
where
    P: OutputPin + Send + 'static,
    P::Error: std::fmt::Debug,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn show(&mut self, signal: &Signal) -> BoxFuture<'_, Result<(), DeviceError>> {
        let signal = signal.clone();
        Box::pin(async move {
            if let Some(p) = self.player.take() {
                p.abort();
            }
            Self::apply(&self.pins, Outputs::at(&signal, Duration::ZERO))
                .map_err(|e| self.error(e))?;
            if next_change(&signal, Duration::ZERO).is_some() {
                let pins = Arc::clone(&self.pins);
                let name = self.name.clone();
                self.player = Some(tokio::spawn(async move {
                    let start = tokio::time::Instant::now();
                    let mut t = Duration::ZERO;
                    while let Some(next) = next_change(&signal, t) {
                        tokio::time::sleep_until(start + next).await;
                        t = next;
                        if let Err(e) = Self::apply(&pins, Outputs::at(&signal, t)) {
                            tracing::warn!(device = %name, error = %e, "stack light output failed; pattern stopped");
                            return;
                        }
                    }
                }));
            }
            Ok(())
        })
    }
}

impl<P> Drop for StackLight<P> {
    fn drop(&mut self) {
        if let Some(p) = self.player.take() {
            p.abort();
        }
    }
}

/// The simulated indicator: one readable `tracing` line per signal.
#[derive(Debug, Clone)]
pub struct LogIndicator {
    name: String,
}

impl LogIndicator {
    pub fn new(name: impl Into<String>) -> Self {
        LogIndicator { name: name.into() }
    }
}

impl Default for LogIndicator {
    fn default() -> Self {
        LogIndicator::new("indicator")
    }
}

impl Indicator for LogIndicator {
    fn name(&self) -> &str {
        &self.name
    }

    fn show(&mut self, signal: &Signal) -> BoxFuture<'_, Result<(), DeviceError>> {
        let light = match (signal.light, signal.blink) {
            (Light::Off, _) => "off",
            (Light::Green, false) => "GREEN",
            (Light::Green, true) => "GREEN (blinking)",
            (Light::Amber, false) => "AMBER",
            (Light::Amber, true) => "AMBER (blinking)",
            (Light::Red, false) => "RED",
            (Light::Red, true) => "RED (blinking)",
        };
        let beep = match signal.beep {
            Beep::None => "silent",
            Beep::Short => "one short beep",
            Beep::Double => "two short beeps",
            Beep::Long => "one long beep",
        };
        tracing::info!(
            device = %self.name,
            light = ?signal.light,
            blink = signal.blink,
            beep = ?signal.beep,
            "{light}, {beep}: {}",
            signal.text
        );
        Box::pin(async { Ok(()) })
    }
}

/// What the operator meant with the foot switch or button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorInput {
    /// A short press: "yes, go on" (confirm the shown verdict).
    Confirm,
    /// A press held for the long-press time: "measure this parcel again".
    Remeasure,
}

/// Debounce and press classification, pure: feed it raw samples with their time.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    long_press: Duration,
    /// The accepted (debounced) state and since when.
    pressed: bool,
    pressed_at: Duration,
    long_sent: bool,
    /// A differing raw state and since when it has held.
    candidate: Option<(bool, Duration)>,
}

impl Debouncer {
    /// `debounce`: how long a new level must hold to count (20–50 ms suits a foot switch).
    /// `long_press`: holding this long means [`OperatorInput::Remeasure`].
    pub fn new(debounce: Duration, long_press: Duration) -> Self {
        Debouncer {
            debounce,
            long_press,
            pressed: false,
            pressed_at: Duration::ZERO,
            long_sent: false,
            candidate: None,
        }
    }

    /// Whether the switch is (debounced) down.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// One raw sample (`true` = pressed) at time `now`; returns what the operator meant, if
    /// this sample completes a gesture. A long press reports as soon as it has lasted long
    /// enough; its release then says nothing more.
    pub fn sample(&mut self, now: Duration, raw_pressed: bool) -> Option<OperatorInput> {
        if raw_pressed == self.pressed {
            self.candidate = None;
        } else {
            let since = match self.candidate {
                Some((level, since)) if level == raw_pressed => since,
                _ => {
                    self.candidate = Some((raw_pressed, now));
                    now
                }
            };
            if now.saturating_sub(since) >= self.debounce {
                self.candidate = None;
                self.pressed = raw_pressed;
                if raw_pressed {
                    self.pressed_at = since;
                    self.long_sent = false;
                } else if !self.long_sent {
                    return Some(OperatorInput::Confirm);
                }
            }
        }
        if self.pressed && !self.long_sent && now.saturating_sub(self.pressed_at) >= self.long_press
        {
            self.long_sent = true;
            return Some(OperatorInput::Remeasure);
        }
        None
    }
}

/// A foot switch or button on a GPIO input, sampled every few milliseconds.
pub struct FootSwitch<I> {
    name: String,
    pin: I,
    polarity: Polarity,
    debouncer: Debouncer,
    period: Duration,
    /// The debouncer's clock starts here.
    epoch: tokio::time::Instant,
}

impl<I> FootSwitch<I>
where
    I: InputPin + Send,
    I::Error: std::fmt::Debug,
{
    /// `polarity`: `ActiveLow` for a switch to ground with a pull-up (the usual wiring).
    pub fn new(name: impl Into<String>, pin: I, polarity: Polarity, debouncer: Debouncer) -> Self {
        FootSwitch {
            name: name.into(),
            pin,
            polarity,
            debouncer,
            period: Duration::from_millis(5),
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Gives the pin back.
    pub fn destroy(self) -> I {
        self.pin
    }

    /// Waits for the next gesture.
    pub async fn next_input(&mut self) -> Result<OperatorInput, DeviceError> {
        let mut tick = tokio::time::interval(self.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let high = self.pin.is_high().map_err(|e| {
                DeviceError::new(
                    self.name.clone(),
                    ErrorKind::Disconnected,
                    format!("cannot read the switch line ({e:?}); check the GPIO number"),
                )
            })?;
            let pressed = self.polarity.level(true) == high;
            if let Some(input) = self.debouncer.sample(self.epoch.elapsed(), pressed) {
                return Ok(input);
            }
        }
    }
}
