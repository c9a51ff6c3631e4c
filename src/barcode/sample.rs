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
