//! Dimensions from distance sensors against the calibrated empty station.
