//! Decode benchmark: read rate and time per symbology over a folder in the ZXing blackbox
//! layout (`X.png` + `X.txt` or `X.bin`), and time for every symbol of synthetic 1080p
//! and 4K label frames and an empty 1080p frame; read rate and time on hard 1080p frames
//! (narrow modules, motion blur, faded print: `intake_hal::camera::hard`, the frames of
//! `tests/barcode_hard.rs`); then the same inputs through zxing-cpp
//! (`benches/zxing_cpp.py`, when `python3 -c "import zxingcpp"` works) for a ratio on the
//! same machine.
//!
//! ```text
//! cargo bench --bench decode -- [--folder DIR | --no-folder] [--frames N] [--threads N] [--no-zxing]
//! ```
//! `DIR` defaults to `../shared/testdata/barcodes` beside the repository when it exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use intake::barcode::{BarcodeConfig, Format, Frame, Reader, choose_waybill};
use intake::judge::WaybillRead;
use intake::waybill::{WaybillRules, s10_check_digit};
use intake_hal::camera::{
    Hardship, LabelDamage, LabelSpec, Scene, compose, hard_frame, render_label,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Args {
    folder: Option<PathBuf>,
    frames: usize,
    threads: usize,
    zxing: bool,
}

fn args() -> Args {
    let mut a = Args {
        folder: None,
        frames: 15,
        threads: 0,
        zxing: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--folder" => a.folder = it.next().map(PathBuf::from).filter(|d| d.is_dir()),
            "--no-folder" => a.folder = Some(PathBuf::new()),
            "--frames" => a.frames = it.next().and_then(|v| v.parse().ok()).unwrap_or(15),
            "--threads" => a.threads = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--no-zxing" => a.zxing = false,
            _ => {} // cargo bench passes --bench
        }
    }
    if a.folder.as_deref() == Some(Path::new("")) {
        a.folder = None;
    } else if a.folder.is_none() {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/barcodes");
        let d2 = PathBuf::from("/work/shared/testdata/barcodes");
        a.folder = [d, d2].into_iter().find(|d| d.is_dir());
    }
    a
}

fn format_of(dir: &str) -> Option<Format> {
    let p = dir.split('-').next()?;
    Some(match p {
        "code128" => Format::Code128,
        "code39" => Format::Code39,
        "qrcode" => Format::QrCode,
        "datamatrix" => Format::DataMatrix,
        "pdf417" => Format::Pdf417,
        _ => return None,
    })
}

/// One test case: the images whose decoded texts, joined, must equal the expected bytes.
struct Case {
    format: Format,
    images: Vec<PathBuf>,
    expected: Vec<u8>,
}

/// The cases of a ZXing-layout folder, in name order. Structured-append pieces `G-NN.png`
/// form one case with `G.txt`/`G.bin`.
fn cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let Some(f) = d.file_name().and_then(|n| n.to_str()).and_then(format_of) else {
            continue;
        };
        let mut pngs: Vec<PathBuf> = std::fs::read_dir(&d)
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        pngs.retain(|p| p.extension().is_some_and(|x| x == "png"));
        pngs.sort();
        let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for p in pngs {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_owned();
            let own =
                d.join(format!("{stem}.txt")).exists() || d.join(format!("{stem}.bin")).exists();
            let key = match stem.split_once('-') {
                Some((g, n)) if !own && n.chars().all(|c| c.is_ascii_digit()) => g.to_owned(),
                _ => stem,
            };
            groups.entry(key).or_default().push(p);
        }
        for (key, images) in groups {
            let expected = std::fs::read(d.join(format!("{key}.txt")))
                .or_else(|_| std::fs::read(d.join(format!("{key}.bin"))));
            if let Ok(expected) = expected {
                out.push(Case {
                    format: f,
                    images,
                    expected,
                });
            }
        }
    }
    out
}

/// The text as bytes: UTF-8, or Latin-1 when every char fits a byte (binary payloads).
fn text_matches(text: &str, expected: &[u8]) -> bool {
    if text.as_bytes() == expected {
        return true;
    }
    let latin: Option<Vec<u8>> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    latin.is_some_and(|l| l == expected)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    cases: usize,
    read: usize,
    misread: usize,
    ms: Vec<f64>,
}

