//! ST VL53L1X time-of-flight distance sensor over I2C, generic over `embedded-hal` 1.0.
//!
//! Our own small driver: the crates on crates.io either target embedded-hal 0.2
//! (`vl53l1x-uld`) or hide the distance mode, timing budget and range status we need
//! (`vl53l1x-simple`). It follows the sequence of ST's Ultra Lite Driver (ULD, UM2510 / the
//! `VL53L1X_api.c` reference): check the model id, wait for the firmware to boot, load the
//! default configuration block (registers 0x2D..=0x87), run one throw-away ranging to
//! settle the VHV calibration, then set distance mode, timing budget and inter-measurement
//! period. A reading is the start / data-ready / read / clear cycle.
//!
//! Registers are 16-bit indices sent big-endian before the data, as the datasheet's I2C
//! protocol section describes; multi-byte values are big-endian too.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use serde::Serialize;

use crate::device::{BoxFuture, DeviceError, ErrorKind, RangeFinder};
use crate::quantity::Length;

/// The sensor's 7-bit I2C address after power-up.
pub const DEFAULT_ADDRESS: u8 = 0x29;
/// What `IDENTIFICATION__MODEL_ID` (a 16-bit read) returns on a VL53L1X.
pub const MODEL_ID: u16 = 0xEACC;

/// Register indices used by the driver (names as in ST's ULD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register;

impl Register {
    pub const VHV_CONFIG_TIMEOUT_MACROP_LOOP_BOUND: u16 = 0x0008;
    pub const VHV_CONFIG_INIT: u16 = 0x000B;
    /// First register of the default configuration block.
    pub const DEFAULT_CONFIG_START: u16 = 0x002D;
    pub const GPIO_TIO_HV_STATUS: u16 = 0x0031;
    pub const PHASECAL_CONFIG_TIMEOUT_MACROP: u16 = 0x004B;
    pub const RANGE_CONFIG_TIMEOUT_MACROP_A_HI: u16 = 0x005E;
    pub const RANGE_CONFIG_VCSEL_PERIOD_A: u16 = 0x0060;
    pub const RANGE_CONFIG_TIMEOUT_MACROP_B_HI: u16 = 0x0061;
    pub const RANGE_CONFIG_VCSEL_PERIOD_B: u16 = 0x0063;
    pub const RANGE_CONFIG_VALID_PHASE_HIGH: u16 = 0x0069;
    pub const SYSTEM_INTERMEASUREMENT_PERIOD: u16 = 0x006C;
    pub const SD_CONFIG_WOI_SD0: u16 = 0x0078;
    pub const SD_CONFIG_INITIAL_PHASE_SD0: u16 = 0x007A;
    pub const SYSTEM_INTERRUPT_CLEAR: u16 = 0x0086;
    pub const SYSTEM_MODE_START: u16 = 0x0087;
    pub const RESULT_RANGE_STATUS: u16 = 0x0089;
    pub const RESULT_FINAL_RANGE_MM_SD0: u16 = 0x0096;
    pub const RESULT_OSC_CALIBRATE_VAL: u16 = 0x00DE;
    pub const FIRMWARE_SYSTEM_STATUS: u16 = 0x00E5;
    pub const IDENTIFICATION_MODEL_ID: u16 = 0x010F;
}

/// `SYSTEM__MODE_START` values.
const MODE_START_RANGING: u8 = 0x40;
const MODE_STOP: u8 = 0x00;

