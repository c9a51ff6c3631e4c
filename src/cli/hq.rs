//! `intake hq`: the reference head-office receiver and its tools.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use intake::hq::{AppState, HqStore, Limits, new_token, token_hash};
use intake::pricing::RateCard;
use intake::sync::Token;
use intake::sync::wire::manifest_to_wire;

use super::{Context, bad_input};

/// The reference head-office receiver: serve the sync API, list what it holds, load the
/// manifest and rate card it hands out.
#[derive(Debug, Args)]
pub(crate) struct Hq {
    #[command(subcommand)]
    command: HqCommand,
}

#[derive(Debug, Subcommand)]
enum HqCommand {
    Serve(Serve),
    Scans(HqScans),
    LoadManifest(LoadManifest),
    LoadRateCard(LoadRateCard),
    #[command(subcommand)]
    Token(TokenCommand),
    #[command(subcommand)]
    Audit(HqAuditCommand),
}

/// Stations' audit chains, as head office received them.
#[derive(Debug, Subcommand)]
enum HqAuditCommand {
    /// Re-verify one station's chain: entries linked from the first, each held scan and
    /// resolution equal to its entry, every held record covered. Exit 0 when whole, 1 when
    /// a gap, a break, a rewritten entry or a cut is found (each named).
    Verify(HqAuditVerify),
}

#[derive(Debug, Args)]
struct HqAuditVerify {
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    /// The station id, as in that station's `[station] id`.
    #[arg(long)]
    station: String,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl HqAuditVerify {
    async fn run(self) -> anyhow::Result<ExitCode> {
        intake::sync::wire::check_station_id(&self.station)
            .map_err(|e| bad_input(anyhow::anyhow!(e)))?;
        let store = HqStore::open(&self.db).await?;
        let held = store.station_audit(&self.station).await?;
        let v = intake::hq::audit::verify_station(&self.station, &held);
        if self.json {
            println!("{}", serde_json::to_string(&v)?);
        } else {
            println!(
                "station {}: {} entries (head {}), {} scans, {} resolutions held",
                v.station_id,
                v.entries,
                v.head
                    .map_or_else(|| "not reported".to_owned(), |h| h.to_string()),
                v.scans,
                v.resolutions
            );
            if v.awaiting_records + v.awaiting_entries > 0 {
                println!(
                    "  not yet complete: {} entries about records not received yet, {} records received after the last report (the next sync brings them)",
                    v.awaiting_records, v.awaiting_entries
                );
            }
            if v.breaks.is_empty() {
                println!("chain intact");
            } else {
                println!("CHAIN BROKEN: {} problem(s)", v.breaks.len());
                super::audit::print_breaks(&v.breaks);
            }
        }
        Ok(if v.is_clean() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// Station tokens: each uploads only its own station's records. Kept hashed (SHA-256): a
/// token is shown once, when it is made.
#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a new token for STATION and print it (once: only its hash is kept). Put it in
    /// that station's `sync.token_file`.
    Add(StationToken),
    /// Forget every token of STATION (a stolen or retired station).
    Revoke(StationToken),
    List(TokenList),
}

/// A station's tokens.
#[derive(Debug, Args)]
struct StationToken {
    /// The station id, as in that station's `[station] id`.
    station: String,
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// List which stations have tokens, and since when (never the tokens).
#[derive(Debug, Args)]
struct TokenList {
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    #[arg(long)]
    json: bool,
}

/// Serve the head-office sync API (docs/openapi.yaml) over HTTP.
#[derive(Debug, Args)]
struct Serve {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// The store: a SQLite file, or a postgres:// URL.
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    /// Site-wide bearer tokens, one per line, that may upload ANY station's records (the
    /// legacy setup; prefer `intake hq token add STATION`). Must not be world-readable.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Largest request body in bytes, as sent (compressed).
    #[arg(long, default_value_t = Limits::default().max_body)]
    max_body: usize,
    /// Largest request body in bytes after decompression.
    #[arg(long, default_value_t = Limits::default().max_decoded)]
    max_decoded: usize,
    /// Most records in one batch.
    #[arg(long, default_value_t = Limits::default().max_records)]
    max_records: usize,
    /// Requests per minute one token may make (sustained).
    #[arg(long, default_value_t = Limits::default().per_token_per_minute)]
    per_token_per_minute: u32,
    /// Requests one token may make at once before the per-minute rate applies.
    #[arg(long, default_value_t = Limits::default().per_token_burst)]
    per_token_burst: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    /// One JSON object per scan per line.
    Json,
}

/// List the scans head office holds, oldest first.
#[derive(Debug, Args)]
struct HqScans {
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
    /// List resolutions instead of scans.
    #[arg(long)]
    resolutions: bool,
    /// List replayed records refused because their id is held with other content.
    #[arg(long, conflicts_with = "resolutions")]
    conflicts: bool,
}

/// Load manifest entries (CSV, as `intake manifest import`) for stations to pull.
#[derive(Debug, Args)]
struct LoadManifest {
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    file: PathBuf,
}

/// Put a rate card (TOML) in force for stations to pull. A card that fails validation is
/// refused and the card in force stays.
#[derive(Debug, Args)]
struct LoadRateCard {
    #[arg(long, value_name = "PATH_OR_URL")]
    db: String,
    file: PathBuf,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

impl Hq {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let rt = runtime()?;
        match self.command {
            HqCommand::Serve(s) => rt.block_on(s.run()),
            HqCommand::Scans(s) => rt.block_on(s.run()),
            HqCommand::LoadManifest(s) => {
                let settings = ctx.settings()?;
                rt.block_on(s.run(&settings.waybill))
            }
            HqCommand::LoadRateCard(s) => rt.block_on(s.run()),
            HqCommand::Token(t) => rt.block_on(t.run()),
            HqCommand::Audit(HqAuditCommand::Verify(v)) => rt.block_on(v.run()),
        }
    }
}

impl Serve {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let tokens = match &self.token_file {
            Some(f) => Token::all_from_file(f).map_err(bad_input)?,
            None => Vec::new(),
        };
        let store = HqStore::open(&self.db).await?;
        if !tokens.is_empty() {
            tracing::warn!(
                tokens = tokens.len(),
                "--token-file tokens may upload any station's records; give each station its own with `intake hq token add STATION`"
            );
        }
        if tokens.is_empty() && store.count_tokens().await? == 0 {
            tracing::warn!(
                "no station tokens yet: every request will be refused until `intake hq token add STATION`"
            );
        }
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}: {e}; is another server there?",
                    self.listen
                )
            })?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        tracing::info!(%addr, db = %intake::hq::store::redact_url(&self.db), "head office serving");
        let state = AppState::new(
            store,
            tokens,
            Limits {
                max_body: self.max_body,
                max_decoded: self.max_decoded,
                max_records: self.max_records,
                per_token_per_minute: self.per_token_per_minute,
                per_token_burst: self.per_token_burst,
                ..Limits::default()
            },
        );
        intake::hq::serve(listener, state, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    }
}

