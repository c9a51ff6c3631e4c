//! The calls into rxing: one reader per format on a patch, linear codes row by row on
//! an upright patch, and the whole-frame try-harder pass.

use rxing::common::{BitArray, GlobalHistogramBinarizer, HybridBinarizer};
use rxing::oned::{Code39Reader, Code128Reader, OneDReader};
use rxing::{
    Binarizer, BinaryBitmap, DecodeHints, Luma8Source, RXingResult, Reader,
    datamatrix::DataMatrixReader, pdf417::PDF417Reader, qrcode::QRCodeReader,
    qrcode::cpp_port::QrReader,
};

use super::config::ReaderSettings;
use super::sample::Patch;
use super::{Format, Frame, Point, Symbol};

fn hints(try_harder: bool) -> DecodeHints {
    DecodeHints {
        // rxing's helpers treat an unset TryHarder as on: always say which.
        TryHarder: Some(try_harder),
        ..DecodeHints::default()
    }
}

/// Orders four points clockwise (y down) starting from the one nearest the top-left.
fn quad(mut p: [Point; 4]) -> [Point; 4] {
    let cx = p.iter().map(|q| q.x).sum::<f32>() / 4.0;
    let cy = p.iter().map(|q| q.y).sum::<f32>() / 4.0;
    p.sort_by(|a, b| {
        (a.y - cy)
            .atan2(a.x - cx)
            .total_cmp(&(b.y - cy).atan2(b.x - cx))
    });
    let first = (0..4)
        .min_by(|&a, &b| (p[a].x + p[a].y).total_cmp(&(p[b].x + p[b].y)))
        .unwrap_or(0);
    p.rotate_left(first);
    p
}

/// The symbol's corners in frame coordinates from rxing's points in patch coordinates.
fn corners(points: &[rxing::Point], patch: &Patch) -> [Point; 4] {
    let f = |q: &rxing::Point| patch.to_frame(q.x, q.y);
    if points.len() >= 4 {
        quad([f(&points[0]), f(&points[1]), f(&points[2]), f(&points[3])])
    } else {
        // Fewer points (finder centres only): their bounding box in patch coordinates.
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for q in points {
            x0 = x0.min(q.x);
            y0 = y0.min(q.y);
            x1 = x1.max(q.x);
            y1 = y1.max(q.y);
        }
        if points.is_empty() {
            (x0, y0, x1, y1) = (0.0, 0.0, patch.width as f32, patch.height as f32);
        }
        [
            patch.to_frame(x0, y0),
            patch.to_frame(x1, y0),
            patch.to_frame(x1, y1),
            patch.to_frame(x0, y1),
        ]
    }
}

fn symbol(format: Format, r: &RXingResult, corners: [Point; 4]) -> Symbol {
    Symbol {
        format,
        text: r.getText().to_owned(),
        bytes: r.getRawBytes().to_vec(),
        corners,
    }
}

fn run_2d<B: Binarizer>(
    bitmap: &mut BinaryBitmap<B>,
    format: Format,
    h: &DecodeHints,
    java_qr: bool,
) -> Option<RXingResult> {
    let r = match format {
        Format::QrCode => QrReader.decode_with_hints(bitmap, h).or_else(|e| {
            if java_qr {
                QRCodeReader.decode_with_hints(bitmap, h)
            } else {
                Err(e)
            }
        }),
        Format::DataMatrix => DataMatrixReader.decode_with_hints(bitmap, h),
        Format::Pdf417 => PDF417Reader.decode_with_hints(bitmap, h),
        Format::Code128 | Format::Code39 => return None,
    };
    r.ok()
}

