//! Command-line interface: argument parsing and one module per subcommand. Everything that
//! decides lives in the library; these modules load config, call it and print.

mod audit;
mod calibrate;
mod columns;
mod completions;
mod config_check;
mod decode;
mod export;
mod hq;
mod man;
mod manifest;
mod probe;
mod quote;
mod reprice;
mod run;
mod scale;
mod scans;
mod status;
mod sync;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use intake::config::Settings;
use intake::store::actor::Owner;
use intake::store::{Records, StartOptions, Store, StoreError};

/// The intake station: weigh, measure, read the label, judge, store, sync.
#[derive(Debug, Parser)]
#[command(name = "intake", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Station config file (TOML). Without it the embedded default is used:
    /// simulated devices, data in ./data.
    #[arg(long, global = true, env = "INTAKE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Log lines as text, or as one JSON object per event (for log shippers). Under
    /// systemd (JOURNAL_STREAM set) text lines carry no timestamp: the journal adds its own.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Log timestamps in UTC (default: local time with its offset).
    #[arg(long, global = true)]
    utc: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::Run),
    Quote(quote::Quote),
    Audit(audit::Audit),
    Calibrate(calibrate::Calibrate),
    Verify(verify::Verify),
    Reprice(reprice::Reprice),
    Manifest(manifest::Manifest),
    Scans(scans::Scans),
    Status(status::Status),
    Config(config_check::ConfigCmd),
    Probe(probe::Probe),
    Scale(scale::ScaleCmd),
    Sync(sync::Sync),
    Hq(hq::Hq),
    Export(export::Export),
    Decode(decode::Decode),
    Completions(completions::Completions),
    Man(man::Man),
}

impl Cli {
    /// The log level when neither -v nor RUST_LOG says: the daemon tells what it does.
    pub(crate) fn default_level(&self) -> u8 {
        match self.command {
            Command::Run(_) => self.verbose.max(1),
            _ => self.verbose,
        }
    }

    /// How to log, as the flags and the environment say.
    pub(crate) fn logging(&self) -> Logging {
        Logging {
            verbose: self.default_level(),
            format: self.log_format,
            utc: self.utc,
            journal: std::env::var_os("JOURNAL_STREAM").is_some(),
        }
    }

    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let ctx = Context {
            config: self.config,
        };
        match self.command {
            Command::Run(c) => c.run(&ctx),
            Command::Quote(c) => c.run(&ctx),
            Command::Audit(c) => c.run(&ctx),
            Command::Calibrate(c) => c.run(&ctx),
            Command::Verify(c) => c.run(&ctx),
            Command::Reprice(c) => c.run(&ctx),
            Command::Manifest(c) => c.run(&ctx),
            Command::Scans(c) => c.run(&ctx),
            Command::Status(c) => c.run(&ctx),
            Command::Config(c) => c.run(&ctx),
            Command::Probe(c) => c.run(&ctx),
            Command::Scale(c) => c.run(&ctx),
            Command::Sync(c) => c.run(&ctx),
            Command::Hq(c) => c.run(&ctx),
            Command::Export(c) => c.run(&ctx),
            Command::Decode(c) => c.run(&ctx),
            Command::Completions(c) => c.run(),
            Command::Man(c) => c.run(),
        }
    }
}

/// What every subcommand may need.
pub(crate) struct Context {
    config: Option<PathBuf>,
}

impl Context {
    /// The validated settings; a bad config is bad input.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config.as_deref()).map_err(bad_input)
    }

    /// Opens the store named by the settings for reading (WAL: works while the daemon
    /// writes). A station that never ran has an empty store.
    pub(crate) fn store(&self, s: &Settings) -> anyhow::Result<Store> {
        match Store::open_read_only(&s.db_path()) {
            Err(StoreError::Missing(_)) => Ok(Store::open_in_memory()?),
            other => Ok(other?),
        }
    }

    /// Starts the store actor for a command that writes (the daemon must not be running:
    /// the data folder's lock says so). Stop the returned owner when done.
    pub(crate) fn records(&self, s: &Settings) -> anyhow::Result<(Records, Owner)> {
        Records::open(&s.data_dir, &s.db_path(), StartOptions::from_settings(s)).map_err(
            |e| match e {
                StoreError::Locked { .. } => bad_input(e),
                other => other.into(),
            },
        )
    }
}

/// Marks an error as the user's input being wrong: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct BadInput(#[from] anyhow::Error);

pub(crate) fn bad_input<E: Into<anyhow::Error>>(e: E) -> anyhow::Error {
    BadInput(e.into()).into()
}

/// The log line format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// How to log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Logging {
    pub(crate) verbose: u8,
    pub(crate) format: LogFormat,
    pub(crate) utc: bool,
    /// stderr goes to the systemd journal (`$JOURNAL_STREAM`).
    pub(crate) journal: bool,
}

/// Timestamps in local time with the offset, or in UTC (`--utc`), from jiff.
struct Clock {
    utc: bool,
}

impl tracing_subscriber::fmt::time::FormatTime for Clock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = jiff::Timestamp::now();
        if self.utc {
            write!(w, "{}", now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        } else {
            let local = now.to_zoned_datetime(jiff::tz::TimeZone::system());
            write!(w, "{}", local.strftime("%Y-%m-%dT%H:%M:%S%.6f%:z"))
        }
    }
}

/// Logs to stderr, one line per event: warnings by default, more with -v; RUST_LOG
/// overrides.
pub(crate) fn init_logging(how: Logging) {
    use tracing_subscriber::EnvFilter;
    let default = match how.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(Clock { utc: how.utc });
    match (how.format, how.journal) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).init(),
        // The journal stamps every line itself, and colours would be escape codes there.
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).init(),
        (LogFormat::Text, false) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}
