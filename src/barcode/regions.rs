//! Candidate regions: where in a frame a symbol may be, found without decoding.
//!
//! The frame is cut into square blocks (8, 16 or 32 px by frame size). In each block a
//! fixed 8×8 grid of pixels is probed with a gradient (central difference, or a one-pixel
//! one where that is larger: bars a pixel wide); probes above an
//! edge threshold count as edges and feed a structure tensor. A block with many edges is
//! *textured*; a textured block whose edges all run one way (high coherence) looks like
//! bars. Neighbouring bar blocks with the same orientation form a [`RegionKind::Linear`]
//! region; the other textured blocks form [`RegionKind::Matrix`] regions. Cost: 64 probes a
//! block, about 0.5 M probes on a 1080p or a 4K frame, independent of what is in it.

use super::{Frame, Point};

/// Edge threshold on |gx| + |gy| of a central difference (two pixels apart). A sharp
/// black/white edge gives ~200, a blurred low-contrast one ~40, faded thermal print at a
/// quarter of full contrast ~30–50, sensor noise of σ 8 ~18 (26, not 36: faded print).
const EDGE: i32 = 26;
/// Probes per block side.
const PROBES: usize = 8;
/// A block with at least this many edge probes (of 64) is textured.
const MIN_EDGES: u32 = 12;
/// Coherence from which a block's edges count as parallel bars.
const BAR_COHERENCE: f32 = 0.72;
/// Coherence from which a textured block next to a bar region, turned its way, is taken as
/// more of its bars (modules about a pixel wide blur a block's edge directions).
const EXTEND_COHERENCE: f32 = 0.35;
/// Largest angle between neighbouring bar blocks of one region.
const MAX_BEND: f32 = 14.0 * std::f32::consts::PI / 180.0;

/// What a region's texture suggests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RegionKind {
    /// Parallel bars: a linear code (or a PDF417) scanned along `angle`.
    Linear,
    /// Edges in several directions: a 2D code, or text.
    Matrix,
}

/// An oriented box in frame coordinates that may hold a symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub kind: RegionKind,
    pub center: Point,
    /// Direction of the box's first axis, radians. For linear regions the scan direction
    /// (across the bars); for matrix regions the dominant edge direction modulo 90°.
    pub angle: f32,
    /// Half the box's extent along `angle` and across it, margins included.
    pub half_u: f32,
    pub half_v: f32,
    /// Textured blocks in the region (its weight when ranking).
    pub blocks: u32,
    /// How much the region's edges run one way, 0..=1 (bars near 1, text lower), and the
    /// direction across them, radians: a matrix region of bars a pixel wide (whose blocks
    /// alone look too noisy for bars) is still read along it.
    pub coherence: f32,
    pub grain: f32,
    /// Block side in frame pixels.
    pub block: u32,
}

impl Region {
    /// The axis-aligned bounding box `(x0, y0, x1, y1)`, clamped to the frame.
    pub fn bbox(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let (c, s) = (self.angle.cos().abs(), self.angle.sin().abs());
        let hw = self.half_u * c + self.half_v * s;
        let hh = self.half_u * s + self.half_v * c;
        let x0 = (self.center.x - hw).floor().max(0.0) as u32;
        let y0 = (self.center.y - hh).floor().max(0.0) as u32;
        let x1 = ((self.center.x + hw).ceil().max(0.0) as u32).min(width);
        let y1 = ((self.center.y + hh).ceil().max(0.0) as u32).min(height);
        (x0, y0, x1.max(x0), y1.max(y0))
    }
}

#[derive(Clone, Copy, Default)]
struct Block {
    edges: u32,
    sxx: f32,
    syy: f32,
    sxy: f32,
    /// Σ m·cos 4φ and Σ m·sin 4φ: edge direction modulo 90°.
    c4: f32,
    s4: f32,
}

