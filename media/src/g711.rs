//! G.711 µ-law and A-law companding (ITU-T G.711, bit-exact).
//!
//! Owns: the conversion between 16-bit linear PCM and the 8-bit G.711 codes, both ways.
//! Encoding follows the segment search of the ITU-T reference (G.191 STL `g711.c`):
//! µ-law works on the 14 most significant bits, A-law on the 13 most significant bits,
//! and the even bits of A-law are inverted (`^ 0x55`). Decoding is a lookup in two
//! 256-entry tables built at compile time from the same rules.
//!
//! Must not: allocate per sample or panic on any input (every `i16` and every `u8` is valid).
//! Used by `wav_source` (encode), `record` (decode) and `tone` (encode).

/// Which G.711 law a payload uses. The RTP payload type is fixed by RFC 3551 §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law, RTP payload type 0 (PCMU).
    MuLaw,
    /// A-law, RTP payload type 8 (PCMA).
    ALaw,
}

impl G711Law {
    /// The static RTP payload type (RFC 3551 table 4): 0 for PCMU, 8 for PCMA.
    #[must_use]
    pub const fn payload_type(self) -> u8 {
        match self {
            G711Law::MuLaw => 0,
            G711Law::ALaw => 8,
        }
    }

    /// The law for a static payload type, or `None` when the type is not G.711.
    #[must_use]
    pub const fn from_payload_type(pt: u8) -> Option<G711Law> {
        match pt {
            0 => Some(G711Law::MuLaw),
            8 => Some(G711Law::ALaw),
            _ => None,
        }
    }

    /// The code for digital silence (linear 0): 0xFF for µ-law, 0xD5 for A-law.
    #[must_use]
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::MuLaw => 0xFF,
            G711Law::ALaw => 0xD5,
        }
    }

    /// Encodes one linear sample.
    #[must_use]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            G711Law::MuLaw => linear_to_ulaw(sample),
            G711Law::ALaw => linear_to_alaw(sample),
        }
    }

    /// Decodes one code to a linear sample.
    #[must_use]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            G711Law::MuLaw => ulaw_to_linear(code),
            G711Law::ALaw => alaw_to_linear(code),
        }
    }

    /// Encodes `pcm` into `out`, one code per sample, up to the shorter of the two.
    pub fn encode_slice(self, pcm: &[i16], out: &mut [u8]) {
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = self.encode(s);
        }
    }

    /// Decodes `codes` into `out`, one sample per code, up to the shorter of the two.
    pub fn decode_slice(self, codes: &[u8], out: &mut [i16]) {
        let table = match self {
            G711Law::MuLaw => &ULAW_TO_LINEAR,
            G711Law::ALaw => &ALAW_TO_LINEAR,
        };
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[usize::from(c)];
        }
    }
}

/// µ-law bias added before the segment search (0x84 on the 16-bit scale, 0x21 on 14 bits).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude µ-law can represent before clipping.
const ULAW_CLIP: i32 = 8159;

/// Segment number (0..=7) for a non-negative magnitude, or 8 when it is beyond the last
/// segment. `first_end` is the top of segment 0; each following segment doubles it.
const fn segment(value: i32, first_end: i32) -> i32 {
    let mut seg = 0;
    let mut end = first_end;
    while seg < 8 {
        if value <= end {
            return seg;
        }
        end = (end << 1) | 1;
        seg += 1;
    }
    8
}

/// Encodes a 16-bit linear sample to µ-law (G.711 table 2, via the 14-bit reference rule).
#[must_use]
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 2;
    let mask: i32 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    if v > ULAW_CLIP {
        v = ULAW_CLIP;
    }
    v += ULAW_BIAS >> 2;
    let seg = segment(v, 0x3F);
    // v <= 8159 + 33 = 8192 < 0x3FFF, so seg is at most 7 here; keep the guard anyway.
    let code = if seg >= 8 {
        0x7F
    } else {
        (seg << 4) | ((v >> (seg + 1)) & 0x0F)
    };
    ((code ^ mask) & 0xFF) as u8
}

/// Encodes a 16-bit linear sample to A-law (G.711 table 1, via the 13-bit reference rule).
#[must_use]
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 3;
    let mask: i32 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, 0x1F);
    let code = if seg >= 8 {
        0x7F
    } else if seg < 2 {
        (seg << 4) | ((v >> 1) & 0x0F)
    } else {
        (seg << 4) | ((v >> seg) & 0x0F)
    };
    ((code ^ mask) & 0xFF) as u8
}

