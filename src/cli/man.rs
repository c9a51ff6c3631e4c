//! `intake man`: the man page (roff), generated from the command definitions (the .deb
//! build calls this; nothing generated is kept in the repository).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory};

/// Print the intake(1) man page (roff) to stdout.
#[derive(Debug, Args)]
pub(crate) struct Man {}

impl Man {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let page = clap_mangen::Man::new(super::Cli::command());
        page.render(&mut std::io::stdout())
            .context("cannot write the man page")?;
        Ok(ExitCode::SUCCESS)
    }
}