impl Block {
    fn coherence(&self) -> f32 {
        let t = self.sxx + self.syy;
        if t <= 0.0 {
            return 0.0;
        }
        ((self.sxx - self.syy).powi(2) + 4.0 * self.sxy * self.sxy).sqrt() / t
    }

    fn angle(&self) -> f32 {
        0.5 * (2.0 * self.sxy).atan2(self.sxx - self.syy)
    }

    fn add(&mut self, o: &Block) {
        self.edges += o.edges;
        self.sxx += o.sxx;
        self.syy += o.syy;
        self.sxy += o.sxy;
        self.c4 += o.c4;
        self.s4 += o.s4;
    }
}

/// The block side for a frame: about 120 blocks across the longer side.
pub(crate) fn block_size(width: u32, height: u32) -> u32 {
    match width.max(height) {
        0..=1100 => 8,
        1101..=2200 => 16,
        _ => 32,
    }
}

fn analyse(frame: &Frame<'_>, bs: usize) -> (usize, usize, Vec<Block>) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (bw, bh) = (w / bs, h / bs);
    let step = bs / PROBES;
    let mut blocks = vec![Block::default(); bw * bh];
    let d = frame.data;
    for by in 0..bh {
        for py in 0..PROBES {
            let y = by * bs + py * step + step / 2;
            if y == 0 || y + 1 >= h {
                continue;
            }
            let row = &d[y * w..(y + 1) * w];
            let up = &d[(y - 1) * w..y * w];
            let down = &d[(y + 1) * w..(y + 2) * w];
            for bx in 0..bw {
                let b = &mut blocks[by * bw + bx];
                for px in 0..PROBES {
                    let x = bx * bs + px * step + step / 2;
                    if x == 0 || x + 1 >= w {
                        continue;
                    }
                    // Central differences, or one-pixel ones where those are larger:
                    // bars about a pixel wide alternate every pixel, and a difference
                    // two pixels apart sees the same colour on both sides.
                    let v = i32::from(row[x]);
                    let gx = pick(
                        i32::from(row[x + 1]) - i32::from(row[x - 1]),
                        i32::from(row[x + 1]) - v,
                    );
                    let gy = pick(
                        i32::from(down[x]) - i32::from(up[x]),
                        i32::from(down[x]) - v,
                    );
                    if gx.abs() + gy.abs() < EDGE {
                        continue;
                    }
                    let (fx, fy) = (gx as f32, gy as f32);
                    let (xx, yy, xy) = (fx * fx, fy * fy, fx * fy);
                    b.edges += 1;
                    b.sxx += xx;
                    b.syy += yy;
                    b.sxy += xy;
                    let m2 = xx + yy;
                    let (c2, s2) = ((xx - yy) / m2, 2.0 * xy / m2);
                    let m = m2.sqrt();
                    b.c4 += m * (c2 * c2 - s2 * s2);
                    b.s4 += m * 2.0 * c2 * s2;
                }
            }
        }
    }
    (bw, bh, blocks)
}

/// The larger of a central and a one-pixel difference (the central one on ties).
#[inline]
fn pick(central: i32, one: i32) -> i32 {
    if one.abs() > central.abs() {
        one
    } else {
        central
    }
}

fn angle_diff(a: f32, b: f32) -> f32 {
    // Orientations modulo π.
    let pi = std::f32::consts::PI;
    let d = (a - b).rem_euclid(pi);
    d.min(pi - d)
}

