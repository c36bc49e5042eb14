//! Injection files (`-inf file.csv`): `[fieldN]` values per call, as SIPp reads them.
//!
//! Owns: the parsed rows, the order rule (SEQUENTIAL, RANDOM, USER) named on the first
//! line, and the key index `-infindex file field` builds (SIPp's: `<lookup>` finds a
//! row by the value of that field; `<insert>`/`<replace>` keep it current). Must not:
//! read files (the runner passes the bytes).

use std::collections::HashMap;

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
    /// `-infindex`: the indexed field and each key's first row (0-based).
    pub index: Option<KeyIndex>,
}

/// An index of one field: key → the first row holding it.
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    pub field: usize,
    pub rows_by_key: HashMap<Box<[u8]>, usize>,
}

impl KeyIndex {
    /// Indexes `rows` on `field`; rows without that field are not indexed. A key held by
    /// several rows maps to the first.
    pub fn build(rows: &[Vec<Box<[u8]>>], field: usize) -> KeyIndex {
        let mut rows_by_key = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            if let Some(k) = r.get(field) {
                rows_by_key.entry(k.clone()).or_insert(i);
            }
        }
        KeyIndex { field, rows_by_key }
    }
}

/// Why an injection file was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InjectError {
    #[error("{0}: the first line must be SEQUENTIAL, RANDOM or USER")]
    BadOrder(String),
    #[error("{0}: the file has no data lines")]
    Empty(String),
    #[error(
        "{file}: -infindex field {field}: no line has that field (the first line has {fields} fields, numbered from 0)"
    )]
    NoField {
        file: String,
        field: usize,
        fields: usize,
    },
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
            index: None,
        })
    }

    /// `-infindex`: indexes the file on `field` (0-based), refusing a field no line has.
    pub fn set_index(&mut self, field: usize) -> Result<(), InjectError> {
        if !self.rows.iter().any(|r| r.len() > field) {
            return Err(InjectError::NoField {
                file: self.name.clone(),
                field,
                fields: self.rows.first().map_or(0, Vec::len),
            });
        }
        self.index = Some(KeyIndex::build(&self.rows, field));
        Ok(())
    }

    /// `<lookup>`: the row (0-based) whose indexed field is `key`. Without `-infindex`
    /// the first field is searched (SIPp refuses a lookup in a file it has not indexed;
    /// README says so).
    pub fn lookup(&self, key: &[u8]) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.rows_by_key.get(key).copied(),
            None => self
                .rows
                .iter()
                .position(|r| r.first().is_some_and(|k| &k[..] == key)),
        }
    }

    /// `<insert>`: appends a row, indexing it.
    pub fn insert_row(&mut self, row: Vec<Box<[u8]>>) {
        let at = self.rows.len();
        if let Some(ix) = &mut self.index
            && let Some(k) = row.get(ix.field)
        {
            ix.rows_by_key.entry(k.clone()).or_insert(at);
        }
        self.rows.push(row);
    }

    /// `<replace>`: replaces row `at` (0-based), re-indexing; false when there is none.
    pub fn replace_row(&mut self, at: usize, row: Vec<Box<[u8]>>) -> bool {
        let Some(slot) = self.rows.get_mut(at) else {
            return false;
        };
        *slot = row;
        if let Some(ix) = &self.index {
            self.index = Some(KeyIndex::build(&self.rows, ix.field));
        }
        true
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
    fn an_index_finds_rows_by_its_field_and_follows_inserts_and_replaces() {
        let mut f = InjectFile::parse(
            "users.csv",
            b"SEQUENTIAL\nalice;1001;a\nbob;1002;b\ncarol;1003;c\nbob2;1002;d\n",
        )
        .unwrap();
        // Without an index, the first field.
        assert_eq!(f.lookup(b"bob"), Some(1));
        assert_eq!(f.lookup(b"1002"), None);
        f.set_index(1).unwrap();
        assert_eq!(f.lookup(b"1002"), Some(1), "the first row with the key");
        assert_eq!(f.lookup(b"1003"), Some(2));
        assert_eq!(f.lookup(b"bob"), None);
        f.insert_row(vec![Box::from(&b"dave"[..]), Box::from(&b"1004"[..])]);
        assert_eq!(f.lookup(b"1004"), Some(4));
        assert!(f.replace_row(2, vec![Box::from(&b"carl"[..]), Box::from(&b"2003"[..])]));
        assert_eq!((f.lookup(b"1003"), f.lookup(b"2003")), (None, Some(2)));
        assert!(!f.replace_row(9, Vec::new()));
        assert!(matches!(
            f.set_index(3),
            Err(InjectError::NoField {
                field: 3,
                fields: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_file_without_order_line_is_refused() {
        assert!(matches!(
            InjectFile::parse("x.csv", b"alice;1\n"),
            Err(InjectError::BadOrder(_))
        ));
    }
}