fn blackbox(reader: &Reader, root: &Path) -> BTreeMap<Format, Tally> {
    let mut t: BTreeMap<Format, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in cases(root) {
        let e = t.entry(c.format).or_default();
        e.cases += 1;
        let mut joined = String::new();
        let mut wrong = false;
        for img in &c.images {
            let Ok(i) = image::open(img) else { continue };
            let gray = i.to_luma8();
            let t0 = Instant::now();
            let syms = reader.read(Frame::from_gray(&gray));
            e.ms.push(t0.elapsed().as_secs_f64() * 1e3);
            let mine: Vec<_> = syms.iter().filter(|s| s.format == c.format).collect();
            if c.images.len() == 1 {
                if mine.iter().any(|s| text_matches(&s.text, &c.expected)) {
                    joined = "ok".into();
                } else if !mine.is_empty() {
                    wrong = true;
                    failures.push(format!("MISREAD {}: {:?}", img.display(), mine[0].text));
                } else {
                    failures.push(format!("no read {}", img.display()));
                }
            } else if let Some(s) = mine.first() {
                joined.push_str(&s.text);
            }
        }
        let ok = if c.images.len() == 1 {
            joined == "ok"
        } else {
            text_matches(&joined, &c.expected)
        };
        if ok {
            e.read += 1;
        } else if wrong {
            e.misread += 1;
        }
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        for f in failures {
            eprintln!("{f}");
        }
    }
    t
}

/// Synthetic frames: a label with waybill, postcode and QR at a random place and angle.
fn synthetic(dir: &Path, n: usize) -> Vec<(String, Vec<PathBuf>)> {
    let _ = std::fs::create_dir_all(dir);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut sets = Vec::new();
    for (name, w, h, module, with_label) in [
        ("1920x1080 label", 1920u32, 1080u32, 3u32, true),
        ("3840x2160 label", 3840, 2160, 6, true),
        ("1920x1080 empty", 1920, 1080, 2, false),
        // A torn label: the waybill's bars are gone, so every retry level runs.
        ("1920x1080 torn", 1920, 1080, 3, true),
    ] {
        let mut files = Vec::new();
        for i in 0..n {
            let path = dir.join(format!("{}-{i:02}.png", name.replace(' ', "-")));
            if !path.exists() {
                let img = if with_label {
                    let spec = LabelSpec {
                        qr: Some(format!("https://track.example/EE{:09}GB", 100 + i)),
                        module_px: module,
                        damage: if name.ends_with("torn") {
                            LabelDamage::Torn
                        } else {
                            LabelDamage::None
                        },
                        ..LabelSpec::new("EE123456785GB")
                    };
                    let label = render_label(&spec).unwrap_or_default();
                    let scene = Scene::random(w, h, label.width(), label.height(), &mut rng);
                    compose(Some(&label), &scene)
                } else {
                    let mut scene = Scene::random(w, h, 1, 1, &mut rng);
                    scene.center = (-1e6, -1e6);
                    compose(None, &scene)
                };
                if let Err(e) = img.save(&path) {
                    eprintln!("cannot write {}: {e}", path.display());
                }
            }
            files.push(path);
        }
        sets.push((name.to_owned(), files));
    }
    sets
}

/// The symbols of an image file and the milliseconds of the read: one warm-up read, then
/// the timed one.
fn timed_read(reader: &Reader, path: &Path) -> Option<(Vec<intake::barcode::Symbol>, f64)> {
    let g = image::open(path).ok()?.to_luma8();
    let _ = reader.read(Frame::from_gray(&g));
    let t0 = Instant::now();
    let syms = reader.read(Frame::from_gray(&g));
    Some((syms, t0.elapsed().as_secs_f64() * 1e3))
}

/// The hard sets: what each is, and the hardship that makes it.
const HARD: [(&str, Hardship); 3] = [
    ("1920x1080 narrow", Hardship::Narrow { px_per_module: 1.0 }),
    ("1920x1080 motion", Hardship::Motion { length_px: 6.0 }),
    ("1920x1080 faded", Hardship::Faded { contrast: 0.25 }),
];

/// A frame file and every text printed on its label, the waybill first.
type Printed = (PathBuf, Vec<String>);

/// Hard frames, each with `X.txt` beside it: the waybill, then the other printed texts.
fn hard_sets(dir: &Path, n: usize) -> Vec<(String, Vec<Printed>)> {
    let mut sets = Vec::new();
    for (name, hardship) in HARD {
        let mut files = Vec::new();
        for i in 0..n {
            let serial = format!("{:08}", 27_182_818 + i * 7_919);
            let Ok(digits) = serial.as_bytes().try_into() else {
                continue;
            };
            let waybill = format!("CP{serial}{}JP", s10_check_digit(digits));
            let spec = LabelSpec {
                qr: i
                    .is_multiple_of(3)
                    .then(|| format!("https://track.example/{waybill}")),
                ..LabelSpec::new(waybill.clone())
            };
            let printed: Vec<String> = [Some(waybill), spec.postcode.clone(), spec.qr.clone()]
                .into_iter()
                .flatten()
                .collect();
            let stem = format!("{}-{i:02}", name.replace(' ', "-"));
            let path = dir.join(format!("{stem}.png"));
            // Always made anew: the generator's parameters are in the code, not the name.
            match hard_frame(hardship, &spec, 1920, 1080, 500 + i as u64) {
                Ok(img) => {
                    if let Err(e) = img.save(&path) {
                        eprintln!("cannot write {}: {e}", path.display());
                    }
                }
                Err(e) => eprintln!("cannot render {stem}: {e}"),
            }
            let _ = std::fs::write(dir.join(format!("{stem}.txt")), printed.join("\n"));
            files.push((path, printed));
        }
        sets.push((name.to_owned(), files));
    }
    sets
}