/// Finds candidate regions, heaviest first (ties by position), at most `max` of them.
/// An empty result means the frame has no symbol-like texture at all.
pub fn find_regions(frame: &Frame<'_>, max: usize) -> Vec<Region> {
    let bs = block_size(frame.width, frame.height) as usize;
    let (bw, bh, blocks) = analyse(frame, bs);
    if bw == 0 || bh == 0 {
        return Vec::new();
    }
    // 0 = plain, 1 = bars, 2 = other texture.
    let class: Vec<u8> = blocks
        .iter()
        .map(|b| {
            if b.edges < MIN_EDGES {
                0
            } else if b.coherence() >= BAR_COHERENCE {
                1
            } else {
                2
            }
        })
        .collect();
    let angles: Vec<f32> = blocks.iter().map(Block::angle).collect();
    let mut label = vec![u32::MAX; bw * bh];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    let mut members = Vec::new();
    for start in 0..bw * bh {
        if class[start] == 0 || label[start] != u32::MAX {
            continue;
        }
        let kind = class[start];
        let id = regions.len() as u32;
        label[start] = id;
        stack.push(start);
        members.clear();
        while let Some(i) = stack.pop() {
            members.push(i);
            let (x, y) = ((i % bw) as isize, (i / bw) as isize);
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= bw as isize || ny >= bh as isize {
                        continue;
                    }
                    let j = ny as usize * bw + nx as usize;
                    if label[j] != u32::MAX || class[j] != kind {
                        continue;
                    }
                    if kind == 1 && angle_diff(angles[i], angles[j]) > MAX_BEND {
                        continue;
                    }
                    label[j] = id;
                    stack.push(j);
                }
            }
        }
        members.sort_unstable();
        regions.push(region_of(&members, &blocks, bw, bs, kind == 1));
    }
    let total = (bw * bh) as u32;
    let mut regions: Vec<Region> = regions.into_iter().flatten().collect();
    for r in regions.iter_mut().filter(|r| r.kind == RegionKind::Linear) {
        extend_along_bars(r, &blocks, &class, bw, bh);
    }
    merge_collinear(&mut regions);
    let mut out: Vec<Region> = regions
        .into_iter()
        .filter(|r| {
            let min = if r.kind == RegionKind::Linear { 3 } else { 4 };
            r.blocks >= min && r.blocks * 2 <= total
        })
        .collect();
    out.sort_by(|a, b| {
        b.blocks
            .cmp(&a.blocks)
            .then(a.center.y.total_cmp(&b.center.y))
            .then(a.center.x.total_cmp(&b.center.x))
    });
    out.truncate(max);
    out
}