const fn ulaw_decode_rule(code: u8) -> i16 {
    let u = !code as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    // t is at most (0x0F << 3 | 0x84) << 7 = 0x7F7C, so both results fit an i16.
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_rule(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    if seg == 0 {
        t += 8;
    } else {
        t += 0x108;
        t <<= seg - 1;
    }
    // t is at most 0x1F8 << 6 = 0x7E00, so both results fit an i16.
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_rule(i as u8)
        } else {
            ulaw_decode_rule(i as u8)
        };
        i += 1;
    }
    table
}

/// µ-law code → 16-bit linear sample.
static ULAW_TO_LINEAR: [i16; 256] = build_table(false);
/// A-law code → 16-bit linear sample.
static ALAW_TO_LINEAR: [i16; 256] = build_table(true);

/// Decodes a µ-law code to a 16-bit linear sample (table lookup).
#[must_use]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes an A-law code to a 16-bit linear sample (table lookup).
#[must_use]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes_are_the_encodings_of_zero() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(G711Law::MuLaw.silence(), linear_to_ulaw(0));
        assert_eq!(G711Law::ALaw.silence(), linear_to_alaw(0));
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
    }

    #[test]
    fn decode_matches_g711_reference_points() {
        // Extremes and a few mid-scale points of the ITU-T tables, on the 16-bit scale.
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xD4), 24);
        assert_eq!(alaw_to_linear(0xC5), 264);
    }

    #[test]
    fn every_ulaw_code_round_trips_except_negative_zero() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            if code == 0x7F {
                // 0x7F is "negative zero"; it decodes to 0, which encodes as 0xFF.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "µ-law code {code:#04x}");
            }
        }
    }

    #[test]
    fn every_alaw_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law code {code:#04x}"
            );
        }
    }

    #[test]
    fn every_linear_sample_decodes_close_to_itself_and_monotonically() {
        // For every i16, the decoded value is the centre of the quantisation interval the
        // sample fell in, so the error is at most half a step of that segment (plus the
        // 14/13-bit truncation of the input), and encoding is monotonic.
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {s}");
            prev_u = u;
            prev_a = a;
            let s32 = i32::from(s);
            // µ-law clips at ±32124 on the 16-bit scale; largest step there is 1024.
            let clipped = s32.clamp(-32124, 32124);
            let err_u = (i32::from(u) - clipped).abs();
            let step_u = (clipped.abs() + 132) / 16; // segment step ~ magnitude / 16
            assert!(err_u <= step_u.max(4) + 3, "µ-law {s}: decoded {u}");
            let err_a = (i32::from(a) - s32.clamp(-32256, 32256)).abs();
            let step_a = s32.abs() / 16;
            assert!(err_a <= step_a.max(16) + 7, "A-law {s}: decoded {a}");
        }
    }

    #[test]
    fn sign_symmetry_holds_for_both_laws() {
        for code in 0..=127u8 {
            assert_eq!(ulaw_to_linear(code), -ulaw_to_linear(code | 0x80));
            assert_eq!(alaw_to_linear(code), -alaw_to_linear(code | 0x80));
        }
    }

    #[test]
    fn slices_encode_and_decode_like_single_samples() {
        let pcm: Vec<i16> = (-40..40).map(|i| i * 800).collect();
        for law in [G711Law::MuLaw, G711Law::ALaw] {
            let mut codes = vec![0u8; pcm.len()];
            law.encode_slice(&pcm, &mut codes);
            let mut back = vec![0i16; pcm.len()];
            law.decode_slice(&codes, &mut back);
            for (i, &s) in pcm.iter().enumerate() {
                assert_eq!(codes[i], law.encode(s));
                assert_eq!(back[i], law.decode(codes[i]));
            }
        }
    }

    #[test]
    fn payload_types_follow_rfc_3551() {
        assert_eq!(G711Law::MuLaw.payload_type(), 0);
        assert_eq!(G711Law::ALaw.payload_type(), 8);
        assert_eq!(G711Law::from_payload_type(0), Some(G711Law::MuLaw));
        assert_eq!(G711Law::from_payload_type(8), Some(G711Law::ALaw));
        assert_eq!(G711Law::from_payload_type(9), None);
    }
}
