//! Scenario load errors: each says file, line, column and what the author got wrong.

use std::fmt;
use std::sync::Arc;

use super::limits::Limit;
use super::model::Pos;
use crate::files::FileError;

/// One mistake in a scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioError {
    pub file: Arc<str>,
    pub pos: Pos,
    pub kind: ScenarioErrorKind,
}

/// What is wrong. `Display` text is for people; tests match on the variant.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScenarioErrorKind {
    #[error("invalid XML: {0}")]
    Xml(String),
    /// Past one of the grammar's size limits (`scenario::limits`).
    #[error("{0}")]
    Limit(Limit),
    #[error("unknown element <{0}>")]
    UnknownElement(String),
    #[error("<{element}> needs the attribute {attribute}")]
    MissingAttribute {
        element: &'static str,
        attribute: &'static str,
    },
    #[error("<{element}> has an invalid {attribute}=\"{value}\": {reason}")]
    InvalidAttribute {
        element: String,
        attribute: String,
        value: String,
        reason: String,
    },
    #[error("unknown action <{0}>")]
    UnknownAction(String),
    #[error("unsupported keyword [{0}]")]
    UnknownKeyword(String),
    #[error("undefined label \"{0}\"")]
    UndefinedLabel(String),
    #[error("label \"{0}\" is defined twice")]
    DuplicateLabel(String),
    #[error("variable ${0} is referenced {1} times (SIPp requires at least 2)")]
    VariableUsedOnce(String, u32),
    #[error("invalid regular expression \"{0}\": {1}")]
    Regex(String, String),
    #[error("{0}")]
    Invalid(String),
    /// A file the scenario names may not be read (or could not be): where it is named
    /// (`[file]`, `<exec play_pcap_audio>`…), the name, and why.
    #[error("{element}: file \"{name}\": {error}")]
    File {
        element: String,
        name: String,
        error: FileError,
    },
}

/// Every error found while loading (up to a cap), in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.column, self.kind
        )
    }
}

impl std::error::Error for ScenarioError {}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}
