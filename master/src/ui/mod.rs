//! `gossipper ui`: the master process (stub).

use std::process::ExitCode;

pub(crate) fn main(_args: &[String]) -> ExitCode {
    eprintln!("gossipper ui: not built yet");
    ExitCode::from(1)
}
