//! A camera frame around a label: a textured background, the label pasted at a place,
//! angle and size, optics blur and sensor noise. Seeded: the same scene gives the same
//! frame bytes.

use image::GrayImage;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How one frame is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    /// Where the label's centre lands in the frame, pixels.
    pub center: (f32, f32),
    /// Label rotation, degrees counter-clockwise as seen on screen.
    pub angle_deg: f32,
    /// Frame pixels per label pixel.
    pub scale: f32,
    /// Box-blur radius in pixels (0 = sharp); two passes approximate a Gaussian.
    pub blur: u32,
    /// Sensor noise, standard deviation in grey levels.
    pub noise: f32,
    /// Print contrast: 1 black on white; 0.3 faded print.
    pub contrast: f32,
    /// White print on a dark label.
    pub invert: bool,
    /// Motion blur: how far the label moved while the shutter was open, frame pixels
    /// (0 = still). A linear kernel of this length along `motion_deg`.
    pub motion_px: f32,
    /// Direction of that motion, degrees counter-clockwise as seen on screen.
    pub motion_deg: f32,
    /// Samples per frame pixel side when the label is pasted: 1 point-samples the label
    /// (as the simulated dock always has); more integrate each frame pixel over its area,
    /// as a sensor does, which matters when the label is scaled down to ~1 px per module.
    pub supersample: u32,
    /// Seed for the background texture and the noise.
    pub seed: u64,
}

impl Scene {
    /// A plain scene: the label upright in the middle, sharp, a little noise.
    pub fn centered(width: u32, height: u32, seed: u64) -> Scene {
        Scene {
            width,
            height,
            center: (width as f32 / 2.0, height as f32 / 2.0),
            angle_deg: 0.0,
            scale: 1.0,
            blur: 0,
            noise: 4.0,
            contrast: 1.0,
            invert: false,
            motion_px: 0.0,
            motion_deg: 0.0,
            supersample: 1,
            seed,
        }
    }

    /// A random scene in which a `label_w × label_h` label fits whole: any angle, scale
    /// 0.8–1.2 (kept within the frame), light blur, noise σ 2–8, contrast 0.6–1.
    pub fn random(
        width: u32,
        height: u32,
        label_w: u32,
        label_h: u32,
        rng: &mut impl Rng,
    ) -> Scene {
        let angle_deg = rng.random_range(0.0f32..360.0);
        let diag = ((label_w * label_w + label_h * label_h) as f32).sqrt();
        let fit = (0.9 * width.min(height) as f32 / diag).min(1.2);
        let scale = rng.random_range(0.8f32.min(fit)..=fit.max(0.8f32.min(fit)));
        let r = diag * scale / 2.0 + 4.0;
        let cx = rng
            .random_range(r.min(width as f32 / 2.0)..=(width as f32 - r).max(width as f32 / 2.0));
        let cy = rng.random_range(
            r.min(height as f32 / 2.0)..=(height as f32 - r).max(height as f32 / 2.0),
        );
        Scene {
            width,
            height,
            center: (cx, cy),
            angle_deg,
            scale,
            blur: rng.random_range(0..=1),
            noise: rng.random_range(2.0f32..8.0),
            contrast: rng.random_range(0.6f32..1.0),
            invert: false,
            motion_px: 0.0,
            motion_deg: 0.0,
            supersample: 1,
            seed: rng.random(),
        }
    }
}

