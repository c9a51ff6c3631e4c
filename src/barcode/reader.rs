//! The reader: regions first, each decoded with the reader its texture calls for, in
//! parallel; retries as a fixed ladder; the whole frame only as the last resort.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::config::{BarcodeConfig, BarcodeConfigError, ReaderSettings};
use super::decode::{self, Threshold};
use super::regions::{Region, RegionKind, find_regions};
use super::sample::{Patch, refine_bar_angle, warp, warp_rows};
use super::{Format, Frame, Point, Symbol};

/// Frames up to this many pixels get the whole-frame pass even when the texture analysis
/// found no region (it costs a few milliseconds there).
const SMALL_FRAME: u64 = 1_100_000;
/// Frames up to this many pixels (640×480 and a little more) are close-ups of one symbol,
/// not station frames (1280×720 and up): rxing's fast whole-frame pass goes first.
const CLOSE_UP: u64 = 400_000;
/// Frames above this many pixels never get the whole-frame try-harder pass: on a 4K frame
/// it takes seconds (rxing's detectors scan every row).
const FALLBACK_MAX: u64 = 2_500_000;
/// A linear region of this many blocks is surely bars, worth retrying when it fails.
const STRONG_BARS: u32 = 12;
/// Matrix regions at least this elongated get the PDF417 reader in the fast pass.
const PDF417_ASPECT: f32 = 1.4;

/// A barcode reader built from validated settings. Cheap to share (`&Reader` across
/// threads); `read` allocates per call.
#[derive(Debug, Clone)]
pub struct Reader {
    settings: ReaderSettings,
}

/// What a read did, for logs and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Candidate regions decoded.
    pub regions: usize,
    /// The retry level that produced the result (0 fast pass, 1 region retries,
    /// 2 whole frame); the highest level tried when nothing was found.
    pub level: u8,
}

impl Reader {
    pub fn new(config: &BarcodeConfig) -> Result<Reader, BarcodeConfigError> {
        Ok(Reader {
            settings: ReaderSettings::try_from(config)?,
        })
    }

    pub fn from_settings(settings: ReaderSettings) -> Reader {
        Reader { settings }
    }

    pub fn settings(&self) -> &ReaderSettings {
        &self.settings
    }

    /// Every symbol in the frame, in a stable order (largest region first). The same
    /// symbol (format and text) seen in two regions is reported once.
    pub fn read(&self, frame: Frame<'_>) -> Vec<Symbol> {
        self.read_with_stats(frame).0
    }

    /// [`Reader::read`] on an `image::GrayImage`.
    pub fn read_gray(&self, img: &image::GrayImage) -> Vec<Symbol> {
        self.read(Frame::from_gray(img))
    }

    pub fn read_with_stats(&self, frame: Frame<'_>) -> (Vec<Symbol>, ReadStats) {
        let s = &self.settings;
        let mut stats = ReadStats::default();
        if frame.width < 8 || frame.height < 8 {
            return (Vec::new(), stats);
        }
        let pixels = u64::from(frame.width) * u64::from(frame.height);
        if pixels <= CLOSE_UP {
            // A close-up of one symbol: rxing's own fast whole-frame pass costs about a
            // millisecond here, less than region analysis plus several region decodes.
            let found = dedup(decode::whole(&frame, s, false));
            if !found.is_empty() {
                return (found, stats);
            }
        }
        let regions = find_regions(&frame, s.max_regions);
        stats.regions = regions.len();
        if !regions.is_empty() {
            let per_region = self.decode_each(&frame, &regions, 0);
            if per_region.iter().any(|f| !f.is_empty()) {
                // Something decoded. Strong bar regions that did not (faded print, a code
                // cut short by the region) get the retry ladder; texture that may be text
                // does not.
                let decoded: Vec<&Symbol> = per_region.iter().flatten().collect();
                let retry: Vec<usize> = (0..regions.len())
                    .filter(|&i| {
                        s.retries >= 1
                            && per_region[i].is_empty()
                            && regions[i].kind == RegionKind::Linear
                            && regions[i].blocks >= STRONG_BARS
                            // A piece of a code already read is not another code.
                            && !decoded.iter().any(|d| covers(d, regions[i].center))
                    })
                    .collect();
                if !retry.is_empty() {
                    stats.level = 1;
                }
                let again = par_map(retry.len(), s.threads, |k| {
                    self.retry_bars(&frame, &regions[retry[k]])
                });
                let mut per_region = per_region;
                for (k, found) in retry.into_iter().zip(again) {
                    per_region[k] = found;
                }
                return (dedup(per_region.into_iter().flatten().collect()), stats);
            }
        }
        if !regions.is_empty() && s.retries >= 1 {
            stats.level = 1;
            let found = self.decode_regions(&frame, &regions, 1);
            if !found.is_empty() {
                return (found, stats);
            }
        }
        if s.retries >= 2
            && pixels <= FALLBACK_MAX
            && (!regions.is_empty() || pixels <= SMALL_FRAME)
        {
            stats.level = 2;
            return (dedup(decode::whole(&frame, s, true)), stats);
        }
        (Vec::new(), stats)
    }

