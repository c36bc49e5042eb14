//! The legacy SIPp-compatible command line (stub).

use std::process::ExitCode;

pub(crate) fn main(_args: &[String]) -> ExitCode {
    eprintln!("gossipper: not built yet");
    ExitCode::from(255)
}
