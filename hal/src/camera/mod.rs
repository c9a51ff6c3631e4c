//! Cameras: frame capture, and the simulated camera that renders a real label image.
