//! Operator I/O: stack light, buzzer and foot switch (GPIO), and the simulated indicator.
