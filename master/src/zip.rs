//! A small ZIP writer (PKWARE APPNOTE 6.3, classic format) for the downloads that bundle
//! several files: `gossipper server`'s trace and call exports and `gossipper ui`'s report
//! export.
//!
//! Owns: the local headers, the central directory and its end record, CRC-32 (a table of
//! our own) and the choice per entry between deflate (`miniz_oxide`) and stored, whichever
//! is smaller. The archive is built in memory, up to the cap its caller states; past the
//! cap, and in any case past 4 GiB or 65,535 entries (ZIP64 is not written), `add`
//! refuses with an error naming the limit. Entry names are checked: relative, `/`
//! separated, no `..`, no empty segment, no control character, no duplicate.
//! Must not: read files or the clock (callers hand it bytes and the entries' time).

use std::time::SystemTime;

use crate::service::timefmt::dos_time_date;

/// The classic format's own limits: sizes and offsets are 32-bit (0xFFFF_FFFF itself
/// means "see ZIP64"), entry counts 16-bit.
const MAX_CLASSIC: u64 = 0xFFFF_FFFE;
const MAX_ENTRIES: usize = 0xFFFF;
/// The longest entry name taken.
const MAX_NAME: usize = 1024;
/// Version needed to extract: 2.0 (deflate).
const VERSION: u16 = 20;
/// Made by Unix (3), spec 2.0: the external attributes carry a Unix mode.
const MADE_BY: u16 = 3 << 8 | VERSION;
/// Regular file, rw-r--r--.
const FILE_MODE: u32 = 0o100_644 << 16;
/// Bit 11: the name is UTF-8.
const UTF8: u16 = 1 << 11;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
/// miniz's default level: good ratio on SIP text at a small cost.
const LEVEL: u8 = 6;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: u64 = 46;
const END_LEN: u64 = 22;

/// Why an entry was not added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ZipError {
    #[error("ZIP entry name \"{name}\": {problem}")]
    Name { name: String, problem: &'static str },
    #[error("the ZIP would be larger than its cap of {} ({what})", size(*cap))]
    TooLarge { cap: u64, what: String },
    #[error("the ZIP would hold more than {MAX_ENTRIES} entries (ZIP64 is not written)")]
    TooManyEntries,
}

/// An archive being built; [`Zip::finish`] returns its bytes.
pub(crate) struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    names: Vec<String>,
    cap: u64,
    time: u16,
    date: u16,
}

impl Zip {
    /// An empty archive of at most `cap` bytes (never more than 4 GiB), whose entries all
    /// carry `modified` as their time (UTC: the format has no time zone).
    pub(crate) fn new(cap: u64, modified: SystemTime) -> Zip {
        let (time, date) = dos_time_date(modified);
        Zip {
            out: Vec::new(),
            central: Vec::new(),
            names: Vec::new(),
            cap: cap.min(MAX_CLASSIC),
            time,
            date,
        }
    }

    /// Adds one file, deflated when that makes it smaller. Nothing is written when it
    /// fails.
    pub(crate) fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        check_name(name, &self.names)?;
        if self.names.len() == MAX_ENTRIES {
            return Err(ZipError::TooManyEntries);
        }
        let too_large = || ZipError::TooLarge {
            cap: self.cap,
            what: format!(
                "at entry \"{name}\", {} uncompressed",
                size(data.len() as u64)
            ),
        };
        // The headers alone must fit: refuse before spending time on deflate.
        let fixed = LOCAL_LEN + CENTRAL_LEN + 2 * name.len() as u64;
        let before = self.len() + fixed;
        if before > self.cap || data.len() as u64 > MAX_CLASSIC {
            return Err(too_large());
        }
        let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
        let (method, body) = if deflated.len() < data.len() {
            (DEFLATED, deflated.as_slice())
        } else {
            (STORED, data)
        };
        if before + body.len() as u64 > self.cap {
            return Err(too_large());
        }
        let crc = crc32(data);
        // Below the cap, itself below 4 GiB: every size and offset fits in 32 bits.
        let offset = self.out.len() as u32;
        let (packed, plain, name_len) = (body.len() as u32, data.len() as u32, name.len() as u16);

        let o = &mut self.out;
        put32(o, LOCAL_SIG);
        put16(o, VERSION);
        put16(o, UTF8);
        put16(o, method);
        put16(o, self.time);
        put16(o, self.date);
        put32(o, crc);
        put32(o, packed);
        put32(o, plain);
        put16(o, name_len);
        put16(o, 0);
        o.extend_from_slice(name.as_bytes());
        o.extend_from_slice(body);

        let c = &mut self.central;
        put32(c, CENTRAL_SIG);
        put16(c, MADE_BY);
        put16(c, VERSION);
        put16(c, UTF8);
        put16(c, method);
        put16(c, self.time);
        put16(c, self.date);
        put32(c, crc);
        put32(c, packed);
        put32(c, plain);
        put16(c, name_len);
        put16(c, 0); // extra
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, FILE_MODE);
        put32(c, offset);
        c.extend_from_slice(name.as_bytes());
        self.names.push(name.to_owned());
        Ok(())
    }

    /// The archive's size if it were finished now.
    pub(crate) fn len(&self) -> u64 {
        (self.out.len() + self.central.len()) as u64 + END_LEN
    }

    /// The archive's bytes: the entries, the central directory and its end record.
    pub(crate) fn finish(self) -> Vec<u8> {
        let Zip {
            mut out,
            central,
            names,
            ..
        } = self;
        // `add` kept the count within 16 bits and every offset within 32.
        let count = names.len() as u16;
        let (at, len) = (out.len() as u32, central.len() as u32);
        out.extend_from_slice(&central);
        put32(&mut out, END_SIG);
        put16(&mut out, 0); // this disk
        put16(&mut out, 0); // the disk of the central directory
        put16(&mut out, count);
        put16(&mut out, count);
        put32(&mut out, len);
        put32(&mut out, at);
        put16(&mut out, 0); // comment
        out
    }
}