fn region_of(
    members: &[usize],
    blocks: &[Block],
    bw: usize,
    bs: usize,
    linear: bool,
) -> Option<Region> {
    let mut sum = Block::default();
    let (mut mx, mut my) = (0.0f32, 0.0f32);
    for &i in members {
        sum.add(&blocks[i]);
        mx += ((i % bw) as f32 + 0.5) * bs as f32;
        my += ((i / bw) as f32 + 0.5) * bs as f32;
    }
    let n = members.len() as f32;
    let (mx, my) = (mx / n, my / n);
    let angle = if linear {
        sum.angle()
    } else {
        0.25 * sum.s4.atan2(sum.c4)
    };
    let (c, s) = (angle.cos(), angle.sin());
    let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &i in members {
        let x = ((i % bw) as f32 + 0.5) * bs as f32 - mx;
        let y = ((i / bw) as f32 + 0.5) * bs as f32 - my;
        let (u, v) = (x * c + y * s, -x * s + y * c);
        u0 = u0.min(u);
        u1 = u1.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let b = bs as f32;
    let (uc, vc) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    let center = Point {
        x: mx + uc * c - vc * s,
        y: my + uc * s + vc * c,
    };
    let len_u = (u1 - u0) / 2.0 + b * 0.75;
    let len_v = (v1 - v0) / 2.0 + b * 0.75;
    let (half_u, half_v) = if linear {
        // Quiet zones: ten modules of a code whose length we only know roughly.
        (len_u + b + 0.08 * len_u, len_v)
    } else {
        (len_u + b, len_v + b)
    };
    Some(Region {
        kind: if linear {
            RegionKind::Linear
        } else {
            RegionKind::Matrix
        },
        center,
        angle,
        half_u,
        half_v,
        blocks: members.len() as u32,
        block: bs as u32,
        coherence: sum.coherence(),
        grain: sum.angle(),
    })
}

/// Grows a bar region along its scan axis over neighbouring textured blocks of any kind:
/// where modules are about a pixel wide, many of a code's blocks look too noisy for bars,
/// and the region found is a piece of the code.
fn extend_along_bars(r: &mut Region, blocks: &[Block], class: &[u8], bw: usize, bh: usize) {
    let b = r.block as f32;
    // The extent of the blocks themselves, without the quiet-zone margin (see `region_of`).
    let core = ((r.half_u - b) / 1.08).max(b);
    let (c, s) = (r.angle.cos(), r.angle.sin());
    let textured = |t: f32| {
        let (x, y) = (r.center.x + t * c, r.center.y + t * s);
        if x < 0.0 || y < 0.0 {
            return false;
        }
        let (bx, by) = ((x / b) as usize, (y / b) as usize);
        if bx >= bw || by >= bh {
            return false;
        }
        let i = by * bw + bx;
        // Bars, or texture whose edges still mostly run the region's way (noisy bars),
        // not a QR code or text beside the code.
        class[i] == 1
            || (class[i] == 2
                && blocks[i].coherence() >= EXTEND_COHERENCE
                && angle_diff(blocks[i].angle(), r.angle) <= MAX_BEND)
    };
    let mut ends = [core, core];
    for (end, dir) in ends.iter_mut().zip([-1.0f32, 1.0]) {
        // At most twice the region's own length: a code, not a whole textured label.
        while *end < 3.0 * core && textured(dir * (*end + b * 0.5)) {
            *end += b;
        }
    }
    if ends == [core, core] {
        return;
    }
    let shift = (ends[1] - ends[0]) / 2.0;
    r.center = Point {
        x: r.center.x + shift * c,
        y: r.center.y + shift * s,
    };
    let len = (ends[0] + ends[1]) / 2.0;
    r.half_u = len * 1.08 + b;
}

/// Joins linear regions that are pieces of one code: same orientation, on one axis, with
/// a short gap (a wide space in a code with large modules splits its blocks).
fn merge_collinear(regions: &mut Vec<Region>) {
    let max_turn = 6f32.to_radians();
    loop {
        let mut joined = None;
        'search: for i in 0..regions.len() {
            for j in 0..regions.len() {
                let (a, b) = (&regions[i], &regions[j]);
                if i == j
                    || a.kind != RegionKind::Linear
                    || b.kind != RegionKind::Linear
                    || a.blocks < b.blocks
                    || angle_diff(a.angle, b.angle) > max_turn
                {
                    continue;
                }
                let (c, s) = (a.angle.cos(), a.angle.sin());
                let (dx, dy) = (b.center.x - a.center.x, b.center.y - a.center.y);
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                let gap = u.abs() - a.half_u - b.half_u;
                if v.abs() <= 0.5 * a.half_v && gap <= 2.0 * a.block as f32 {
                    joined = Some((i, j));
                    break 'search;
                }
            }
        }
        let Some((i, j)) = joined else { return };
        let b = regions[j];
        let a = &mut regions[i];
        let (c, s) = (a.angle.cos(), a.angle.sin());
        let (mut u0, mut u1, mut v0, mut v1) = (-a.half_u, a.half_u, -a.half_v, a.half_v);
        let (bc, bs) = (b.angle.cos(), b.angle.sin());
        for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let x = b.center.x + su * b.half_u * bc - sv * b.half_v * bs - a.center.x;
            let y = b.center.y + su * b.half_u * bs + sv * b.half_v * bc - a.center.y;
            let (u, v) = (x * c + y * s, -x * s + y * c);
            u0 = u0.min(u);
            u1 = u1.max(u);
            v0 = v0.min(v);
            v1 = v1.max(v);
        }
        let (uc, vc) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
        a.center = Point {
            x: a.center.x + uc * c - vc * s,
            y: a.center.y + uc * s + vc * c,
        };
        a.half_u = (u1 - u0) / 2.0;
        a.half_v = (v1 - v0) / 2.0;
        a.blocks += b.blocks;
        regions.remove(j);
    }
}
