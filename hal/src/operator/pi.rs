//! The Raspberry Pi backend (rppal) for the stack light, buzzer and foot switch.

use rppal::gpio::{Gpio, InputPin, OutputPin};

use super::{Debouncer, FootSwitch, Polarity, StackLight, StackLightPins};
use crate::range::pi::{OpenError, check_raspberry_pi, gpio_error};

/// BCM GPIO numbers of the stack light.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackLightGpio {
    pub green: u8,
    pub amber: u8,
    pub red: u8,
    pub buzzer: Option<u8>,
    pub polarity: Polarity,
    pub buzzer_polarity: Polarity,
}

/// Opens the stack light's lines, all off.
pub fn open_stack_light(name: &str, g: StackLightGpio) -> Result<StackLight<OutputPin>, OpenError> {
    let device = format!(
        "stack light {name} (GPIO green {}, amber {}, red {}{})",
        g.green,
        g.amber,
        g.red,
        g.buzzer
            .map(|b| format!(", buzzer {b}"))
            .unwrap_or_default()
    );
    check_raspberry_pi(&device)?;
    let gpio = Gpio::new().map_err(|e| gpio_error(&device, e))?;
    let out = |pin: u8, polarity: Polarity| -> Result<OutputPin, OpenError> {
        let p = gpio.get(pin).map_err(|e| gpio_error(&device, e))?;
        // Start with the line at "off" so nothing flashes at boot.
        Ok(if polarity.level(false) {
            p.into_output_high()
        } else {
            p.into_output_low()
        })
    };
    let pins = StackLightPins {
        green: out(g.green, g.polarity)?,
        amber: out(g.amber, g.polarity)?,
        red: out(g.red, g.polarity)?,
        buzzer: g.buzzer.map(|b| out(b, g.buzzer_polarity)).transpose()?,
        polarity: g.polarity,
        buzzer_polarity: g.buzzer_polarity,
    };
    Ok(StackLight::new(name, pins))
}

/// Opens a foot switch or button. `ActiveLow` enables the internal pull-up (switch to
/// ground); `ActiveHigh` the pull-down (switch to 3.3 V).
pub fn open_foot_switch(
    name: &str,
    pin: u8,
    polarity: Polarity,
    debouncer: Debouncer,
) -> Result<FootSwitch<InputPin>, OpenError> {
    let device = format!("foot switch {name} (GPIO {pin})");
    check_raspberry_pi(&device)?;
    let gpio = Gpio::new().map_err(|e| gpio_error(&device, e))?;
    let p = gpio.get(pin).map_err(|e| gpio_error(&device, e))?;
    let input = match polarity {
        Polarity::ActiveLow => p.into_input_pullup(),
        Polarity::ActiveHigh => p.into_input_pulldown(),
    };
    Ok(FootSwitch::new(name, input, polarity, debouncer))
}