/// The default configuration block for registers 0x2D..=0x87 (91 bytes): I2C and GPIO at
/// 2.8 V levels, interrupt active high on "new sample ready", long distance mode, ranging
/// stopped. Most bytes are marked "not user-modifiable" by ST.
///
/// Origin: the array `VL51L1X_DEFAULT_CONFIGURATION` in `VL53L1X_api.c` of ST's VL53L1X
/// Ultra Lite Driver (STSW-IMG009), copied as values (not code), under ST's BSD-3-Clause
/// licence (the README's Licence section carries the notice for binary redistributions):
///
/// Copyright (c) STMicroelectronics. All rights reserved.
///
/// Redistribution and use in source and binary forms, with or without modification, are
/// permitted provided that the following conditions are met:
/// 1. Redistributions of source code must retain the above copyright notice, this list of
///    conditions and the following disclaimer.
/// 2. Redistributions in binary form must reproduce the above copyright notice, this list of
///    conditions and the following disclaimer in the documentation and/or other materials
///    provided with the distribution.
/// 3. Neither the name of the copyright holder nor the names of its contributors may be used
///    to endorse or promote products derived from this software without specific prior
///    written permission.
///
/// THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY
/// EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
/// MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
/// COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
/// EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
/// SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
/// HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR
/// TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
/// SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
pub const DEFAULT_CONFIGURATION: [u8; 91] = [
    0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x02, 0x08, // 0x2D..=0x34
    0x00, 0x08, 0x10, 0x01, 0x01, 0x00, 0x00, 0x00, // 0x35..=0x3C
    0x00, 0xFF, 0x00, 0x0F, 0x00, 0x00, 0x00, 0x00, // 0x3D..=0x44
    0x00, 0x20, 0x0B, 0x00, 0x00, 0x02, 0x0A, 0x21, // 0x45..=0x4C
    0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0xC8, // 0x4D..=0x54
    0x00, 0x00, 0x38, 0xFF, 0x01, 0x00, 0x08, 0x00, // 0x55..=0x5C
    0x00, 0x01, 0xCC, 0x0F, 0x01, 0xF1, 0x0D, 0x01, // 0x5D..=0x64
    0x68, 0x00, 0x80, 0x08, 0xB8, 0x00, 0x00, 0x00, // 0x65..=0x6C
    0x00, 0x0F, 0x89, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x6D..=0x74
    0x00, 0x00, 0x01, 0x0F, 0x0D, 0x0E, 0x0E, 0x00, // 0x75..=0x7C
    0x00, 0x02, 0xC7, 0xFF, 0x9B, 0x00, 0x00, 0x00, // 0x7D..=0x84
    0x01, 0x00, 0x00, // 0x85..=0x87
];

/// Short mode sees up to about 1.3 m and resists ambient light; long mode up to 4 m in the dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistanceMode {
    Short,
    Long,
}

/// The timing budgets the sensor supports (milliseconds per measurement).
pub const TIMING_BUDGETS_MS: [u16; 7] = [15, 20, 33, 50, 100, 200, 500];

impl DistanceMode {
    /// `(RANGE_CONFIG__TIMEOUT_MACROP_A_HI, _B_HI)` for a timing budget in this mode, or
    /// `None` if the sensor does not support that budget here (15 ms is short mode only).
    pub fn timeouts(self, budget_ms: u16) -> Option<(u16, u16)> {
        Some(match (self, budget_ms) {
            (DistanceMode::Short, 15) => (0x001D, 0x0027),
            (DistanceMode::Short, 20) => (0x0051, 0x006E),
            (DistanceMode::Short, 33) => (0x00D6, 0x006E),
            (DistanceMode::Short, 50) => (0x01AE, 0x01E8),
            (DistanceMode::Short, 100) => (0x02E1, 0x0388),
            (DistanceMode::Short, 200) => (0x03E1, 0x0496),
            (DistanceMode::Short, 500) => (0x0591, 0x05C1),
            (DistanceMode::Long, 20) => (0x001E, 0x0022),
            (DistanceMode::Long, 33) => (0x0060, 0x006E),
            (DistanceMode::Long, 50) => (0x00AD, 0x00C6),
            (DistanceMode::Long, 100) => (0x01CC, 0x01EA),
            (DistanceMode::Long, 200) => (0x02D9, 0x02F8),
            (DistanceMode::Long, 500) => (0x048F, 0x04A4),
            _ => return None,
        })
    }

