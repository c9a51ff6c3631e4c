//! `intake completions SHELL`: shell completions, generated from the command definitions
//! (the .deb build calls this; nothing generated is kept in the repository).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use clap::{Args, CommandFactory};

/// Print shell completions for SHELL (bash, zsh, fish, elvish, powershell) to stdout.
#[derive(Debug, Args)]
pub(crate) struct Completions {
    shell: clap_complete::Shell,
}

impl Completions {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut cmd = super::Cli::command();
        // Into memory first: clap_complete panics on a failed write (a closed pipe).
        let mut buf = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "intake", &mut buf);
        std::io::stdout()
            .write_all(&buf)
            .context("cannot write the completions")?;
        Ok(ExitCode::SUCCESS)
    }
}
