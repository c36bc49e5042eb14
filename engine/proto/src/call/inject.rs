//! Injection files (`-inf file.csv`): `[fieldN]` values per call, as SIPp reads them.
//!
//! Owns: the parsed rows and the order rule (SEQUENTIAL, RANDOM, USER) named on the first
//! line. Must not: read files (the runner passes the bytes).

use crate::rng::Rng;

/// How a call picks its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Sequential,
    Random,
    /// One row per `-users` user.
    User,
}

/// One parsed injection file.
#[derive(Clone, Debug)]
pub struct InjectFile {
    /// The name the scenario uses in `file=` (the path as given on the command line and its
    /// file name).
    pub name: String,
    pub order: Order,
    /// Rows of `;`-separated fields.
    pub rows: Vec<Vec<Box<[u8]>>>,
}

/// Why an injection file was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InjectError {
    #[error("{0}: the first line must be SEQUENTIAL, RANDOM or USER")]
    BadOrder(String),
    #[error("{0}: the file has no data lines")]
    Empty(String),
}

impl InjectFile {
    pub fn parse(name: &str, bytes: &[u8]) -> Result<InjectFile, InjectError> {
        let mut lines = bytes
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or(b"");
        let head = String::from_utf8_lossy(first).to_ascii_uppercase();
        let order = if head.starts_with("SEQUENTIAL") {
            Order::Sequential
        } else if head.starts_with("RANDOM") {
            Order::Random
        } else if head.starts_with("USER") {
            Order::User
        } else {
            return Err(InjectError::BadOrder(name.to_string()));
        };
        let rows: Vec<Vec<Box<[u8]>>> = lines
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .map(|l| l.split(|&b| b == b';').map(Box::from).collect())
            .collect();
        if rows.is_empty() {
            return Err(InjectError::Empty(name.to_string()));
        }
        Ok(InjectFile {
            name: name.to_string(),
            order,
            rows,
        })
    }

    /// The row index for call `call_number` (1-based) or user `user_id`.
    pub fn row_for(&self, call_number: u64, user_id: u64, rng: &mut Rng) -> usize {
        let n = self.rows.len() as u64;
        let i = match self.order {
            Order::Sequential => call_number.saturating_sub(1) % n,
            Order::Random => rng.below(n),
            Order::User => user_id.saturating_sub(1) % n,
        };
        i as usize
    }

    /// Field `field` of row `row`, if both exist.
    pub fn field(&self, row: usize, field: usize) -> Option<&[u8]> {
        self.rows
            .get(row)
            .and_then(|r| r.get(field))
            .map(|f| &f[..])
    }
}

/// Every injection file of a run; the first is the default for `[fieldN]`.
#[derive(Clone, Debug, Default)]
pub struct InjectData {
    pub files: Vec<InjectFile>,
}

impl InjectData {
    /// The file a `file=` attribute names (by full name or file name), or the default.
    pub fn file(&self, name: Option<&str>) -> Option<&InjectFile> {
        match name {
            None => self.files.first(),
            Some(n) => self.files.iter().find(|f| {
                f.name == n
                    || std::path::Path::new(&f.name)
                        .file_name()
                        .is_some_and(|b| b.to_string_lossy() == n)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_rows_cycle_by_call_number() {
        let f =
            InjectFile::parse("users.csv", b"SEQUENTIAL\n# comment\nalice;a1\nbob;b1\n").unwrap();
        let mut rng = Rng::new(1);
        assert_eq!(f.row_for(1, 0, &mut rng), 0);
        assert_eq!(f.row_for(2, 0, &mut rng), 1);
        assert_eq!(f.row_for(3, 0, &mut rng), 0);
        assert_eq!(f.field(1, 1), Some(&b"b1"[..]));
    }

    #[test]
    fn a_file_without_order_line_is_refused() {
        assert!(matches!(
            InjectFile::parse("x.csv", b"alice;1\n"),
            Err(InjectError::BadOrder(_))
        ));
    }
}
