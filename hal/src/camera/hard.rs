//! Frames as real dock cameras give them, made from the real label renderer: modules about
//! one pixel wide (a label at the edge of a wide field of view), motion blur (a parcel still
//! moving), faded thermal print — each at any angle, anywhere in the frame, seeded.
//!
//! The label is rendered with [`render_label`], then placed by [`compose`] with the
//! hardship's scene: scaled down with area sampling (each frame pixel integrates the label
//! over its area, as a sensor does), blurred along a line, its contrast compressed, noise
//! added.

use image::GrayImage;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::label::{LabelError, LabelSpec, render_label};
use super::scene::{Scene, compose};

/// What makes a frame hard to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hardship {
    /// Narrow modules: `px_per_module` frame pixels per narrow bar (1.0 at the edge of a
    /// dock camera's field of view). Area-sampled, noise σ 2–5.
    Narrow { px_per_module: f32 },
    /// Motion blur: the label moved `length_px` frame pixels while the shutter was open, in
    /// a random direction; 2.4–3.6 px per module, noise σ 2–5.
    Motion { length_px: f32 },
    /// Faded print: the ink is `contrast` of the way from paper to black (0.25: a quarter
    /// of fresh print's contrast), noise σ 3–6, optics blur 0–1 px.
    Faded { contrast: f32 },
}

/// Label pixels per module when the label will be scaled down: fine enough that the area
/// sampling, not the label's own pixels, decides the frame.
const FINE_MODULE: u32 = 4;

impl Hardship {
    /// The label to render for this hardship: `spec` with the module the scene expects.
    pub fn label(&self, spec: &LabelSpec) -> LabelSpec {
        let module_px = match self {
            Hardship::Narrow { .. } => FINE_MODULE,
            Hardship::Motion { .. } | Hardship::Faded { .. } => 3,
        };
        LabelSpec {
            module_px,
            ..spec.clone()
        }
    }

    /// A short name for tables and messages.
    pub fn name(&self) -> String {
        match self {
            Hardship::Narrow { px_per_module } => format!("narrow {px_per_module} px/module"),
            Hardship::Motion { length_px } => format!("motion blur {length_px} px"),
            Hardship::Faded { contrast } => format!("contrast {:.0} %", contrast * 100.0),
        }
    }
}

/// The scene for a `label_w × label_h` label (rendered from [`Hardship::label`]) in a
/// `width × height` frame: any angle, any place where it fits whole.
pub fn hard_scene(
    hardship: Hardship,
    width: u32,
    height: u32,
    label_w: u32,
    label_h: u32,
    seed: u64,
) -> Scene {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scene = Scene::random(width, height, label_w, label_h, &mut rng);
    match hardship {
        Hardship::Narrow { px_per_module } => {
            scene.scale = px_per_module / FINE_MODULE as f32;
            scene.supersample = 4;
            scene.blur = 0;
            scene.noise = rng.random_range(2.0f32..5.0);
        }
        Hardship::Motion { length_px } => {
            scene.blur = 0;
            scene.motion_px = length_px;
            scene.motion_deg = rng.random_range(0.0f32..180.0);
            scene.noise = rng.random_range(2.0f32..5.0);
        }
        Hardship::Faded { contrast } => {
            scene.contrast = contrast;
            scene.noise = rng.random_range(3.0f32..6.0);
        }
    }
    scene
}

/// A `width × height` frame of the label `spec` under `hardship`, seeded.
pub fn hard_frame(
    hardship: Hardship,
    spec: &LabelSpec,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<GrayImage, LabelError> {
    let label = render_label(&hardship.label(spec))?;
    let scene = hard_scene(hardship, width, height, label.width(), label.height(), seed);
    Ok(compose(Some(&label), &scene))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean absolute difference between neighbours along x: how much fine detail is left.
    fn detail(img: &GrayImage) -> f64 {
        let (w, h) = img.dimensions();
        let mut sum = 0u64;
        for y in 0..h {
            for x in 1..w {
                sum += u64::from(img.get_pixel(x, y).0[0].abs_diff(img.get_pixel(x - 1, y).0[0]));
            }
        }
        sum as f64 / f64::from((w - 1) * h)
    }

    #[test]
    fn hard_frames_are_seeded_and_differ_by_hardship() {
        let spec = LabelSpec::new("EE123456785GB");
        let narrow = Hardship::Narrow { px_per_module: 1.0 };
        let a = hard_frame(narrow, &spec, 640, 480, 7).unwrap();
        let b = hard_frame(narrow, &spec, 640, 480, 7).unwrap();
        assert_eq!(a, b, "same seed, same bytes");
        assert_ne!(a, hard_frame(narrow, &spec, 640, 480, 8).unwrap());
        for h in [
            narrow,
            Hardship::Motion { length_px: 6.0 },
            Hardship::Faded { contrast: 0.25 },
        ] {
            assert_eq!(
                hard_frame(h, &spec, 640, 480, 1).unwrap().dimensions(),
                (640, 480)
            );
        }
    }

    #[test]
    fn motion_blur_and_fading_remove_detail() {
        let spec = LabelSpec::new("EE123456785GB");
        let label = render_label(&spec).unwrap();
        let still = hard_scene(
            Hardship::Motion { length_px: 0.0 },
            800,
            600,
            label.width(),
            label.height(),
            3,
        );
        let moving = Scene {
            motion_px: 8.0,
            motion_deg: 0.0,
            ..still.clone()
        };
        let quiet = |s: &Scene| Scene {
            noise: 0.0,
            ..s.clone()
        };
        let sharp = detail(&compose(Some(&label), &quiet(&still)));
        let blurred = detail(&compose(Some(&label), &quiet(&moving)));
        assert!(blurred < sharp * 0.6, "{blurred} vs {sharp}");
        let faded = Scene {
            contrast: 0.25,
            ..quiet(&still)
        };
        let faded = detail(&compose(Some(&label), &faded));
        assert!(faded < sharp * 0.5, "{faded} vs {sharp}");
    }
}