    /// `(PHASECAL timeout, VCSEL period A, VCSEL period B, valid phase high, WOI SD0,
    /// initial phase SD0)` for this mode.
    fn phase_settings(self) -> (u8, u8, u8, u8, u16, u16) {
        match self {
            DistanceMode::Short => (0x14, 0x07, 0x05, 0x38, 0x0705, 0x0606),
            DistanceMode::Long => (0x0A, 0x0F, 0x0D, 0xB8, 0x0F0D, 0x0E0E),
        }
    }
}

/// The sensor's verdict on one measurement (ST's ULD status numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeStatus {
    /// 0: a good range.
    Valid,
    /// 1: the estimated standard deviation is too high (a noisy, far or dark target).
    SigmaFail,
    /// 2: too little signal returned (nothing in range, or a black, angled surface).
    SignalFail,
    /// 3: the target is closer than the minimum range.
    MinRangeFail,
    /// 4: the phase is outside the valid limits (target beyond the range of this mode).
    OutOfBounds,
    /// 5: the sensor reports a hardware failure (VCSEL or VHV).
    HardwareFail,
    /// 6: a range without the wrap-around check (the first after starting).
    NoWrapCheck,
    /// 7: the target may be aliased from beyond the maximum range.
    WrapAround,
    /// Any other raw status byte.
    Other(u8),
}

impl RangeStatus {
    /// Decodes `RESULT__RANGE_STATUS` (low 5 bits) as ST's ULD `status_rtn` table does.
    pub fn from_raw(raw: u8) -> RangeStatus {
        match raw & 0x1F {
            9 => RangeStatus::Valid,
            6 => RangeStatus::SigmaFail,
            4 => RangeStatus::SignalFail,
            8 => RangeStatus::MinRangeFail,
            5 => RangeStatus::OutOfBounds,
            3 => RangeStatus::HardwareFail,
            19 => RangeStatus::NoWrapCheck,
            7 => RangeStatus::WrapAround,
            other => RangeStatus::Other(other),
        }
    }

    /// What an operator or technician should make of it.
    pub fn advice(self) -> &'static str {
        match self {
            RangeStatus::Valid | RangeStatus::NoWrapCheck => "a good range",
            RangeStatus::SigmaFail => {
                "the reading is too noisy; keep the beam clear and the target surface flat"
            }
            RangeStatus::SignalFail => {
                "too little light came back; nothing in range, or a dark or angled surface"
            }
            RangeStatus::MinRangeFail => "the target is too close to the sensor",
            RangeStatus::OutOfBounds | RangeStatus::WrapAround => {
                "the target is beyond this distance mode's range; use long mode or mount closer"
            }
            RangeStatus::HardwareFail => {
                "the sensor reports a hardware fault; power-cycle it and check its supply"
            }
            RangeStatus::Other(_) => "the sensor reported an undocumented status",
        }
    }
}

/// One measurement as the sensor reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub status: RangeStatus,
    pub distance_mm: u16,
}

/// Everything that can go wrong talking to the sensor, generic over the bus error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error<E> {
    #[error("I2C bus error {0:?}; check SDA/SCL wiring, power and the address")]
    I2c(E),
    #[error(
        "the device at this address answers model id {found:#06x}, not a VL53L1X ({MODEL_ID:#06x}); check the address"
    )]
    WrongModel { found: u16 },
    #[error("the sensor did not finish booting; check its power and XSHUT line")]
    BootTimeout,
    #[error("no measurement became ready in time; check the sensor is ranging and powered")]
    DataReadyTimeout,
    #[error(
        "a {mode:?}-mode timing budget of {budget_ms} ms is not supported; use one of 20, 33, 50, 100, 200, 500 ms (15 ms in short mode)"
    )]
    InvalidTimingBudget { mode: DistanceMode, budget_ms: u16 },
    #[error("range status {status:?}: {}", status.advice())]
    Range { status: RangeStatus },
}

impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Error::I2c(e)
    }
}