/// Tries each enabled 2D format (in `formats` order) on a patch; every format that
/// decodes gives one symbol. The fast pass (`try_harder` off) stops at the first symbol:
/// a region seldom holds two.
pub(crate) fn matrix(
    patch: &Patch,
    formats: &[Format],
    try_harder: bool,
    invert: bool,
    global_binarizer: bool,
) -> Vec<Symbol> {
    let data: std::borrow::Cow<'_, [u8]> = if invert {
        patch
            .data
            .iter()
            .map(|v| 255 - v)
            .collect::<Vec<u8>>()
            .into()
    } else {
        (&patch.data[..]).into()
    };
    let Ok(src) = Luma8Source::new_with_slice(&data, patch.width, patch.height) else {
        return Vec::new();
    };
    let h = hints(try_harder);
    let mut out = Vec::new();
    let mut push = |f: Format, r: Option<RXingResult>| {
        let found = r.is_some();
        if let Some(r) = r {
            out.push(symbol(f, &r, corners(r.getPoints(), patch)));
        }
        found
    };
    if global_binarizer {
        let mut bm = BinaryBitmap::new(GlobalHistogramBinarizer::new(src));
        for &f in formats.iter().filter(|f| !f.is_linear()) {
            if push(f, run_2d(&mut bm, f, &h, try_harder)) && !try_harder {
                break;
            }
        }
    } else {
        let mut bm = BinaryBitmap::new(HybridBinarizer::new(src));
        for &f in formats.iter().filter(|f| !f.is_linear()) {
            if push(f, run_2d(&mut bm, f, &h, try_harder)) && !try_harder {
                break;
            }
        }
    }
    out
}

/// How a scan line is cut into bars and spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threshold {
    /// Halfway between the row's dark and light ends (5th and 95th percentile).
    Global,
    /// A moving average over a window, for uneven light (glare, shadow).
    Local,
    /// Each edge where the row crosses halfway between neighbouring turning points, placed
    /// to a fraction of a sample: for modules about a pixel wide and for blur, where narrow
    /// bars never reach the row's global midpoint.
    Edges,
}

/// Reads linear codes across an upright patch (bars vertical): every distinct symbol on
/// its scan lines (a region may hold two codes stacked, say the postcode above the
/// waybill). Rows are tried from the middle outwards; each row averages a few pixel rows
/// to beat noise. A Code 39 read must be confirmed by a second row (it has no check
/// character); Code 128 carries its own.
pub(crate) fn linear(
    patch: &Patch,
    s: &ReaderSettings,
    threshold: Threshold,
    invert: bool,
) -> Vec<Symbol> {
    let mut found: Vec<Symbol> = Vec::new();
    let (w, h) = (patch.width as usize, patch.height as usize);
    if w < 24 || h == 0 {
        return found;
    }
    let band = band(h);
    let hints = hints(false);
    let mut c39 = Code39Reader::with_all_config(false, s.code39_full_ascii);
    let mut c128 = Code128Reader;
    // Code 39 texts read on one row so far, waiting for a second.
    let mut code39_seen: Vec<String> = Vec::new();
    let mut row = vec![0f32; w];
    let mut seen_rows = Vec::with_capacity(FRACTIONS.len());
    for frac in FRACTIONS {
        let y = ((h as f32 - 1.0) * frac).round() as usize;
        if seen_rows.contains(&y) {
            continue;
        }
        seen_rows.push(y);
        row.fill(0.0);
        let (ya, yb) = (y.saturating_sub(band), (y + band).min(h - 1));
        for yy in ya..=yb {
            for (acc, &v) in row.iter_mut().zip(&patch.data[yy * w..(yy + 1) * w]) {
                *acc += f32::from(v);
            }
        }
        let n = (yb - ya + 1) as f32;
        row.iter_mut().for_each(|v| *v /= n);
        let Some(bits) = binarize(&row, threshold, invert) else {
            continue;
        };
        // Bit positions per patch pixel.
        let per_px = (bits.get_size() / w) as f32;
        for reversed in [false, true] {
            let mut b = bits.clone();
            if reversed {
                b.reverse();
            }
            let flip = |x: f32| {
                let x = if reversed {
                    (b.get_size() - 1) as f32 - x
                } else {
                    x
                };
                x / per_px
            };
            let mut add = |format: Format, r: &RXingResult| {
                if let [p0, p1, ..] = r.getPoints()
                    && !found
                        .iter()
                        .any(|f| f.format == format && f.text == r.getText())
                {
                    let (x0, x1) = (flip(p0.x).min(flip(p1.x)), flip(p0.x).max(flip(p1.x)));
                    found.push(symbol(format, r, linear_corners(patch, x0, x1)));
                }
            };
            if s.enabled(Format::Code128)
                && let Ok(r) = c128.decode_row(y as u32, &b, &hints)
            {
                add(Format::Code128, &r);
                break;
            }
            if s.enabled(Format::Code39)
                && let Ok(r) = c39.decode_row(y as u32, &b, &hints)
            {
                if code39_seen.iter().any(|t| t == r.getText()) {
                    add(Format::Code39, &r);
                } else {
                    code39_seen.push(r.getText().to_owned());
                }
                break;
            }
        }
    }
    found
}