/// `64 MiB`, `4 GiB`, or bytes when it is no whole number of either.
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b > MAX_CLASSIC - (1 << 20) => "4 GiB".into(),
        b => format!("{b} bytes"),
    }
}

fn check_name(name: &str, taken: &[String]) -> Result<(), ZipError> {
    let problem = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_NAME {
        "longer than 1024 bytes"
    } else if name.starts_with('/') {
        "absolute (starts with /)"
    } else if name.contains('\\') {
        "holds a backslash (the separator is /)"
    } else if name.chars().any(char::is_control) {
        "holds a control character"
    } else if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        "has an empty, . or .. segment"
    } else if taken.iter().any(|t| t == name) {
        "already in the archive"
    } else {
        return Ok(());
    };
    Err(ZipError::Name {
        name: name.chars().take(80).collect(),
        problem,
    })
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// CRC-32 of ZIP (IEEE 802.3, reflected, polynomial 0xEDB88320), a byte at a time.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        // The index is the low byte: always below 256.
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn when() -> SystemTime {
        // 2025-01-02T03:04:06Z
        UNIX_EPOCH + Duration::from_secs(1_735_787_046)
    }

    /// Bytes that do not deflate (xorshift32).
    fn noise(n: usize) -> Vec<u8> {
        let mut x = 2_463_534_242u32;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    /// What Python's `zipfile` reads back: `testzip()` (every CRC checked), then per
    /// entry its name, method, time and contents in hex.
    fn python_reads(bytes: &[u8]) -> Vec<(String, u16, String, Vec<u8>)> {
        let dir = std::env::temp_dir().join(format!("gossipper-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.zip", crc32(bytes)));
        std::fs::write(&path, bytes).unwrap();
        let script = "import sys, zipfile\n\
            z = zipfile.ZipFile(sys.argv[1])\n\
            bad = z.testzip()\n\
            assert bad is None, bad\n\
            for i in z.infolist():\n\
            \x20   print(i.filename, i.compress_type, '%04d-%02d-%02dT%02d:%02d:%02d' % i.date_time, z.read(i).hex())\n";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .expect("python3 runs");
        let unzip = std::process::Command::new("unzip")
            .arg("-tq")
            .arg(&path)
            .output()
            .expect("unzip runs");
        std::fs::remove_file(&path).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // unzip calls an archive without entries a warning (exit 1).
        assert!(
            unzip.status.success() || bytes.len() == END_LEN as usize,
            "unzip -t: {}",
            String::from_utf8_lossy(&unzip.stdout)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let hex = f.get(3).copied().unwrap_or("");
                let data = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (
                    f[0].to_owned(),
                    f[1].parse().unwrap(),
                    f[2].to_owned(),
                    data,
                )
            })
            .collect()
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn python_and_unzip_read_back_every_entry() {
        let text: Vec<u8> = b"INVITE sip:s@127.0.0.1 SIP/2.0\r\nCall-ID: 1-2@x\r\n\r\n".repeat(50);
        let noise = noise(3000);
        let mut z = Zip::new(1 << 20, when());
        z.add("trace.txt", &text).unwrap();
        z.add("job-1/summary.json", b"{}").unwrap();
        z.add("noise.bin", &noise).unwrap();
        z.add("empty", b"").unwrap();
        let before = z.len();
        let bytes = z.finish();
        assert_eq!(before, bytes.len() as u64);
        let read = python_reads(&bytes);
        let names: Vec<&str> = read.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            names,
            ["trace.txt", "job-1/summary.json", "noise.bin", "empty"]
        );
        // Text deflates; two bytes and random bytes do not, so they are stored.
        let methods: Vec<u16> = read.iter().map(|r| r.1).collect();
        assert_eq!(methods, [8, 0, 0, 0]);
        assert_eq!(read[0].2, "2025-01-02T03:04:06");
        assert_eq!(read[0].3, text);
        assert_eq!(read[1].3, b"{}");
        assert_eq!(read[2].3, noise);
        assert!(read[3].3.is_empty());
    }

    #[test]
    fn an_empty_archive_is_valid() {
        let bytes = Zip::new(1024, when()).finish();
        assert_eq!(bytes.len(), 22);
        assert!(python_reads(&bytes).is_empty());
    }

    #[test]
    fn bad_names_are_refused_by_name() {
        let mut z = Zip::new(1 << 20, when());
        z.add("a/b.txt", b"x").unwrap();
        for (name, problem) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("a/../b", ".."),
            ("a//b", "empty"),
            ("a\\b", "backslash"),
            ("a\nb", "control"),
            ("a/b.txt", "already"),
        ] {
            let e = z.add(name, b"y").unwrap_err();
            assert!(e.to_string().contains(problem), "{name:?}: {e}");
        }
        assert_eq!(python_reads(&z.finish()).len(), 1);
    }

    #[test]
    fn the_cap_is_kept_and_named() {
        let mut z = Zip::new(500, when());
        let noise = noise(300);
        z.add("one", &noise).unwrap();
        let e = z.add("two", &noise).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the ZIP would be larger than its cap of 500 bytes (at entry \"two\", 300 bytes uncompressed)"
        );
        assert!(z.len() <= 500);
        assert_eq!(python_reads(&z.finish())[0].3, noise);
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(MAX_CLASSIC), "4 GiB");
        assert_eq!(Zip::new(u64::MAX, when()).cap, MAX_CLASSIC);
    }
}
