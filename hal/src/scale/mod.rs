//! Shipping scales: pure protocol parsers, the serial transport, and the simulated scale.