    fn decode_each(&self, frame: &Frame<'_>, regions: &[Region], level: u8) -> Vec<Vec<Symbol>> {
        par_map(regions.len(), self.settings.threads, |i| {
            self.decode_region(frame, &regions[i], level)
        })
    }

    fn decode_regions(&self, frame: &Frame<'_>, regions: &[Region], level: u8) -> Vec<Symbol> {
        dedup(
            self.decode_each(frame, regions, level)
                .into_iter()
                .flatten()
                .collect(),
        )
    }

    /// The retry for a bar region while other regions decoded: wider reach, the other
    /// thresholds and inverted print, then PDF417; no 2D try-harder.
    fn retry_bars(&self, frame: &Frame<'_>, r: &Region) -> Vec<Symbol> {
        let s = &self.settings;
        let r = &upright(frame, r);
        let patch = warp_rows(
            frame,
            r.center,
            r.angle,
            r.half_u * 1.5,
            r.half_v,
            0.5,
            &|y, h| decode::linear_reads_row(y, h),
        );
        if s.any_linear() {
            for (t, inv) in [
                (Threshold::Global, false),
                (Threshold::Local, false),
                (Threshold::Global, true),
            ] {
                let found = decode::linear(&patch, s, t, inv);
                if !found.is_empty() {
                    return found;
                }
            }
        }
        if s.enabled(Format::Pdf417) {
            let full = warp(frame, r.center, r.angle, r.half_u * 1.2, r.half_v, 1.0);
            return decode::matrix(&full, &[Format::Pdf417], false, false, true);
        }
        Vec::new()
    }

