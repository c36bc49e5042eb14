//! `gossipper worker --spec`: one job for the master (stub).

use std::process::ExitCode;

pub(crate) fn main(_args: &[String]) -> ExitCode {
    eprintln!("gossipper worker: not built yet");
    ExitCode::from(1)
}
