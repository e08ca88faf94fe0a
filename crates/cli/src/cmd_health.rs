//! `plugwire health` (placeholder until its issue lands).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    #[allow(dead_code)]
    pub fn wants_stdio(&self) -> bool {
        false
    }
}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("plugwire health: not built yet");
    ExitCode::from(2)
}
