//! Distance sensors: VL53L1X (I2C), HC-SR04 (GPIO), TFmini (UART), and simulated ones.
