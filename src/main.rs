//! The `intake` command: the station daemon and the technician's tools.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.logging());
    match args.run() {
        Ok(code) => code,
        Err(err) => {
            // The whole chain, one line: what failed and why, down to the cause.
            eprintln!("error: {err:#}");
            if err.chain().any(|e| e.is::<cli::BadInput>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
