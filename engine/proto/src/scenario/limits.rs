//! The size limits of the scenario grammar, and a work meter that lets tests prove the
//! loader's cost grows linearly with its input.
//!
//! Owns: the caps that keep a hostile scenario from exhausting stack, memory or CPU
//! (every scenario the master stores is uploaded by an operator and loaded on a request
//! thread): nesting depth, element count, attributes per element and command count. Each
//! is checked while parsing, before the thing it bounds is built; regular expressions
//! are counted before they are compiled (compiling costs about 0.1 ms each plus 0.3 µs
//! per byte of pattern, the one step of loading that is not cheap per byte of input).
//! SIPp's own scenarios nest 4 levels deep, hold fewer than 200 commands, a few dozen
//! regular expressions and fewer than 20 attributes on an element, so the caps leave wide
//! room. Must not: read files or clocks.

/// Deepest element nesting (`<scenario>` is level 1; SIPp's scenarios reach 4). It also
/// bounds every recursion over the tree, `Drop` of the tree included.
pub const MAX_DEPTH: usize = 64;
/// Most elements in one file (commands, actions and declarations together).
pub const MAX_ELEMENTS: usize = 100_000;
/// Most attributes on one element.
pub const MAX_ATTRIBUTES: usize = 64;
/// Most commands (`<send>`, `<recv>`, `<pause>`, `<nop>`, `<label>`, … in the main
/// program and in `<init>` together).
pub const MAX_COMMANDS: usize = 10_000;
/// Most regular expressions (`<ereg>`, `<recv regexp_match>`).
pub const MAX_REGEXES: usize = 1_000;
/// Most bytes of regular-expression text, all patterns together.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// Most bytes of `[file name=…]` content, all files together (each file is read once
/// however often it is named; one file is capped by `files::MAX_FILE_BYTES` too).
pub const MAX_FILE_CONTENT_BYTES: usize = 16 * 1024 * 1024;

/// Which limit a scenario went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Depth,
    Elements,
    Attributes,
    Commands,
    Regexes,
    RegexBytes,
    FileContent,
}

impl Limit {
    /// The cap.
    pub const fn max(self) -> usize {
        match self {
            Limit::Depth => MAX_DEPTH,
            Limit::Elements => MAX_ELEMENTS,
            Limit::Attributes => MAX_ATTRIBUTES,
            Limit::Commands => MAX_COMMANDS,
            Limit::Regexes => MAX_REGEXES,
            Limit::RegexBytes => MAX_REGEX_BYTES,
            Limit::FileContent => MAX_FILE_CONTENT_BYTES,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let max = self.max();
        match self {
            Limit::Depth => write!(f, "elements nest deeper than {max} levels"),
            Limit::Elements => write!(f, "the scenario has more than {max} elements"),
            Limit::Attributes => write!(f, "an element has more than {max} attributes"),
            Limit::Commands => write!(f, "the scenario has more than {max} commands"),
            Limit::Regexes => write!(f, "more than {max} regular expressions"),
            Limit::RegexBytes => {
                write!(f, "more than {max} bytes of regular expressions in all")
            }
            Limit::FileContent => write!(f, "more than {max} bytes of [file] contents in all"),
        }
    }
}

/// Counts the bytes and entries the loader's scanning steps examine, per thread, in test
/// builds only: the linearity tests load a hostile shape at two sizes and compare. In
/// other builds it compiles to nothing.
pub(super) mod work {
    #[cfg(test)]
    thread_local! {
        static UNITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Records `n` units of work (bytes scanned, entries compared).
    #[inline(always)]
    pub(in super::super) fn add(n: usize) {
        #[cfg(test)]
        UNITS.with(|u| u.set(u.get().saturating_add(n as u64)));
        #[cfg(not(test))]
        let _ = n;
    }

    /// Work recorded on this thread since the last call (and resets it).
    #[cfg(test)]
    pub(in super::super) fn take() -> u64 {
        UNITS.with(|u| u.replace(0))
    }
}
