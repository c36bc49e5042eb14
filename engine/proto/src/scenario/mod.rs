//! SIPp scenario XML: the compiled model, the loader and the built-in catalogue.
//!
//! Owns: turning XML bytes into an immutable `Scenario`. Must not: open files itself
//! (`[file name=…]` is read, and every file name is checked, through the caller's
//! `files::ReadFiles`), read clocks or touch sockets.

mod actions;
pub mod builtin;
mod ctx;
mod dom;
mod error;
mod keywords;
pub mod limits;
#[cfg(test)]
mod limits_tests;
mod loader;
pub mod media;
pub mod model;
mod template;
#[cfg(test)]
mod tests;

pub use crate::files::{FileAccess, ReadFiles};
pub use error::{ScenarioError, ScenarioErrorKind, ScenarioErrors};
pub use limits::Limit;
pub use model::*;

/// What the loader needs from its caller.
pub struct LoadOptions<'a> {
    /// Names given with `-key`: these keywords are allowed in templates.
    pub keys: &'a [String],
    /// Reads `[file name=…]`; every other file name in the scenario (media files,
    /// `rtp_record` paths) is checked against its rule when the scenario loads.
    pub files: &'a dyn ReadFiles,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            keys: &[],
            files: &crate::files::NO_FILES,
        }
    }
}

/// Loads and compiles a scenario. `file_name` is used in error messages only.
///
/// The bytes may be UTF-8 or ISO-8859-1 (SIPp scenarios often declare Latin-1).
pub fn load(
    bytes: &[u8],
    file_name: &str,
    opts: &LoadOptions<'_>,
) -> Result<Scenario, ScenarioErrors> {
    loader::load(bytes, file_name, opts)
}
