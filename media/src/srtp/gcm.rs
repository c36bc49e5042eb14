//! AEAD AES-GCM for SRTP and SRTCP (RFC 7714): the profiles a DTLS-SRTP peer picks
//! first (SRTP_AEAD_AES_128_GCM, SRTP_AEAD_AES_256_GCM; rtpengine and dimpl's server
//! both prefer them).
//!
//! Owns: the session keys and salts of one direction (derived once with the RFC 3711
//! AES-CM PRF, RFC 7714 §11: the 96-bit master salt zero-padded to 112 bits), the
//! 12-byte IVs (§8.1, §9.1) and sealing/opening in place. Must not: keep per-SSRC state
//! (the parent [`super::SrtpContext`] owns ROC, replay windows and the SRTCP index),
//! allocate per packet, or panic on any packet.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, UnboundCipherKey};

use super::{LABEL_RTCP, LABEL_SALT, MASTER_SALT_LEN, SrtpError, derive};

/// RFC 7714 master and session salts are 96 bits.
pub const GCM_SALT_LEN: usize = 12;
/// The AEAD tag on SRTP and SRTCP.
pub const GCM_TAG_LEN: usize = 16;

/// Session keys of one kind (RTP or RTCP).
struct Keys {
    aead: LessSafeKey,
    salt: [u8; GCM_SALT_LEN],
}

/// One direction's AES-GCM keys for RTP and RTCP.
pub(super) struct GcmKeys {
    rtp: Keys,
    rtcp: Keys,
}

impl GcmKeys {
    /// Derives the session keys from a 16- or 32-byte master key and a 12-byte salt;
    /// `None` for another key length.
    pub(super) fn derive(master: &[u8], salt: &[u8; GCM_SALT_LEN]) -> Option<Self> {
        let (cm, gcm) = match master.len() {
            16 => (&AES_128, &AES_128_GCM),
            32 => (&AES_256, &AES_256_GCM),
            _ => return None,
        };
        let prf = EncryptingKey::ctr(UnboundCipherKey::new(cm, master).ok()?).ok()?;
        // RFC 7714 §11: the 96-bit salt in the 112-bit place of RFC 3711's, zero-padded.
        let mut salt14 = [0u8; MASTER_SALT_LEN];
        salt14[..GCM_SALT_LEN].copy_from_slice(salt);
        let keys = |base: u8| -> Option<Keys> {
            let mut key = [0u8; 32];
            let key = &mut key[..master.len()];
            derive(&prf, &salt14, base, key);
            let mut s = [0u8; GCM_SALT_LEN];
            derive(&prf, &salt14, base + LABEL_SALT, &mut s);
            Some(Keys {
                aead: LessSafeKey::new(UnboundKey::new(gcm, key).ok()?),
                salt: s,
            })
        };
        Some(Self {
            rtp: keys(0)?,
            rtcp: keys(LABEL_RTCP)?,
        })
    }

    /// Seals the RTP payload `buf[header..len]` with the header as AAD, appends the tag.
    pub(super) fn seal_rtp(
        &self,
        buf: &mut [u8],
        header: usize,
        len: usize,
        ssrc: u32,
        roc: u32,
        seq: u16,
    ) -> Result<usize, SrtpError> {
        let nonce = rtp_nonce(&self.rtp.salt, ssrc, roc, seq);
        let (hdr, rest) = buf.split_at_mut(header);
        let (payload, after) = rest.split_at_mut(len - header);
        let tag = self
            .rtp
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(&*hdr), payload)
            .map_err(|_| SrtpError::BufferTooSmall("AES-GCM"))?;
        after
            .get_mut(..GCM_TAG_LEN)
            .ok_or(SrtpError::BufferTooSmall("SRTP tag"))?
            .copy_from_slice(tag.as_ref());
        Ok(len + GCM_TAG_LEN)
    }

    /// Opens `buf` (header, ciphertext, tag) in place; the RTP length.
    pub(super) fn open_rtp(
        &self,
        buf: &mut [u8],
        header: usize,
        ssrc: u32,
        roc: u32,
        seq: u16,
    ) -> Result<usize, SrtpError> {
        let nonce = rtp_nonce(&self.rtp.salt, ssrc, roc, seq);
        let (hdr, rest) = buf.split_at_mut(header);
        let plain = self
            .rtp
            .aead
            .open_in_place(nonce, Aad::from(&*hdr), rest)
            .map_err(|_| SrtpError::AuthFailed)?;
        Ok(header + plain.len())
    }

    /// Seals the RTCP compound after its first 8 bytes; `word` is E-bit and index.
    /// Layout (RFC 7714 §9): header, ciphertext, tag, E-bit/index.
    pub(super) fn seal_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        word: u32,
    ) -> Result<usize, SrtpError> {
        let nonce = rtcp_nonce(&self.rtcp.salt, ssrc, word & 0x7FFF_FFFF);
        let aad = rtcp_aad(buf, word)?;
        let (_, rest) = buf.split_at_mut(8);
        let (payload, after) = rest.split_at_mut(len - 8);
        let tag = self
            .rtcp
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..]), payload)
            .map_err(|_| SrtpError::BufferTooSmall("AES-GCM"))?;
        let trailer = after
            .get_mut(..GCM_TAG_LEN + 4)
            .ok_or(SrtpError::BufferTooSmall("SRTCP trailer"))?;
        trailer[..GCM_TAG_LEN].copy_from_slice(tag.as_ref());
        trailer[GCM_TAG_LEN..].copy_from_slice(&word.to_be_bytes());
        Ok(len + GCM_TAG_LEN + 4)
    }

    /// Opens an SRTCP packet whose E-bit/index `word` ends `buf` (already checked
    /// against the replay window); the RTCP length.
    pub(super) fn open_rtcp(
        &self,
        buf: &mut [u8],
        ssrc: u32,
        word: u32,
    ) -> Result<usize, SrtpError> {
        let n = buf
            .len()
            .checked_sub(4)
            .ok_or(SrtpError::Truncated("SRTCP index"))?;
        let nonce = rtcp_nonce(&self.rtcp.salt, ssrc, word & 0x7FFF_FFFF);
        let aad = rtcp_aad(buf, word)?;
        let body = buf
            .get_mut(8..n)
            .ok_or(SrtpError::Truncated("SRTCP packet"))?;
        let plain = self
            .rtcp
            .aead
            .open_in_place(nonce, Aad::from(&aad[..]), body)
            .map_err(|_| SrtpError::AuthFailed)?;
        Ok(8 + plain.len())
    }
}

/// IV = (0x0000 || SSRC || ROC || SEQ) XOR salt (RFC 7714 §8.1).
fn rtp_nonce(salt: &[u8; GCM_SALT_LEN], ssrc: u32, roc: u32, seq: u16) -> Nonce {
    let mut iv = [0u8; GCM_SALT_LEN];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// IV = (0x0000 || SSRC || 0x0000 || 0 || SRTCP index) XOR salt (RFC 7714 §9.1).
fn rtcp_nonce(salt: &[u8; GCM_SALT_LEN], ssrc: u32, index: u32) -> Nonce {
    let mut iv = [0u8; GCM_SALT_LEN];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&index.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// AAD = the first 8 octets of the RTCP header || E-bit and index (RFC 7714 §9.2).
fn rtcp_aad(buf: &[u8], word: u32) -> Result<[u8; 12], SrtpError> {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(buf.get(..8).ok_or(SrtpError::Truncated("RTCP header"))?);
    aad[8..].copy_from_slice(&word.to_be_bytes());
    Ok(aad)
}
