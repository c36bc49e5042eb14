//! SDES key exchange: the SDP `a=crypto` attribute (RFC 4568 §4, §6.1, §9.1).
//!
//! Owns: parsing one attribute into a suite, a master key and a lifetime, and writing ours.
//! Must not: choose keys (the caller brings the randomness) or keep state.
//! Used when a call renders or reads SDP with `-media_srtp` and no `a=fingerprint`.
//!
//! What we refuse, by name, so the caller can try the next `a=crypto` line or fail the call
//! with the reason: suites other than the two AES_CM_128 ones, an MKI (`|1:4`), more than
//! one key (`;`), a key derivation rate other than 0, and the session parameters that turn
//! encryption or authentication off or add FEC. A lifetime is honoured:
//! [`super::SrtpContext::with_lifetime`] stops the key after that many packets.

use base64ct::{Base64, Encoding};
use thiserror::Error;

use super::{MASTER_KEY_LEN, MASTER_SALT_LEN, MasterKey, SrtpSuite};

const INLINE_KEY_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;
/// Base64 of 30 bytes: 40 characters, no padding.
const INLINE_B64_LEN: usize = 40;
/// Lifetimes are at most 2^48 packets (RFC 3711 §9.2); a larger one is malformed.
const MAX_LIFETIME_LOG2: u32 = 48;

/// One `a=crypto` attribute (RFC 4568 §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The attribute's tag, echoed in the answer (1 to 9 digits).
    pub tag: u32,
    /// The crypto suite.
    pub suite: SrtpSuite,
    /// The sender's master key and salt.
    pub key: MasterKey,
    /// Packets this key may protect, if the line limits it.
    pub lifetime: Option<u64>,
}

/// Why an `a=crypto` line was refused. Tests match the kind, never the text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoLineError {
    /// A required field is absent.
    #[error("a=crypto: missing {0}")]
    Missing(&'static str),
    /// The tag is not 1 to 9 digits.
    #[error("a=crypto: the tag must be 1 to 9 digits")]
    BadTag,
    /// A suite we do not implement (named).
    #[error("a=crypto: crypto suite {0} is not supported (AES_CM_128_HMAC_SHA1_80 or _32 are)")]
    UnsupportedSuite(Box<str>),
    /// The key method is not `inline:`.
    #[error("a=crypto: only the inline: key method exists")]
    NotInline,
    /// The inline key is not the base64 of a 16-byte key and a 14-byte salt.
    #[error("a=crypto: the inline key must be base64 of 30 bytes (key and salt)")]
    BadKey,
    /// The lifetime is neither `2^n` nor a decimal count, or is over 2^48.
    #[error("a=crypto: bad key lifetime")]
    BadLifetime,
    /// The line carries a master key identifier; we use one key per direction.
    #[error("a=crypto: MKI (master key identifier) is not supported")]
    MkiUnsupported,
    /// Several keys separated by `;`.
    #[error("a=crypto: more than one key is not supported")]
    SeveralKeys,
    /// A session parameter we do not implement (named).
    #[error("a=crypto: session parameter {0} is not supported")]
    UnsupportedSessionParam(Box<str>),
}

