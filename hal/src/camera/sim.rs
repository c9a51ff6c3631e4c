//! The simulated camera: renders whatever label the simulated dock says is on the
//! station into a fresh, randomly placed frame, or an empty frame when nothing is there.

use image::GrayImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;

use super::label::{LabelSpec, render_label};
use super::scene::{Scene, compose};
use crate::device::{BoxFuture, Camera, DeviceError, ErrorKind};

/// Frame size and seed of a simulated camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimCameraConfig {
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

impl Default for SimCameraConfig {
    fn default() -> Self {
        SimCameraConfig {
            width: 1920,
            height: 1080,
            seed: 1,
        }
    }
}

/// A camera over a simulated station. `label` says what lies there: `None` is an empty
/// station (the frame shows background only), `Some(spec)` a parcel with that label.
/// Each capture places the label anew (angle, place, blur, noise) from a seeded RNG, so
/// a run is reproducible.
pub struct SimCamera {
    name: String,
    label: watch::Receiver<Option<LabelSpec>>,
    config: SimCameraConfig,
    rng: ChaCha8Rng,
}

impl SimCamera {
    pub fn new(label: watch::Receiver<Option<LabelSpec>>, config: SimCameraConfig) -> SimCamera {
        SimCamera {
            name: "camera (simulated)".to_owned(),
            label,
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        }
    }

    /// Draws the label (about a millisecond) and places it; the returned job composes the
    /// frame (tens of milliseconds at 1080p), which `capture` runs off the async threads.
    fn next_job(&mut self) -> Result<impl FnOnce() -> GrayImage + Send + 'static, DeviceError> {
        let spec = self.label.borrow().clone();
        let (w, h) = (self.config.width, self.config.height);
        let (label, scene) = match spec {
            None => {
                let mut scene = Scene::random(w, h, 1, 1, &mut self.rng);
                scene.center = (-1e6, -1e6);
                (None, scene)
            }
            Some(spec) => {
                let label = render_label(&spec)
                    .map_err(|e| DeviceError::new(&self.name, ErrorKind::Config, e.to_string()))?;
                let scene = Scene::random(w, h, label.width(), label.height(), &mut self.rng);
                (Some(label), scene)
            }
        };
        Ok(move || compose(label.as_ref(), &scene))
    }

    /// The next frame, synchronously (for tools and tests without a runtime).
    pub fn render_next(&mut self) -> Result<GrayImage, DeviceError> {
        Ok(self.next_job()?())
    }
}

impl Camera for SimCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
        let job = self.next_job();
        let name = self.name.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(job?).await.map_err(|e| {
                DeviceError::new(
                    name,
                    ErrorKind::Disconnected,
                    format!("frame rendering stopped: {e}; restart the daemon"),
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_follow_the_station_and_repeat_with_the_seed() {
        let (tx, rx) = watch::channel(None);
        let cfg = SimCameraConfig {
            width: 640,
            height: 480,
            seed: 7,
        };
        let mut cam = SimCamera::new(rx.clone(), cfg);
        let empty = cam.capture().await.unwrap();
        assert_eq!((empty.width(), empty.height()), (640, 480));
        tx.send(Some(LabelSpec {
            postcode: None,
            module_px: 2,
            ..LabelSpec::new("EE123456785GB")
        }))
        .unwrap();
        let with_label = cam.capture().await.unwrap();
        let light = |i: &GrayImage| i.pixels().filter(|p| p.0[0] > 200).count();
        assert!(light(&with_label) > light(&empty) + 10_000);
        // Same seed, same sequence.
        let mut again = SimCamera::new(rx, cfg);
        again.render_next().unwrap();
        assert_eq!(again.render_next().unwrap(), with_label);
    }
}