/// Renders the frame: background, the label (if any), motion and optics blur over the
/// label, noise.
pub fn compose(label: Option<&GrayImage>, scene: &Scene) -> GrayImage {
    let (w, h) = (scene.width as usize, scene.height as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(scene.seed);
    // Background: a surface with a gentle light gradient and a few large blotches.
    let base = rng.random_range(70.0f32..150.0);
    let gx = rng.random_range(-30.0f32..30.0) / w.max(1) as f32;
    let gy = rng.random_range(-30.0f32..30.0) / h.max(1) as f32;
    let mut px = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            px[y * w + x] = base + gx * x as f32 + gy * y as f32;
        }
    }
    for _ in 0..6 {
        let (bx, by) = (rng.random_range(0..w.max(1)), rng.random_range(0..h.max(1)));
        let (bw, bh) = (
            rng.random_range(w / 20..w / 4 + 2),
            rng.random_range(h / 20..h / 4 + 2),
        );
        let dv = rng.random_range(-25.0f32..25.0);
        for y in by..(by + bh).min(h) {
            for x in bx..(bx + bw).min(w) {
                px[y * w + x] += dv;
            }
        }
    }
    if let Some(l) = label {
        let bbox = paste(&mut px, w, h, l, scene, &mut rng);
        if scene.motion_px >= 1.0 {
            let m = scene.motion_px.ceil() as usize + 1;
            let area = (
                bbox.0.saturating_sub(m),
                bbox.1.saturating_sub(m),
                (bbox.2 + m).min(w),
                (bbox.3 + m).min(h),
            );
            motion_blur(&mut px, w, area, scene.motion_px, scene.motion_deg);
        }
        if scene.blur > 0 {
            let r = scene.blur as usize;
            let (x0, y0) = (bbox.0.saturating_sub(3 * r), bbox.1.saturating_sub(3 * r));
            let (x1, y1) = ((bbox.2 + 3 * r).min(w), (bbox.3 + 3 * r).min(h));
            for _ in 0..2 {
                box_blur(&mut px, w, (x0, y0, x1, y1), r);
            }
        }
    }
    // Noise: the sum of two uniforms (triangular), scaled to σ.
    let mut bytes = vec![0u8; w * h * 2];
    rng.fill_bytes(&mut bytes);
    // σ of (a + b − 255) for uniform bytes a, b is 255/√6 ≈ 104.
    let k = scene.noise / 104.1;
    let out: Vec<u8> = px
        .iter()
        .zip(bytes.chunks_exact(2))
        .map(|(&v, n)| {
            let noise = (f32::from(n[0]) + f32::from(n[1]) - 255.0) * k;
            (v + noise).round().clamp(0.0, 255.0) as u8
        })
        .collect();
    // The buffer has exactly width × height bytes by construction.
    GrayImage::from_raw(scene.width, scene.height, out).unwrap_or_default()
}

/// Pastes the label (bilinear, inverse-mapped) and returns its frame bounding box.
fn paste(
    px: &mut [f32],
    w: usize,
    h: usize,
    label: &GrayImage,
    scene: &Scene,
    rng: &mut ChaCha8Rng,
) -> (usize, usize, usize, usize) {
    let (lw, lh) = (label.width() as f32, label.height() as f32);
    let a = -scene.angle_deg.to_radians();
    let (c, s) = (a.cos(), a.sin());
    let (cx, cy) = scene.center;
    let hw = (lw * c.abs() + lh * s.abs()) * scene.scale / 2.0 + 2.0;
    let hh = (lw * s.abs() + lh * c.abs()) * scene.scale / 2.0 + 2.0;
    let x0 = (cx - hw).floor().clamp(0.0, w as f32) as usize;
    let x1 = (cx + hw).ceil().clamp(0.0, w as f32) as usize;
    let y0 = (cy - hh).floor().clamp(0.0, h as f32) as usize;
    let y1 = (cy + hh).ceil().clamp(0.0, h as f32) as usize;
    let paper = rng.random_range(205.0f32..245.0);
    let ink = paper - scene.contrast.clamp(0.0, 1.0) * (paper - 25.0);
    let (lwu, lhu) = (label.width() as usize, label.height() as usize);
    let raw = label.as_raw();
    let at = |x: usize, y: usize| f32::from(raw[y.min(lhu - 1) * lwu + x.min(lwu - 1)]);
    // Label brightness (0..=1) at frame point (fx, fy), or None off the label.
    let sample = |fx: f32, fy: f32| {
        // Frame → label: undo the translation, rotation and scale.
        let (dx, dy) = (fx - cx, fy - cy);
        let u = (c * dx + s * dy) / scene.scale + lw / 2.0 - 0.5;
        let v = (-s * dx + c * dy) / scene.scale + lh / 2.0 - 0.5;
        if u < -0.5 || v < -0.5 || u > lw - 0.5 || v > lh - 0.5 {
            return None;
        }
        let (u, v) = (u.max(0.0), v.max(0.0));
        let (ui, vi) = (u as usize, v as usize);
        let (fu, fv) = (u - ui as f32, v - vi as f32);
        let top = at(ui, vi) + (at(ui + 1, vi) - at(ui, vi)) * fu;
        let bot = at(ui, vi + 1) + (at(ui + 1, vi + 1) - at(ui, vi + 1)) * fu;
        Some((top + (bot - top) * fv) / 255.0)
    };
    let n = scene.supersample.clamp(1, 16);
    let sub = 1.0 / n as f32;
    for y in y0..y1 {
        for x in x0..x1 {
            // The label's share of the pixel's area and its mean brightness there: one
            // point sample (n = 1, the dock's frames), or n × n over the pixel.
            let (mut sum, mut on) = (0.0f32, 0u32);
            for j in 0..n {
                for i in 0..n {
                    let (sx, sy) = if n == 1 {
                        (x as f32 + 0.5, y as f32 + 0.5)
                    } else {
                        (
                            x as f32 + (i as f32 + 0.5) * sub,
                            y as f32 + (j as f32 + 0.5) * sub,
                        )
                    };
                    if let Some(t) = sample(sx, sy) {
                        sum += t;
                        on += 1;
                    }
                }
            }
            if on == 0 {
                continue;
            }
            let t = sum / on as f32;
            let t = if scene.invert { 1.0 - t } else { t };
            // Sub-samples off the label see the background already there.
            let share = on as f32 / (n * n) as f32;
            px[y * w + x] = (1.0 - share) * px[y * w + x] + share * (ink + (paper - ink) * t);
        }
    }
    (x0, y0, x1, y1)
}

