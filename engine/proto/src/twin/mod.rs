//! 3PCC twin commands (SIPp's `<sendCmd>`/`<recvCmd>`): their wire framing and the few
//! header lines the engine reads from them.
//!
//! On the wire (SIPp's format, which a SIPp twin sends and expects): a command is the
//! rendered text of a `<sendCmd>` — header lines such as `Call-ID: …`, and whatever the
//! scenario's variables carry (often a whole `Content-Type`, `Content-Length` and SDP
//! body) — followed by one ESC byte (0x1B), over a TCP connection between the twins.
//! An empty line does not end a command: the SDP a command carries has one.
//!
//! The receiver matches a command to its call by the `Call-ID:` line (the short form
//! `i:` too). `internal-cmd: abort_call` aborts the call (SIPp sends it, in lower case,
//! when it aborts a call on an unexpected message in twin mode; so do we). In extended 3PCC, `<recvCmd src="name">` accepts only a command whose
//! first `From:` line names that twin (SIPp's check; the scenario writes the line).
//!
//! Owns: the framer of one twin connection ([`Framer`]) and command parsing. Must not:
//! touch a socket (the shard's `twin_io` moves the bytes) or decide anything about
//! calls (the endpoint does).

use std::fmt;
use std::net::SocketAddr;

/// The byte that ends every command on the wire (SIPp's delimiter).
pub const DELIMITER: u8 = 0x1B;

/// The largest command accepted: a command carries headers and, at most, one SDP body.
pub const MAX_COMMAND: usize = 64 * 1024;

/// A command that leaves through the twin socket (rendered by a `<sendCmd>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwinCommand {
    /// `dest=`: the twin it goes to (extended 3PCC); `None`: the one twin.
    pub dest: Option<String>,
    /// The command with its delimiter, ready to write.
    pub bytes: Vec<u8>,
    /// The Call-ID of the call that sent it (which fails if it cannot be sent), whatever
    /// the text says.
    pub call_id: Box<[u8]>,
}

impl TwinCommand {
    /// Frames `text` (the rendered `<sendCmd>` of call `call_id`) for the wire.
    pub fn new(dest: Option<String>, call_id: &[u8], text: &[u8]) -> TwinCommand {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        // The delimiter cannot be part of a command: a stray one would split it.
        bytes.extend(text.iter().copied().filter(|b| *b != DELIMITER));
        bytes.push(DELIMITER);
        TwinCommand {
            dest,
            bytes,
            call_id: call_id.into(),
        }
    }

    /// The command without its delimiter.
    pub fn text(&self) -> &[u8] {
        self.bytes.strip_suffix(&[DELIMITER]).unwrap_or(&self.bytes)
    }
}

/// Why bytes from a twin are not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// More than [`MAX_COMMAND`] bytes without a delimiter: the connection is closed.
    TooLarge,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge => write!(
                f,
                "3PCC twin sent more than {MAX_COMMAND} bytes without a command delimiter (ESC)"
            ),
        }
    }
}

/// Cuts the byte stream of one twin connection into commands.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where the next command starts in `buf`.
    start: usize,
}

impl Framer {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole command (without its delimiter), `Ok(None)` when none is complete
    /// yet. The returned slice is valid until the next `push`.
    pub fn next_command(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = &self.buf[self.start..];
        match rest.iter().position(|b| *b == DELIMITER) {
            Some(end) => {
                let from = self.start;
                self.start += end + 1;
                Ok(Some(&self.buf[from..from + end]))
            }
            None if rest.len() > MAX_COMMAND => Err(FrameError::TooLarge),
            None => {
                // Keep only the partial command.
                if self.start > 0 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                Ok(None)
            }
        }
    }
}

/// A received command: its text, with SIPp's trailing line ends removed.
#[derive(Clone, Copy, Debug)]
pub struct Command<'a> {
    text: &'a [u8],
}