/// The sensor's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub distance_mode: DistanceMode,
    pub timing_budget_ms: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            distance_mode: DistanceMode::Long,
            timing_budget_ms: 50,
        }
    }
}

/// Polls before giving up waiting for boot or a ranging (each 1 ms apart in `init`).
const BOOT_POLLS: u32 = 100;
const INIT_READY_POLLS: u32 = 1_000;

/// A VL53L1X on an I2C bus.
#[derive(Debug)]
pub struct Vl53l1x<I2C> {
    i2c: I2C,
    address: u8,
}

impl<I2C: I2c> Vl53l1x<I2C> {
    /// Takes the bus; no traffic until [`Vl53l1x::init`].
    pub fn new(i2c: I2C, address: u8) -> Self {
        Vl53l1x { i2c, address }
    }

    /// Gives the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    pub fn address(&self) -> u8 {
        self.address
    }

    fn read_u8(&mut self, reg: u16) -> Result<u8, Error<I2C::Error>> {
        let mut buf = [0u8; 1];
        self.i2c
            .write_read(self.address, &reg.to_be_bytes(), &mut buf)?;
        Ok(buf[0])
    }

    fn read_u16(&mut self, reg: u16) -> Result<u16, Error<I2C::Error>> {
        let mut buf = [0u8; 2];
        self.i2c
            .write_read(self.address, &reg.to_be_bytes(), &mut buf)?;
        Ok(u16::from_be_bytes(buf))
    }

    fn write_u8(&mut self, reg: u16, value: u8) -> Result<(), Error<I2C::Error>> {
        let [hi, lo] = reg.to_be_bytes();
        self.i2c.write(self.address, &[hi, lo, value])?;
        Ok(())
    }

    fn write_u16(&mut self, reg: u16, value: u16) -> Result<(), Error<I2C::Error>> {
        let [hi, lo] = reg.to_be_bytes();
        let [a, b] = value.to_be_bytes();
        self.i2c.write(self.address, &[hi, lo, a, b])?;
        Ok(())
    }

    fn write_u32(&mut self, reg: u16, value: u32) -> Result<(), Error<I2C::Error>> {
        let [hi, lo] = reg.to_be_bytes();
        let [a, b, c, d] = value.to_be_bytes();
        self.i2c.write(self.address, &[hi, lo, a, b, c, d])?;
        Ok(())
    }

    /// Reads the model id.
    pub fn model_id(&mut self) -> Result<u16, Error<I2C::Error>> {
        self.read_u16(Register::IDENTIFICATION_MODEL_ID)
    }

    /// Whether the firmware has booted.
    pub fn booted(&mut self) -> Result<bool, Error<I2C::Error>> {
        Ok(self.read_u8(Register::FIRMWARE_SYSTEM_STATUS)? & 0x01 != 0)
    }

    /// Checks the model, loads the default configuration, settles the VHV calibration and
    /// applies `settings`. Blocks for a few tens of milliseconds (the throw-away ranging).
    pub fn init(
        &mut self,
        settings: Settings,
        delay: &mut impl DelayNs,
    ) -> Result<(), Error<I2C::Error>> {
        if settings
            .distance_mode
            .timeouts(settings.timing_budget_ms)
            .is_none()
        {
            return Err(Error::InvalidTimingBudget {
                mode: settings.distance_mode,
                budget_ms: settings.timing_budget_ms,
            });
        }
        let found = self.model_id()?;
        if found != MODEL_ID {
            return Err(Error::WrongModel { found });
        }
        let mut polls = 0;
        while !self.booted()? {
            polls += 1;
            if polls >= BOOT_POLLS {
                return Err(Error::BootTimeout);
            }
            delay.delay_ms(1);
        }
        // One auto-incrementing write of the whole block.
        let mut block = [0u8; 2 + DEFAULT_CONFIGURATION.len()];
        block[..2].copy_from_slice(&Register::DEFAULT_CONFIG_START.to_be_bytes());
        block[2..].copy_from_slice(&DEFAULT_CONFIGURATION);
        self.i2c.write(self.address, &block)?;

        self.start_ranging()?;
        let mut polls = 0;
        while !self.data_ready()? {
            polls += 1;
            if polls >= INIT_READY_POLLS {
                return Err(Error::DataReadyTimeout);
            }
            delay.delay_ms(1);
        }
        self.clear_interrupt()?;
        self.stop_ranging()?;
        // Two bounds for VHV, and start VHV from the previous temperature (ULD SensorInit).
        self.write_u8(Register::VHV_CONFIG_TIMEOUT_MACROP_LOOP_BOUND, 0x09)?;
        self.write_u8(Register::VHV_CONFIG_INIT, 0x00)?;

        self.set_distance_mode(settings.distance_mode)?;
        self.set_timing_budget(settings.distance_mode, settings.timing_budget_ms)?;
        self.set_inter_measurement(settings.timing_budget_ms)?;
        Ok(())
    }

    /// Writes the phase and VCSEL settings of a distance mode.
    pub fn set_distance_mode(&mut self, mode: DistanceMode) -> Result<(), Error<I2C::Error>> {
        let (phasecal, vcsel_a, vcsel_b, phase_high, woi, initial_phase) = mode.phase_settings();
        self.write_u8(Register::PHASECAL_CONFIG_TIMEOUT_MACROP, phasecal)?;
        self.write_u8(Register::RANGE_CONFIG_VCSEL_PERIOD_A, vcsel_a)?;
        self.write_u8(Register::RANGE_CONFIG_VCSEL_PERIOD_B, vcsel_b)?;
        self.write_u8(Register::RANGE_CONFIG_VALID_PHASE_HIGH, phase_high)?;
        self.write_u16(Register::SD_CONFIG_WOI_SD0, woi)?;
        self.write_u16(Register::SD_CONFIG_INITIAL_PHASE_SD0, initial_phase)?;
        Ok(())
    }

    /// Writes the range timeouts for a timing budget (after the distance mode).
    pub fn set_timing_budget(
        &mut self,
        mode: DistanceMode,
        budget_ms: u16,
    ) -> Result<(), Error<I2C::Error>> {
        let (a, b) = mode
            .timeouts(budget_ms)
            .ok_or(Error::InvalidTimingBudget { mode, budget_ms })?;
        self.write_u16(Register::RANGE_CONFIG_TIMEOUT_MACROP_A_HI, a)?;
        self.write_u16(Register::RANGE_CONFIG_TIMEOUT_MACROP_B_HI, b)?;
        Ok(())
    }

    /// Sets the inter-measurement period (continuous ranging) to `period_ms`, scaled by the
    /// sensor's own oscillator calibration as the ULD does (× 1.075).
    pub fn set_inter_measurement(&mut self, period_ms: u16) -> Result<(), Error<I2C::Error>> {
        let clock_pll = u32::from(self.read_u16(Register::RESULT_OSC_CALIBRATE_VAL)? & 0x03FF);
        let period = clock_pll * u32::from(period_ms) * 1075 / 1000;
        self.write_u32(Register::SYSTEM_INTERMEASUREMENT_PERIOD, period)
    }

    pub fn start_ranging(&mut self) -> Result<(), Error<I2C::Error>> {
        self.write_u8(Register::SYSTEM_MODE_START, MODE_START_RANGING)
    }

    pub fn stop_ranging(&mut self) -> Result<(), Error<I2C::Error>> {
        self.write_u8(Register::SYSTEM_MODE_START, MODE_STOP)
    }

    /// Whether a new measurement is ready (the interrupt is active high, as configured).
    pub fn data_ready(&mut self) -> Result<bool, Error<I2C::Error>> {
        Ok(self.read_u8(Register::GPIO_TIO_HV_STATUS)? & 0x01 == 0x01)
    }

    /// Reads the status and distance of the ready measurement (one 17-byte burst from
    /// `RESULT__RANGE_STATUS`; the distance is bytes 13..15).
    pub fn read_sample(&mut self) -> Result<Sample, Error<I2C::Error>> {
        let mut buf = [0u8; 17];
        self.i2c.write_read(
            self.address,
            &Register::RESULT_RANGE_STATUS.to_be_bytes(),
            &mut buf,
        )?;
        Ok(Sample {
            status: RangeStatus::from_raw(buf[0]),
            distance_mm: u16::from_be_bytes([buf[13], buf[14]]),
        })
    }

    /// Arms the sensor for the next measurement.
    pub fn clear_interrupt(&mut self) -> Result<(), Error<I2C::Error>> {
        self.write_u8(Register::SYSTEM_INTERRUPT_CLEAR, 0x01)
    }
}

