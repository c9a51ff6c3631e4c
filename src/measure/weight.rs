//! Stable-weight detection: the scale's own flag and a software check over a window.