/// Why a received command cannot be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// No `Call-ID:` line: the command belongs to no call.
    NoCallId,
    /// The `Call-ID:` line is empty.
    EmptyCallId,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NoCallId => write!(f, "3PCC command without a Call-ID line"),
            CommandError::EmptyCallId => write!(f, "3PCC command with an empty Call-ID"),
        }
    }
}

impl<'a> Command<'a> {
    /// Reads a command (its bytes without the delimiter). Leading line ends (left over
    /// from a previous command's tail) and trailing CRLFs are trimmed, as SIPp does
    /// before running a `<recvCmd>`'s actions.
    pub fn parse(bytes: &'a [u8]) -> Result<Command<'a>, CommandError> {
        let mut text = bytes;
        while let [b'\r' | b'\n', rest @ ..] = text {
            text = rest;
        }
        while let Some(rest) = text.strip_suffix(b"\r\n") {
            text = rest;
        }
        let cmd = Command { text };
        match cmd.header(b"call-id").or_else(|| cmd.header(b"i")) {
            None => Err(CommandError::NoCallId),
            Some([]) => Err(CommandError::EmptyCallId),
            Some(_) => Ok(cmd),
        }
    }

    /// The whole command (what a `<recvCmd>` ereg with `search_in="msg"` reads).
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The call the command is for.
    pub fn call_id(&self) -> &'a [u8] {
        self.header(b"call-id")
            .or_else(|| self.header(b"i"))
            .unwrap_or_default()
    }

    /// `Internal-Cmd: abort_call`: the twin aborted this call.
    pub fn is_abort(&self) -> bool {
        self.header(b"internal-cmd")
            .is_some_and(|v| v.split(|b| *b == b' ' || *b == b'\t').next() == Some(b"abort_call"))
    }

    /// The sender's name (extended 3PCC): the first word of the `From:` line.
    pub fn from(&self) -> Option<&'a [u8]> {
        let v = self.header(b"from")?;
        v.split(|b| *b == b' ' || *b == b'\t').next()
    }

    /// The value of the first line `name: value` (name compared without case), trimmed.
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.header_nth(name, 0)
    }

    /// The value of the `n`th (from 0) line `name: value`, looking only before the first
    /// empty line (what follows it is a body).
    pub fn header_nth(&self, name: &[u8], n: usize) -> Option<&'a [u8]> {
        self.head_lines()
            .filter_map(|line| {
                let colon = line.iter().position(|b| *b == b':')?;
                let (k, v) = (trim(&line[..colon]), &line[colon + 1..]);
                k.eq_ignore_ascii_case(name).then(|| trim(v))
            })
            .nth(n)
    }

    /// What follows the first empty line (a body the command carries), or nothing.
    pub fn body(&self) -> &'a [u8] {
        let t = self.text;
        for sep in [&b"\r\n\r\n"[..], b"\n\n"] {
            if let Some(i) = t.windows(sep.len()).position(|w| w == sep) {
                return &t[i + sep.len()..];
            }
        }
        &[]
    }

    fn head_lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.text
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .take_while(|l| !l.is_empty())
    }
}

/// Reads a `-slave_cfg` file: one `name;ip:port` line per master or slave (SIPp's
/// format; blank lines and `#` comments are skipped). Errors name the line.
pub fn parse_peers(text: &str) -> Result<Vec<(String, SocketAddr)>, String> {
    let mut peers: Vec<(String, SocketAddr)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let Some((name, addr)) = line.split_once(';') else {
            return Err(format!("line {n}: expected name;ip:port, got '{line}'"));
        };
        let (name, addr) = (name.trim(), addr.trim().trim_end_matches(';'));
        if name.is_empty() {
            return Err(format!("line {n}: empty name"));
        }
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| format!("line {n}: '{addr}' is not ip:port"))?;
        if peers.iter().any(|(p, _)| p == name) {
            return Err(format!("line {n}: '{name}' is listed twice"));
        }
        peers.push((name.to_string(), addr));
    }
    if peers.is_empty() {
        return Err("no name;ip:port line".into());
    }
    Ok(peers)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests;
