//! SIPp scenario XML: the compiled model, the loader and the built-in catalogue.
//!
//! Owns: turning XML bytes into an immutable `Scenario`. Must not: read files itself
//! (callers pass a `read_file` function for `[file name=…]`), read clocks or touch sockets.

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
pub mod model;
mod template;
#[cfg(test)]
mod tests;

pub use error::{ScenarioError, ScenarioErrorKind, ScenarioErrors};
pub use limits::Limit;
pub use model::*;

/// What the loader needs from its caller.
pub struct LoadOptions<'a> {
    /// Names given with `-key`: these keywords are allowed in templates.
    pub keys: &'a [String],
    /// Reads a file named by `[file name=…]` or an action (relative to the working dir).
    pub read_file: &'a dyn Fn(&str) -> std::io::Result<Vec<u8>>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            keys: &[],
            read_file: &|name| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    name.to_string(),
                ))
            },
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