/// Where scan lines go, as fractions of the patch height: middle first, then outwards.
const FRACTIONS: [f32; 9] = [0.5, 0.38, 0.62, 0.26, 0.74, 0.44, 0.56, 0.15, 0.85];

/// Pixel rows averaged on each side of a scan line.
fn band(h: usize) -> usize {
    (h / 24).clamp(1, 3)
}

/// Whether [`linear`] reads row `y` of a patch `h` rows high (to sample only those).
pub(crate) fn linear_reads_row(y: usize, h: usize) -> bool {
    let b = band(h);
    FRACTIONS.iter().any(|f| {
        let c = ((h as f32 - 1.0) * f).round() as usize;
        y + b >= c && y <= c + b
    })
}

fn linear_corners(patch: &Patch, x0: f32, x1: f32) -> [Point; 4] {
    let y1 = patch.height as f32 - 1.0;
    [
        patch.to_frame(x0, 0.0),
        patch.to_frame(x1, 0.0),
        patch.to_frame(x1, y1),
        patch.to_frame(x0, y1),
    ]
}

/// Cuts a scan line into bars (set bits) and spaces; `None` when it has no contrast.
fn binarize(row: &[f32], threshold: Threshold, invert: bool) -> Option<BitArray> {
    // Dark and light ends from the middle of the row, where the code is: the ends of a
    // scan line may run off the label into a darker background.
    let n = row.len();
    let mut sorted: Vec<f32> = row[n / 5..n - n / 5].to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let lo = sorted[sorted.len() / 20];
    let hi = sorted[sorted.len() - 1 - sorted.len() / 20];
    if hi - lo < 24.0 {
        return None;
    }
    let mid = (lo + hi) / 2.0;
    if threshold == Threshold::Edges {
        return Some(edges(row, hi - lo, invert));
    }
    let mut bits = BitArray::with_size(row.len());
    match threshold {
        Threshold::Edges => {}
        Threshold::Global => {
            for (i, &v) in row.iter().enumerate() {
                if (v < mid) != invert {
                    bits.set(i);
                }
            }
        }
        Threshold::Local => {
            let r = (row.len() / 24).clamp(6, 40);
            let mut prefix = Vec::with_capacity(row.len() + 1);
            prefix.push(0f32);
            for &v in row {
                prefix.push(prefix[prefix.len() - 1] + v);
            }
            for (i, &v) in row.iter().enumerate() {
                let (a, b) = (i.saturating_sub(r), (i + r + 1).min(row.len()));
                let mean = (prefix[b] - prefix[a]) / (b - a) as f32;
                // Half local, half global: flat quiet zones stay white.
                let t = 0.5 * mean + 0.5 * mid;
                if (v < t) != invert {
                    bits.set(i);
                }
            }
        }
    }
    Some(bits)
}

/// Sub-steps per row sample when [`edges`] places edges.
const EDGE_SUBSTEPS: usize = 4;