/// A linear motion blur inside `area`: each pixel becomes the mean of the points on a
/// segment `len` pixels long through it, along `deg` (bilinear samples, a half-pixel
/// apart).
fn motion_blur(px: &mut [f32], w: usize, area: (usize, usize, usize, usize), len: f32, deg: f32) {
    let (x0, y0, x1, y1) = area;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let (aw, ah) = (x1 - x0, y1 - y0);
    let src: Vec<f32> = (y0..y1)
        .flat_map(|y| px[y * w + x0..y * w + x1].iter().copied())
        .collect();
    let at = |x: f32, y: f32| {
        let x = x.clamp(0.0, (aw - 1) as f32);
        let y = y.clamp(0.0, (ah - 1) as f32);
        let (xi, yi) = (x as usize, y as usize);
        let (xj, yj) = ((xi + 1).min(aw - 1), (yi + 1).min(ah - 1));
        let (fx, fy) = (x - xi as f32, y - yi as f32);
        let top = src[yi * aw + xi] + (src[yi * aw + xj] - src[yi * aw + xi]) * fx;
        let bot = src[yj * aw + xi] + (src[yj * aw + xj] - src[yj * aw + xi]) * fx;
        top + (bot - top) * fy
    };
    // Screen angles are counter-clockwise with y down.
    let (dx, dy) = (deg.to_radians().cos(), -deg.to_radians().sin());
    let steps = (2.0 * len).ceil().max(1.0) as usize;
    for y in 0..ah {
        for x in 0..aw {
            let mut sum = 0.0;
            for k in 0..=steps {
                let t = len * (k as f32 / steps as f32 - 0.5);
                sum += at(x as f32 + t * dx, y as f32 + t * dy);
            }
            px[(y0 + y) * w + x0 + x] = sum / (steps + 1) as f32;
        }
    }
}

/// One horizontal and one vertical box-blur pass of radius `r` inside `area`.
fn box_blur(px: &mut [f32], w: usize, area: (usize, usize, usize, usize), r: usize) {
    let (x0, y0, x1, y1) = area;
    let mut line = Vec::new();
    for y in y0..y1 {
        line.clear();
        line.extend_from_slice(&px[y * w + x0..y * w + x1]);
        for x in x0..x1 {
            let (a, b) = ((x - x0).saturating_sub(r), (x - x0 + r + 1).min(x1 - x0));
            px[y * w + x] = line[a..b].iter().sum::<f32>() / (b - a) as f32;
        }
    }
    for x in x0..x1 {
        line.clear();
        line.extend((y0..y1).map(|y| px[y * w + x]));
        for y in y0..y1 {
            let (a, b) = ((y - y0).saturating_sub(r), (y - y0 + r + 1).min(y1 - y0));
            px[y * w + x] = line[a..b].iter().sum::<f32>() / (b - a) as f32;
        }
    }
}