impl CryptoAttribute {
    /// Parses `a=crypto:<tag> <suite> inline:<key||salt>[|lifetime] [params]`; the `a=` and
    /// `crypto:` prefixes are optional, surrounding whitespace and CRLF are ignored.
    pub fn parse(line: &str) -> Result<Self, CryptoLineError> {
        let value = line.trim();
        let value = value.strip_prefix("a=").unwrap_or(value);
        let value = value.strip_prefix("crypto:").unwrap_or(value);
        let mut fields = value.split_ascii_whitespace();
        let tag = fields.next().ok_or(CryptoLineError::Missing("tag"))?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoLineError::BadTag);
        }
        let tag = tag.parse().map_err(|_| CryptoLineError::BadTag)?;
        let suite = fields
            .next()
            .ok_or(CryptoLineError::Missing("crypto suite"))?;
        let suite = SrtpSuite::from_name(suite)
            .ok_or_else(|| CryptoLineError::UnsupportedSuite(suite.into()))?;
        let key_params = fields
            .next()
            .ok_or(CryptoLineError::Missing("key parameters"))?;
        if key_params.contains(';') {
            return Err(CryptoLineError::SeveralKeys);
        }
        let key_info = key_params
            .strip_prefix("inline:")
            .ok_or(CryptoLineError::NotInline)?;
        let mut parts = key_info.split('|');
        let key = decode_key(parts.next().unwrap_or_default())?;
        let mut lifetime = None;
        for part in parts {
            if part.contains(':') {
                return Err(CryptoLineError::MkiUnsupported);
            }
            if lifetime.is_some() {
                return Err(CryptoLineError::BadLifetime);
            }
            lifetime = Some(parse_lifetime(part)?);
        }
        for param in fields {
            check_session_param(param)?;
        }
        Ok(Self {
            tag,
            suite,
            key,
            lifetime,
        })
    }

    /// The first line of `lines` we can use, or the first line's error if none is (an
    /// offer lists its `a=crypto` lines in the offerer's preference, RFC 4568 §7.1.1).
    pub fn first_supported<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, CryptoLineError> {
        let mut first_error = None;
        for line in lines {
            match Self::parse(line) {
                Ok(attr) => return Ok(attr),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(CryptoLineError::Missing("a=crypto line")))
    }
}

/// Writes `a=crypto:<tag> <suite> inline:<base64>[|2^n]` without a line ending.
impl std::fmt::Display for CryptoAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut b64 = [0u8; INLINE_B64_LEN];
        let key = Base64::encode(&self.key.to_bytes(), &mut b64).map_err(|_| std::fmt::Error)?;
        write!(
            f,
            "a=crypto:{} {} inline:{key}",
            self.tag,
            self.suite.name()
        )?;
        match self.lifetime {
            Some(n) if n.is_power_of_two() => write!(f, "|2^{}", n.trailing_zeros()),
            Some(n) => write!(f, "|{n}"),
            None => Ok(()),
        }
    }
}

/// The base64 of `key` then salt as an `inline:` key writes it (40 characters), appended
/// to `out`: SIPp's `[cryptokeyparamsNaudio]`.
pub fn write_inline_key(key: &MasterKey, out: &mut Vec<u8>) {
    let mut b64 = [0u8; INLINE_B64_LEN];
    if let Ok(text) = Base64::encode(&key.to_bytes(), &mut b64) {
        out.extend_from_slice(text.as_bytes());
    }
}

fn decode_key(b64: &str) -> Result<MasterKey, CryptoLineError> {
    // One byte of slack: a longer key (AES-256's 46 bytes) must fail as too long, not as
    // "buffer too small" inside the decoder.
    let mut buf = [0u8; INLINE_KEY_LEN + 1];
    let bytes = Base64::decode(b64, &mut buf).map_err(|_| CryptoLineError::BadKey)?;
    let bytes: &[u8; INLINE_KEY_LEN] = bytes.try_into().map_err(|_| CryptoLineError::BadKey)?;
    Ok(MasterKey::from_bytes(bytes))
}

fn parse_lifetime(s: &str) -> Result<u64, CryptoLineError> {
    let n = if let Some(exp) = s.strip_prefix("2^") {
        let exp: u32 = exp.parse().map_err(|_| CryptoLineError::BadLifetime)?;
        if exp > MAX_LIFETIME_LOG2 {
            return Err(CryptoLineError::BadLifetime);
        }
        1u64 << exp
    } else {
        s.parse().map_err(|_| CryptoLineError::BadLifetime)?
    };
    if n == 0 || n > 1 << MAX_LIFETIME_LOG2 {
        return Err(CryptoLineError::BadLifetime);
    }
    Ok(n)
}

/// RFC 4568 §6.3: KDR=0 is what we do anyway and WSH is only a hint (our window is 64);
/// everything else changes the protection and is refused.
fn check_session_param(param: &str) -> Result<(), CryptoLineError> {
    let (name, value) = param.split_once('=').unwrap_or((param, ""));
    match name {
        "KDR" if value == "0" => Ok(()),
        "WSH" if value.parse::<u32>().is_ok() => Ok(()),
        _ => Err(CryptoLineError::UnsupportedSessionParam(param.into())),
    }
}