/// The VL53L1X as a station [`RangeFinder`]: ranges continuously and, per reading, waits for
/// data-ready (sleeping between polls, never spinning), reads and clears.
pub struct Vl53l1xRangeFinder<I2C> {
    name: String,
    sensor: Vl53l1x<I2C>,
    settings: Settings,
    poll: std::time::Duration,
    ranging: bool,
}

impl<I2C> Vl53l1xRangeFinder<I2C>
where
    I2C: I2c + Send,
    I2C::Error: std::fmt::Debug,
{
    /// Wraps an initialised sensor (see [`Vl53l1x::init`]).
    pub fn new(name: impl Into<String>, sensor: Vl53l1x<I2C>, settings: Settings) -> Self {
        Vl53l1xRangeFinder {
            name: name.into(),
            sensor,
            settings,
            poll: std::time::Duration::from_millis(5),
            ranging: false,
        }
    }

    /// Gives the driver back (stopping is the caller's choice).
    pub fn into_inner(self) -> Vl53l1x<I2C> {
        self.sensor
    }

    fn err(&self, e: Error<I2C::Error>) -> DeviceError {
        let kind = match &e {
            Error::I2c(_) => ErrorKind::Disconnected,
            Error::DataReadyTimeout | Error::BootTimeout => ErrorKind::Timeout,
            Error::Range { .. } => ErrorKind::OutOfRange,
            Error::WrongModel { .. } | Error::InvalidTimingBudget { .. } => ErrorKind::Config,
        };
        DeviceError::new(
            format!("VL53L1X {} at {:#04x}", self.name, self.sensor.address()),
            kind,
            e.to_string(),
        )
    }

    async fn read_one(&mut self) -> Result<Length, Error<I2C::Error>> {
        if !self.ranging {
            self.sensor.clear_interrupt()?;
            self.sensor.start_ranging()?;
            self.ranging = true;
        }
        // Two budgets and some slack, then the sensor is not ranging.
        let deadline =
            std::time::Duration::from_millis(2 * u64::from(self.settings.timing_budget_ms) + 100);
        // The first range after a start has no wrap-around check: take the next one.
        for _ in 0..2 {
            let mut waited = std::time::Duration::ZERO;
            while !self.sensor.data_ready()? {
                if waited >= deadline {
                    self.ranging = false;
                    return Err(Error::DataReadyTimeout);
                }
                tokio::time::sleep(self.poll).await;
                waited += self.poll;
            }
            let sample = self.sensor.read_sample()?;
            self.sensor.clear_interrupt()?;
            match sample.status {
                RangeStatus::Valid => return Ok(Length::from_mm(i64::from(sample.distance_mm))),
                RangeStatus::NoWrapCheck => continue,
                status => return Err(Error::Range { status }),
            }
        }
        Err(Error::Range {
            status: RangeStatus::NoWrapCheck,
        })
    }
}

impl<I2C> RangeFinder for Vl53l1xRangeFinder<I2C>
where
    I2C: I2c + Send,
    I2C::Error: std::fmt::Debug + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn measure(&mut self) -> BoxFuture<'_, Result<Length, DeviceError>> {
        Box::pin(async move {
            match self.read_one().await {
                Ok(l) => Ok(l),
                Err(e) => Err(self.err(e)),
            }
        })
    }
}