/// [`Threshold::Edges`]: the row's turning points (maxima and minima that differ from the
/// last one by a swing above the noise), then an edge between each neighbouring pair where
/// the row crosses their midpoint, interpolated linearly. The bits are at
/// [`EDGE_SUBSTEPS`] per sample, so bar widths keep their fractions.
fn edges(row: &[f32], range: f32, invert: bool) -> BitArray {
    let n = row.len();
    let swing = (0.14 * range).max(5.0);
    // Alternating turning points (index, value).
    let mut turns: Vec<(usize, f32)> = Vec::new();
    let mut dir = 0i8;
    let (mut lo, mut hi) = ((0, row[0]), (0, row[0]));
    let mut cand = (0, row[0]);
    for (i, &v) in row.iter().enumerate().skip(1) {
        match dir {
            0 => {
                if v < lo.1 {
                    lo = (i, v);
                }
                if v > hi.1 {
                    hi = (i, v);
                }
                if v - lo.1 >= swing {
                    turns.push(lo);
                    (dir, cand) = (1, (i, v));
                } else if hi.1 - v >= swing {
                    turns.push(hi);
                    (dir, cand) = (-1, (i, v));
                }
            }
            1 if v > cand.1 => cand = (i, v),
            1 if cand.1 - v >= swing => {
                turns.push(cand);
                (dir, cand) = (-1, (i, v));
            }
            -1 if v < cand.1 => cand = (i, v),
            -1 if v - cand.1 >= swing => {
                turns.push(cand);
                (dir, cand) = (1, (i, v));
            }
            _ => {}
        }
    }
    if dir != 0 {
        turns.push(cand);
    }
    let mut bits = BitArray::with_size(n * EDGE_SUBSTEPS);
    let k = EDGE_SUBSTEPS as f32;
    // Dark around a minimum (light around it when inverted), from the edge before it to
    // the edge after it.
    let mut start = 0.0f32;
    for (t, &(i, v)) in turns.iter().enumerate() {
        let end = match turns.get(t + 1) {
            Some(&(j, w)) => {
                let mid = (v + w) / 2.0;
                (i..j)
                    .find(|&x| (row[x] - mid) * (row[x + 1] - mid) <= 0.0 && row[x] != row[x + 1])
                    .map_or((i + j) as f32 / 2.0, |x| {
                        x as f32 + (mid - row[x]) / (row[x + 1] - row[x])
                    })
            }
            None => n as f32,
        };
        let is_min = turns
            .get(t + 1)
            .or(t.checked_sub(1).and_then(|p| turns.get(p)))
            .is_some_and(|&(_, w)| v < w);
        if is_min != invert {
            let (a, b) = (
                (start * k).round() as usize,
                ((end * k).round() as usize).min(n * EDGE_SUBSTEPS),
            );
            for b in a..b {
                bits.set(b);
            }
        }
        start = end;
    }
    bits
}

/// The whole frame, every enabled format; with `try_harder` rxing's own full row scan and
/// 90° rotation for linear codes. The last resort when regions found nothing.
pub(crate) fn whole(frame: &Frame<'_>, s: &ReaderSettings, try_harder: bool) -> Vec<Symbol> {
    let Ok(src) = Luma8Source::new_with_slice(frame.data, frame.width, frame.height) else {
        return Vec::new();
    };
    let patch = super::sample::identity(frame);
    let mut bm = BinaryBitmap::new(HybridBinarizer::new(src));
    let h = hints(try_harder);
    let mut out = Vec::new();
    for &f in &s.formats {
        let r = match f {
            Format::Code128 => Code128Reader.decode_with_hints(&mut bm, &h).ok(),
            Format::Code39 => Code39Reader::with_all_config(false, s.code39_full_ascii)
                .decode_with_hints(&mut bm, &h)
                .ok(),
            _ => run_2d(&mut bm, f, &h, try_harder),
        };
        if let Some(r) = r {
            let pts = r.getPoints();
            let c = if f.is_linear() && pts.len() >= 2 {
                let (a, b) = (
                    Point {
                        x: pts[0].x,
                        y: pts[0].y,
                    },
                    Point {
                        x: pts[1].x,
                        y: pts[1].y,
                    },
                );
                [a, b, b, a]
            } else {
                corners(pts, &patch)
            };
            out.push(symbol(f, &r, c));
        }
    }
    out
}
