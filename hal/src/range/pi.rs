//! The Raspberry Pi backend (rppal) for the range sensors, and the translation of what goes
//! wrong opening real hardware into an error that names the device and the fix.
//!
//! rppal compiles everywhere; off a Pi its constructors fail (`Gpio::new()` and
//! `I2c::new()` report an unknown model, `I2c::with_bus(1)` a missing `/dev/i2c-1`), and we
//! say so instead of falling back to simulation.

use std::time::Duration;

use rppal::gpio::{Gpio, Trigger};
use rppal::i2c::I2c;

use super::hcsr04::{self, Edge, HcSr04};
use super::vl53l1x::{self, Vl53l1x, Vl53l1xRangeFinder};
use crate::RangeFinder;

/// A real device could not be opened: which one, what happened, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{device}: {problem}; {fix}")]
pub struct OpenError {
    pub device: String,
    pub problem: String,
    pub fix: String,
}

impl OpenError {
    pub fn new(
        device: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        OpenError {
            device: device.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

const NOT_A_PI_FIX: &str = "run the daemon on the Raspberry Pi the sensors are wired to, or set this device's type = \"sim\" to simulate it";

/// Fails unless this is a Raspberry Pi rppal knows.
pub fn check_raspberry_pi(device: &str) -> Result<(), OpenError> {
    match rppal::system::DeviceInfo::new() {
        Ok(_) => Ok(()),
        Err(e) => Err(OpenError::new(
            device,
            format!("this machine is not a Raspberry Pi (rppal: {e})"),
            NOT_A_PI_FIX,
        )),
    }
}

/// Translates a GPIO error into the fix.
pub fn gpio_error(device: &str, e: rppal::gpio::Error) -> OpenError {
    use rppal::gpio::Error as G;
    let (problem, fix) = match &e {
        G::UnknownModel => (
            format!("this machine is not a Raspberry Pi (rppal: {e})"),
            NOT_A_PI_FIX.to_owned(),
        ),
        G::PermissionDenied(path) => (
            format!("permission denied opening {path}"),
            "add the daemon's user to the gpio group (sudo usermod -aG gpio intake, then restart the service); see deploy/99-intake.rules".to_owned(),
        ),
        G::PinUsed(n) => (
            format!("GPIO {n} is already in use"),
            "give each device its own pin in the config and stop any other program that holds it".to_owned(),
        ),
        G::PinNotAvailable(n) => (
            format!("GPIO {n} does not exist on this board"),
            "use the BCM GPIO number (GPIO17), not the header pin number (11)".to_owned(),
        ),
        _ => (
            format!("GPIO error: {e}"),
            "check that /dev/gpiochip0 exists and the user is in the gpio group".to_owned(),
        ),
    };
    OpenError::new(device, problem, fix)
}

/// Translates an I2C error (opening the bus) into the fix.
pub fn i2c_error(device: &str, bus: u8, e: rppal::i2c::Error) -> OpenError {
    use rppal::i2c::Error as E;
    let (problem, fix) = match &e {
        E::UnknownModel => (
            format!("this machine is not a Raspberry Pi (rppal: {e})"),
            NOT_A_PI_FIX.to_owned(),
        ),
        E::Io(io) if io.kind() == std::io::ErrorKind::NotFound => (
            format!("I2C bus {bus} is missing (/dev/i2c-{bus})"),
            "enable I2C (sudo raspi-config nonint do_i2c 0, or dtparam=i2c_arm=on in /boot/firmware/config.txt) and reboot".to_owned(),
        ),
        E::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => (
            format!("permission denied opening /dev/i2c-{bus}"),
            "add the daemon's user to the i2c group (sudo usermod -aG i2c intake, then restart the service)".to_owned(),
        ),
        _ => (
            format!("I2C bus {bus}: {e}"),
            "check that I2C is enabled and the bus number is right".to_owned(),
        ),
    };
    OpenError::new(device, problem, fix)
}

/// Opens and initialises a VL53L1X on `/dev/i2c-<bus>`.
pub fn open_vl53l1x(
    name: &str,
    bus: u8,
    address: u8,
    settings: vl53l1x::Settings,
) -> Result<Vl53l1xRangeFinder<I2c>, OpenError> {
    let device = format!("range sensor {name} (VL53L1X on I2C bus {bus} at {address:#04x})");
    check_raspberry_pi(&device)?;
    let i2c = I2c::with_bus(bus).map_err(|e| i2c_error(&device, bus, e))?;
    let mut sensor = Vl53l1x::new(i2c, address);
    sensor
        .init(settings, &mut rppal::hal::Delay::new())
        .map_err(|e| match e {
            vl53l1x::Error::I2c(_) => OpenError::new(
                &device,
                format!("nothing answers at {address:#04x}"),
                format!("check the wiring (SDA to GPIO2, SCL to GPIO3, 3.3 V, GND) and the address with `i2cdetect -y {bus}`"),
            ),
            other => OpenError::new(&device, other.to_string(), "check the sensor and its config"),
        })?;
    Ok(Vl53l1xRangeFinder::new(name, sensor, settings))
}

/// Opens an HC-SR04 with TRIG and ECHO on BCM GPIO numbers. ECHO edges are timestamped by
/// the kernel (GPIO character device line events) and handed over by rppal's interrupt
/// thread. The echo pin is kept alive inside the returned closure's owner.
pub fn open_hcsr04(
    name: &str,
    trigger_pin: u8,
    echo_pin: u8,
    settings: hcsr04::Settings,
) -> Result<HcSr04Pi, OpenError> {
    let device =
        format!("range sensor {name} (HC-SR04, TRIG GPIO{trigger_pin}, ECHO GPIO{echo_pin})");
    check_raspberry_pi(&device)?;
    let gpio = Gpio::new().map_err(|e| gpio_error(&device, e))?;
    let trigger = gpio
        .get(trigger_pin)
        .map_err(|e| gpio_error(&device, e))?
        .into_output_low();
    let mut echo = gpio
        .get(echo_pin)
        .map_err(|e| gpio_error(&device, e))?
        .into_input();
    let (tx, rx) = hcsr04::edge_channel();
    echo.set_async_interrupt(Trigger::Both, None, move |event| {
        let _ = tx.send(Edge {
            rising: event.trigger == Trigger::RisingEdge,
            at: event.timestamp,
        });
    })
    .map_err(|e| gpio_error(&device, e))?;
    Ok(HcSr04Pi {
        sensor: HcSr04::new(name, trigger, rppal::hal::Delay::new(), rx, settings),
        _echo: echo,
    })
}

/// An HC-SR04 on the Pi: the driver plus the echo pin whose interrupt feeds it.
pub struct HcSr04Pi {
    sensor: HcSr04<rppal::gpio::OutputPin, rppal::hal::Delay>,
    _echo: rppal::gpio::InputPin,
}

impl RangeFinder for HcSr04Pi {
    fn name(&self) -> &str {
        self.sensor.name()
    }

    fn measure(
        &mut self,
    ) -> crate::BoxFuture<'_, Result<crate::quantity::Length, crate::DeviceError>> {
        self.sensor.measure()
    }
}

/// How long [`open_hcsr04`] callers should allow between readings (the datasheet asks for
/// 60 ms so the last echo has died away).
pub const HCSR04_CYCLE: Duration = Duration::from_millis(60);
