//! Cutting regions out of a frame: an upright (deskewed) resample with bilinear
//! interpolation, and the map from the cut-out's pixels back to the frame.

use super::{Frame, Point};

/// A region resampled upright: its x axis runs along the region's angle.
pub(crate) struct Patch {
    pub(crate) data: Vec<u8>,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Frame point of the patch's pixel (0, 0) centre, and the frame step per patch pixel
    /// along the patch's x and y axes.
    origin: Point,
    ex: Point,
    ey: Point,
}

impl Patch {
    /// The frame point of patch coordinates `(x, y)`.
    pub(crate) fn to_frame(&self, x: f32, y: f32) -> Point {
        Point {
            x: self.origin.x + x * self.ex.x + y * self.ey.x,
            y: self.origin.y + x * self.ex.y + y * self.ey.y,
        }
    }
}

/// Resamples the oriented box (`center`, `angle`, half extents) at `scale` frame pixels per
/// patch pixel. Pixels outside the frame repeat the nearest edge pixel.
pub(crate) fn warp(
    frame: &Frame<'_>,
    center: Point,
    angle: f32,
    half_u: f32,
    half_v: f32,
    scale: f32,
) -> Patch {
    warp_rows(frame, center, angle, half_u, half_v, scale, &|_, _| true)
}

/// [`warp`] that fills only the rows `wanted` says (the others stay 0): a linear code is
/// read on a few scan lines, not the whole patch.
pub(crate) fn warp_rows(
    frame: &Frame<'_>,
    center: Point,
    angle: f32,
    half_u: f32,
    half_v: f32,
    scale: f32,
    wanted: &dyn Fn(usize, usize) -> bool,
) -> Patch {
    let width = ((2.0 * half_u / scale).ceil() as u32).clamp(1, 8192);
    let height = ((2.0 * half_v / scale).ceil() as u32).clamp(1, 8192);
    let (c, s) = (angle.cos(), angle.sin());
    let ex = Point {
        x: c * scale,
        y: s * scale,
    };
    let ey = Point {
        x: -s * scale,
        y: c * scale,
    };
    let (hx, hy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
    let origin = Point {
        x: center.x - hx * ex.x - hy * ey.x,
        y: center.y - hx * ex.y - hy * ey.y,
    };
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    let maxx = (fw - 1) as f32;
    let maxy = (fh - 1) as f32;
    let mut data = vec![0u8; width as usize * height as usize];
    let mut k = 0;
    for j in 0..height {
        if !wanted(j as usize, height as usize) {
            k += width as usize;
            continue;
        }
        let rx = origin.x + j as f32 * ey.x;
        let ry = origin.y + j as f32 * ey.y;
        for i in 0..width {
            let x = (rx + i as f32 * ex.x).clamp(0.0, maxx);
            let y = (ry + i as f32 * ex.y).clamp(0.0, maxy);
            let (x0, y0) = (x as usize, y as usize);
            let (x1, y1) = ((x0 + 1).min(fw - 1), (y0 + 1).min(fh - 1));
            let (ax, ay) = (x - x0 as f32, y - y0 as f32);
            let p00 = f32::from(frame.px(x0, y0));
            let p10 = f32::from(frame.px(x1, y0));
            let p01 = f32::from(frame.px(x0, y1));
            let p11 = f32::from(frame.px(x1, y1));
            let top = p00 + (p10 - p00) * ax;
            let bot = p01 + (p11 - p01) * ax;
            data[k] = (top + (bot - top) * ay + 0.5) as u8;
            k += 1;
        }
    }
    Patch {
        data,
        width,
        height,
        origin,
        ex,
        ey,
    }
}

/// The frame itself as a coordinate system (no pixels copied).
pub(crate) fn identity(frame: &Frame<'_>) -> Patch {
    Patch {
        data: Vec::new(),
        width: frame.width,
        height: frame.height,
        origin: Point { x: 0.0, y: 0.0 },
        ex: Point { x: 1.0, y: 0.0 },
        ey: Point { x: 0.0, y: 1.0 },
    }
}

/// The frame along one line: `n` bilinear samples `step` pixels apart, centred on the
/// point `v` pixels across `center` (perpendicular to `angle`), running along `angle`.
fn profile(frame: &Frame<'_>, center: Point, angle: f32, v: f32, n: usize, step: f32) -> Vec<f32> {
    let (c, s) = (angle.cos(), angle.sin());
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    let (maxx, maxy) = ((fw - 1) as f32, (fh - 1) as f32);
    let half = (n as f32 - 1.0) / 2.0;
    (0..n)
        .map(|i| {
            let t = (i as f32 - half) * step;
            let x = (center.x + t * c - v * s).clamp(0.0, maxx);
            let y = (center.y + t * s + v * c).clamp(0.0, maxy);
            let (x0, y0) = (x as usize, y as usize);
            let (x1, y1) = ((x0 + 1).min(fw - 1), (y0 + 1).min(fh - 1));
            let (ax, ay) = (x - x0 as f32, y - y0 as f32);
            let top = f32::from(frame.px(x0, y0)) * (1.0 - ax) + f32::from(frame.px(x1, y0)) * ax;
            let bot = f32::from(frame.px(x0, y1)) * (1.0 - ax) + f32::from(frame.px(x1, y1)) * ax;
            top * (1.0 - ay) + bot * ay
        })
        .collect()
}

/// Corrects a bar region's scan angle from the bars themselves: two scan lines a few
/// pixels apart see the same bars shifted by the angle's error; the shift with the best
/// correlation gives the correction. Tried on pairs across the region (it may hold two
/// codes); the answer of the best-correlated pair is used when that correlation is
/// clear, otherwise the angle is kept.
pub(crate) fn refine_bar_angle(
    frame: &Frame<'_>,
    center: Point,
    angle: f32,
    half_u: f32,
    half_v: f32,
) -> f32 {
    const STEP: f32 = 0.5;
    let gap = (half_v * 0.4).clamp(4.0, 10.0);
    // Up to 16° of error.
    let max_shift = ((gap * 2.0 * 0.29) / STEP).ceil() as isize;
    let n = ((2.0 * half_u) / STEP) as usize;
    if n < 64 {
        return angle;
    }
    let mut best: Option<(f32, f32)> = None;
    for at in [0.0, -0.5, 0.5] {
        let v = at * half_v;
        let a = profile(frame, center, angle, v - gap, n, STEP);
        let b = profile(frame, center, angle, v + gap, n, STEP);
        let Some((shift, score)) = best_shift(&a, &b, max_shift) else {
            continue;
        };
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((shift, score));
        }
    }
    match best {
        Some((shift, score)) if score >= 0.5 => angle - (shift * STEP).atan2(2.0 * gap),
        _ => angle,
    }
}

