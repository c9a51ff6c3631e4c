//! `intake-fuzz`: runs each target for a while on mutations of its seeds and reports the
//! executions. Any panic is a crash: the input is saved to `fuzz/artifacts/<target>/` and the
//! run exits 1 (copy it to `fuzz/regressions/<target>/` once fixed).
//!
//! ```sh
//! cargo run --release -p intake-fuzz -- --seconds 5           # every target, 5 s each
//! cargo run --release -p intake-fuzz -- --seconds 3600 image  # one target, an hour
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use intake_fuzz::{TARGETS, Target, target};

const INTERESTING: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0xff, b'\r', b'\n', 0x02, 0x03, b'"', b',', b'-',
];

fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>], max_len: usize) {
    for _ in 0..rng.usize(1..=4) {
        let len = input.len();
        match rng.u8(0..8) {
            0 if len > 0 => {
                let i = rng.usize(0..len);
                input[i] ^= 1 << rng.u8(0..8);
            }
            1 if len > 0 => {
                let i = rng.usize(0..len);
                input[i] = INTERESTING[rng.usize(0..INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.usize(0..len);
                input[i] = rng.u8(..);
            }
            3 => {
                let i = rng.usize(0..=len);
                let n = rng.usize(1..=16);
                let byte = if rng.bool() {
                    rng.u8(..)
                } else {
                    INTERESTING[rng.usize(0..INTERESTING.len())]
                };
                input.splice(i..i, std::iter::repeat_n(byte, n));
            }
            4 if len > 0 => {
                let a = rng.usize(0..len);
                let b = (a + rng.usize(1..=32)).min(len);
                input.drain(a..b);
            }
            5 if len > 0 => input.truncate(rng.usize(0..len)),
            6 if !seeds.is_empty() => {
                // Splice a piece of another seed in.
                let other = &seeds[rng.usize(0..seeds.len())];
                if !other.is_empty() {
                    let a = rng.usize(0..other.len());
                    let b = (a + rng.usize(1..=64)).min(other.len());
                    let at = rng.usize(0..=len);
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
            _ if len > 1 => {
                // Duplicate a chunk (repeated frames, repeated keys).
                let a = rng.usize(0..len);
                let b = (a + rng.usize(1..=32)).min(len);
                let chunk = input[a..b].to_vec();
                let at = rng.usize(0..=len);
                input.splice(at..at, chunk);
            }
            _ => input.push(rng.u8(..)),
        }
    }
    input.truncate(max_len);
}

/// Runs one target for `time`; the executions, or the crashing input.
fn fuzz(t: &Target, time: Duration, seed: u64) -> Result<u64, Vec<u8>> {
    let seeds = (t.seeds)();
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut execs = 0u64;
    let run = |input: &[u8]| -> Result<(), Vec<u8>> {
        std::panic::catch_unwind(|| (t.run)(input)).map_err(|_| input.to_vec())
    };
    for s in &seeds {
        run(s)?;
        execs += 1;
    }
    while started.elapsed() < time {
        // A batch between clock reads.
        for _ in 0..64 {
            let mut input = if seeds.is_empty() || rng.u8(0..16) == 0 {
                Vec::new()
            } else {
                seeds[rng.usize(0..seeds.len())].clone()
            };
            mutate(&mut rng, &mut input, &seeds, t.max_len);
            run(&input)?;
            execs += 1;
        }
    }
    Ok(execs)
}

fn main() -> ExitCode {
    let mut seconds = 5.0f64;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => {
                    eprintln!("--seconds needs a number");
                    return ExitCode::from(2);
                }
            },
            "--list" => {
                for t in TARGETS {
                    println!("{}", t.name);
                }
                return ExitCode::SUCCESS;
            }
            name => names.push(name.to_owned()),
        }
    }
    let chosen: Vec<&Target> = if names.is_empty() {
        TARGETS.iter().collect()
    } else {
        let mut v = Vec::new();
        for n in &names {
            match target(n) {
                Some(t) => v.push(t),
                None => {
                    eprintln!("no target {n}; `--list` lists them");
                    return ExitCode::from(2);
                }
            }
        }
        v
    };
    // Crashes are reported here, not by the default hook on every caught panic.
    std::panic::set_hook(Box::new(|_| {}));
    let seed = std::env::var("INTAKE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1ab5_eed5);
    let mut crashed = false;
    for t in chosen {
        match fuzz(t, Duration::from_secs_f64(seconds), seed) {
            Ok(execs) => println!(
                "fuzz {:<14} {:>10} executions in {seconds} s ({:.0}/s), no crash",
                t.name,
                execs,
                execs as f64 / seconds
            ),
            Err(input) => {
                crashed = true;
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("artifacts")
                    .join(t.name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("crash-{:016x}", fxhash(&input)));
                let _ = std::fs::File::create(&path).and_then(|mut f| f.write_all(&input));
                println!(
                    "fuzz {:<14} CRASH on a {}-byte input, saved to {}",
                    t.name,
                    input.len(),
                    path.display()
                );
            }
        }
    }
    if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A name for a crashing input (FNV-1a).
fn fxhash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