fn main() {
    let a = args();
    let config = BarcodeConfig {
        // The blackbox Code 39 set includes full-ASCII symbols; zxing-cpp reads those too.
        code39_full_ascii: true,
        threads: a.threads,
        ..BarcodeConfig::default()
    };
    let Ok(reader) = Reader::new(&config) else {
        eprintln!("bad reader config");
        return;
    };
    println!(
        "intake decode benchmark — rxing 0.9.3 + intake pipeline, {} thread(s), {} cores",
        reader.settings().threads,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let mut ours = BTreeMap::new();
    if let Some(folder) = &a.folder {
        println!("\nfolder {}", folder.display());
        println!(
            "{:<12} {:>6} {:>6} {:>8} {:>10} {:>10}",
            "format", "cases", "read", "misread", "median ms", "p95 ms"
        );
        for (f, mut t) in blackbox(&reader, folder) {
            let (m, p) = (percentile(&mut t.ms, 0.5), percentile(&mut t.ms, 0.95));
            println!(
                "{:<12} {:>6} {:>6} {:>8} {:>10.2} {:>10.2}",
                f.as_str(),
                t.cases,
                t.read,
                t.misread,
                m,
                p
            );
            ours.insert(f.as_str().to_owned(), (t.read, t.misread, m));
        }
    } else {
        println!("\nno ZXing-layout folder found (pass --folder DIR)");
    }
    let frames_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-frames");
    let sets = synthetic(&frames_dir, a.frames);
    println!(
        "\nsynthetic frames ({} each; label: Code 128 waybill + postcode + QR)",
        a.frames
    );
    println!(
        "{:<18} {:>10} {:>10} {:>14}",
        "frame", "median ms", "p95 ms", "all 3 found"
    );
    let mut synth = BTreeMap::new();
    for (name, files) in &sets {
        let mut ms = Vec::new();
        let mut complete = 0;
        for f in files {
            let Some((syms, t)) = timed_read(&reader, f) else {
                continue;
            };
            ms.push(t);
            if syms.len() >= 3 {
                complete += 1;
            }
        }
        let (m, p) = (percentile(&mut ms, 0.5), percentile(&mut ms, 0.95));
        println!(
            "{:<18} {:>10.2} {:>10.2} {:>10}/{}",
            name,
            m,
            p,
            complete,
            files.len()
        );
        synth.insert(name.clone(), m);
    }
    println!(
        "\nhard frames ({} each; {}; any angle)",
        a.frames,
        HARD.map(|(_, h)| h.name()).join(", ")
    );
    println!(
        "{:<18} {:>10} {:>10} {:>14} {:>6}",
        "frame", "median ms", "p95 ms", "waybill read", "false"
    );
    let rules = WaybillRules::default();
    for (name, files) in hard_sets(&frames_dir, a.frames) {
        let (mut ms, mut read, mut false_reads) = (Vec::new(), 0, 0);
        for (f, printed) in &files {
            let Some((syms, t)) = timed_read(&reader, f) else {
                continue;
            };
            ms.push(t);
            false_reads += syms.iter().filter(|s| !printed.contains(&s.text)).count();
            if choose_waybill(&syms, &rules).0 == WaybillRead::Read(printed[0].clone()) {
                read += 1;
            }
        }
        let (m, p) = (percentile(&mut ms, 0.5), percentile(&mut ms, 0.95));
        println!(
            "{:<18} {:>10.2} {:>10.2} {:>10}/{:<3} {:>6}",
            name,
            m,
            p,
            read,
            files.len(),
            false_reads
        );
        synth.insert(name, m);
    }
    if !a.zxing {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/zxing_cpp.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(&frames_dir);
    if let Some(f) = &a.folder {
        cmd.arg(f);
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {
            println!("\nzxing-cpp on the same inputs (single thread, gray buffer in memory):");
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{text}");
            // Lines "ratio-key value" let us print ratios.
            println!("\nratio (zxing-cpp median ms / ours):");
            for line in text.lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let [key, _, _, _, med, ..] = parts[..]
                    && let (Some((_, _, mine)), Ok(z)) = (ours.get(key), med.parse::<f64>())
                {
                    println!("  {key:<12} {:>6.1}×", z / mine);
                }
                if parts.len() >= 3 && parts[0].contains('x') {
                    let key = format!("{} {}", parts[0], parts[1]);
                    if let (Some(mine), Ok(z)) = (synth.get(&key), parts[2].parse::<f64>()) {
                        println!("  {key:<18} {:>6.1}×", z / mine);
                    }
                }
            }
        }
        Ok(out) => println!(
            "\nzxing-cpp comparison skipped: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("\nzxing-cpp comparison skipped: python3: {e}"),
    }
}