/// The shift of `b` against `a` (in samples, refined between samples with a parabola)
/// that correlates best, and that normalised correlation; `None` for flat lines.
fn best_shift(a: &[f32], b: &[f32], max_shift: isize) -> Option<(f32, f32)> {
    let n = a.len() as isize;
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (ma, mb) = (mean(a), mean(b));
    let score = |d: isize| {
        let (mut sab, mut saa, mut sbb) = (0.0f32, 0.0f32, 0.0f32);
        for i in max_shift..n - max_shift {
            let (x, y) = (a[i as usize] - ma, b[(i + d) as usize] - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        if saa <= 0.0 || sbb <= 0.0 {
            return None;
        }
        Some(sab / (saa * sbb).sqrt())
    };
    if n <= 2 * max_shift + 8 {
        return None;
    }
    let scores: Vec<f32> = (-max_shift..=max_shift)
        .map(score)
        .collect::<Option<Vec<f32>>>()?;
    let (k, &top) = scores
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))?;
    // Parabola through the peak and its neighbours.
    let frac = if k > 0 && k + 1 < scores.len() {
        let (l, r) = (scores[k - 1], scores[k + 1]);
        let den = l - 2.0 * top + r;
        if den < 0.0 { 0.5 * (l - r) / den } else { 0.0 }
    } else {
        0.0
    };
    Some((k as f32 - max_shift as f32 + frac, top))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random-width bars across a whole frame, scan direction `angle`, about `module` px
    /// per module, area-sampled.
    fn bars(angle: f32, module: f32) -> (Vec<u8>, u32, u32) {
        let (w, h) = (400u32, 300u32);
        // Widths 1–4 modules from a fixed pattern.
        let widths = [1, 3, 1, 2, 4, 1, 1, 2, 3, 1, 2, 1, 4, 2, 1, 3];
        let mut edges = vec![0.0f32];
        let mut i = 0;
        while *edges.last().unwrap_or(&0.0) < 600.0 {
            let last = edges[edges.len() - 1];
            edges.push(last + widths[i % widths.len()] as f32 * module);
            i += 1;
        }
        let (c, s) = (angle.cos(), angle.sin());
        let mut data = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let mut dark = 0.0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let fx = x as f32 + (sx as f32 + 0.5) / 4.0 - w as f32 / 2.0;
                        let fy = y as f32 + (sy as f32 + 0.5) / 4.0 - h as f32 / 2.0;
                        let u = fx * c + fy * s + 300.0;
                        let k = edges.partition_point(|&e| e <= u);
                        if k % 2 == 1 {
                            dark += 1.0 / 16.0;
                        }
                    }
                }
                data.push((230.0 - 200.0 * dark) as u8);
            }
        }
        (data, w, h)
    }

    #[test]
    fn a_bar_angle_off_by_degrees_is_corrected_from_the_bars() {
        for (truth, module) in [(-0.47f32, 1.0f32), (0.9, 1.2), (2.1, 2.5)] {
            let (data, w, h) = bars(truth, module);
            let frame = Frame::new(&data, w, h).unwrap();
            let center = Point { x: 200.0, y: 150.0 };
            for off in [-0.2f32, -0.1, 0.08, 0.15] {
                let got = refine_bar_angle(&frame, center, truth + off, 120.0, 30.0);
                let err = (got - truth).abs();
                assert!(err < off.abs() / 3.0, "truth {truth} off {off}: got {got}");
            }
        }
    }
}