    fn decode_region(&self, frame: &Frame<'_>, r: &Region, level: u8) -> Vec<Symbol> {
        let s = &self.settings;
        let refined;
        let r = if r.kind == RegionKind::Linear {
            refined = upright(frame, r);
            &refined
        } else {
            r
        };
        // Linear codes are sampled at half-pixel steps: thin bars (1.5 px) keep their width.
        // Retries look further along the bars' axis, in case the region cut the code short.
        let (step, reach) = match (r.kind, level) {
            (RegionKind::Linear, 0) => (0.5, 1.1),
            (RegionKind::Linear, _) => (0.5, 1.5),
            _ => (1.0, 1.0),
        };
        let patch = if r.kind == RegionKind::Linear {
            // Only the scan lines: a quarter or less of the half-pixel patch.
            warp_rows(
                frame,
                r.center,
                r.angle,
                r.half_u * reach,
                r.half_v,
                step,
                &|y, h| decode::linear_reads_row(y, h),
            )
        } else {
            warp(frame, r.center, r.angle, r.half_u * reach, r.half_v, step)
        };
        let two_d: Vec<Format> = s
            .formats
            .iter()
            .copied()
            .filter(|f| !f.is_linear())
            .collect();
        match (r.kind, level) {
            (RegionKind::Linear, 0) => {
                if s.any_linear() {
                    // Edges second: modules about a pixel wide, and blur, need it.
                    for t in [Threshold::Global, Threshold::Edges] {
                        let found = decode::linear(&patch, s, t, false);
                        if !found.is_empty() {
                            return found;
                        }
                    }
                }
                if s.enabled(Format::Pdf417) {
                    // PDF417 rows need no half-pixel sampling: a quarter of the pixels.
                    let full = warp(frame, r.center, r.angle, r.half_u * 1.1, r.half_v, 1.0);
                    return decode::matrix(&full, &[Format::Pdf417], false, false, false);
                }
                Vec::new()
            }
            (RegionKind::Linear, _) => {
                if s.any_linear() {
                    for (t, inv) in [
                        (Threshold::Local, false),
                        (Threshold::Global, true),
                        (Threshold::Local, true),
                    ] {
                        let found = decode::linear(&patch, s, t, inv);
                        if !found.is_empty() {
                            return found;
                        }
                    }
                }
                let full = warp(frame, r.center, r.angle, r.half_u * 1.2, r.half_v, 1.0);
                retry_matrix(&full, &two_d)
            }
            (RegionKind::Matrix, 0) => {
                // PDF417 is wider than tall (17 modules a codeword, 3 a row); on squarish
                // texture (text, QR, Data Matrix) its detector is the slowest miss. Level 1
                // still tries it everywhere.
                let (long, short) = (r.half_u.max(r.half_v), r.half_u.min(r.half_v).max(1.0));
                let formats: Vec<Format> = two_d
                    .iter()
                    .copied()
                    .filter(|&f| f != Format::Pdf417 || long / short >= PDF417_ASPECT)
                    .collect();
                decode::matrix(&patch, &formats, false, false, false)
            }
            (RegionKind::Matrix, _) => {
                let found = retry_matrix(&patch, &two_d);
                if !found.is_empty() || !s.any_linear() {
                    return found;
                }
                // Blurred or noisy bars look like texture: scan both axes.
                for turn in [0.0, std::f32::consts::FRAC_PI_2] {
                    let turned;
                    let p = if turn == 0.0 {
                        &patch
                    } else {
                        turned = warp(frame, r.center, r.angle + turn, r.half_v, r.half_u, 1.0);
                        &turned
                    };
                    for (t, inv) in [(Threshold::Global, false), (Threshold::Local, false)] {
                        let found = decode::linear(p, s, t, inv);
                        if !found.is_empty() {
                            return found;
                        }
                    }
                }
                Vec::new()
            }
        }
    }
}

/// A bar region with its scan angle corrected from the bars (the texture's angle is off by
/// up to ~12° when modules are about a pixel wide).
fn upright(frame: &Frame<'_>, r: &Region) -> Region {
    Region {
        angle: refine_bar_angle(frame, r.center, r.angle, r.half_u, r.half_v),
        ..*r
    }
}

fn retry_matrix(patch: &Patch, two_d: &[Format]) -> Vec<Symbol> {
    if two_d.is_empty() {
        return Vec::new();
    }
    let found = decode::matrix(patch, two_d, true, false, true);
    if !found.is_empty() {
        return found;
    }
    decode::matrix(patch, two_d, true, true, false)
}

/// Whether `p` lies inside the symbol's quadrilateral (corners in order).
fn covers(sym: &Symbol, p: Point) -> bool {
    let c = &sym.corners;
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (c[i], c[(i + 1) % 4]);
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        if cross != 0.0 {
            if sign != 0.0 && cross.signum() != sign {
                return false;
            }
            sign = cross.signum();
        }
    }
    true
}

/// Keeps the first of each (format, text, bytes).
fn dedup(symbols: Vec<Symbol>) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = Vec::with_capacity(symbols.len());
    for s in symbols {
        if !out
            .iter()
            .any(|o| o.format == s.format && o.text == s.text && o.bytes == s.bytes)
        {
            out.push(s);
        }
    }
    out
}

/// `f(0..n)` on up to `threads` scoped threads; results in index order.
fn par_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.min(n);
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        mine.push((i, f(i)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            // A worker that panicked lost its regions; the others' results still count.
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    });
    parts.sort_by_key(|(i, _)| *i);
    parts.into_iter().map(|(_, t)| t).collect()
}