impl HqScans {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let store = HqStore::open(&self.db).await?;
        let rows = if self.resolutions {
            store.resolutions().await?
        } else if self.conflicts {
            store.conflicts().await?
        } else {
            store.scans().await?
        };
        let mut out = std::io::stdout().lock();
        let format = if self.json { Format::Json } else { self.format };
        match format {
            Format::Json => {
                for r in &rows {
                    writeln!(out, "{r}")?;
                }
            }
            Format::Table => {
                let key = if self.resolutions {
                    "resolution_id"
                } else {
                    "scan_id"
                };
                writeln!(
                    out,
                    "{:<36} {:<14} {:<14} disposition",
                    key, "station", "waybill"
                )?;
                for r in &rows {
                    let v: serde_json::Value = serde_json::from_str(r)?;
                    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
                    writeln!(
                        out,
                        "{:<36} {:<14} {:<14} {}",
                        s(key),
                        s("station_id"),
                        s("waybill"),
                        s("disposition")
                    )?;
                }
                writeln!(out, "{} record(s)", rows.len())?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl LoadManifest {
    async fn run(self, rules: &intake::waybill::WaybillRules) -> anyhow::Result<ExitCode> {
        let bytes = std::fs::read(&self.file)
            .map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", self.file.display())))?;
        let parsed = intake::manifest::parse_csv(&bytes, rules).map_err(bad_input)?;
        for r in &parsed.rejected {
            eprintln!("{}:{}: skipped: {}", self.file.display(), r.line, r.message);
        }
        let store = HqStore::open(&self.db).await?;
        let changed = store.load_manifest(&parsed.entries).await?;
        println!(
            "{} entries read, {} new or changed, {} rows skipped",
            parsed.entries.len(),
            changed,
            parsed.rejected_total
        );
        debug_assert!(
            parsed
                .entries
                .iter()
                .all(|e| manifest_to_wire(e).is_object())
        );
        Ok(ExitCode::SUCCESS)
    }
}

impl LoadRateCard {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let body = std::fs::read_to_string(&self.file)
            .map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", self.file.display())))?;
        let card = RateCard::from_toml(&body).map_err(|e| {
            bad_input(anyhow::anyhow!(
                "{}: {e}; the card was not loaded and the card in force stays",
                self.file.display()
            ))
        })?;
        let store = HqStore::open(&self.db).await?;
        store
            .load_rate_card(&card.version, &body, jiff::Timestamp::now())
            .await?;
        println!("rate card {} in force", card.version);
        Ok(ExitCode::SUCCESS)
    }
}

/// A station id fit to bind a token to: what `[station] id` accepts, roughly.
fn check_station(id: &str) -> anyhow::Result<()> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad_input(anyhow::anyhow!(
            "\"{id}\" is not a station id; give the station's [station] id (1 to 64 visible characters)"
        )));
    }
    Ok(())
}

impl TokenCommand {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            TokenCommand::Add(a) => {
                check_station(&a.station)?;
                let store = HqStore::open(&a.db).await?;
                let token = new_token();
                store
                    .add_token(&token_hash(&token), &a.station, jiff::Timestamp::now())
                    .await?;
                if a.json {
                    let v = serde_json::json!({ "station_id": a.station, "token": token });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{token}")?;
                    eprintln!(
                        "a new token for station {}: head office keeps only its hash, so copy it now into that station's sync.token_file (mode 600)",
                        a.station
                    );
                }
            }
            TokenCommand::Revoke(r) => {
                check_station(&r.station)?;
                let store = HqStore::open(&r.db).await?;
                let n = store.revoke_tokens(&r.station).await?;
                if r.json {
                    let v = serde_json::json!({ "station_id": r.station, "revoked": n });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{n} token(s) of station {} revoked", r.station)?;
                }
                if n == 0 {
                    return Ok(ExitCode::from(1));
                }
            }
            TokenCommand::List(l) => {
                let store = HqStore::open(&l.db).await?;
                let rows = store.tokens().await?;
                for (station, created_ms) in &rows {
                    let at = jiff::Timestamp::from_millisecond(*created_ms)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    if l.json {
                        let v = serde_json::json!({ "station_id": station, "created_at": at });
                        writeln!(out, "{v}")?;
                    } else {
                        writeln!(out, "{station:<24} {at}")?;
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
