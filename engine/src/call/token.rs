//! Short byte strings kept by a call (methods, tags) without a heap allocation when they
//! fit in 22 bytes (a SIPp tag such as `15526SIPpTag011` does), which every method and most tags do.
//!
//! Owns: storage only.

/// Bytes stored inline up to `INLINE` long, on the heap beyond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

const INLINE: usize = 22;

impl Token {
    pub(crate) fn new(b: &[u8]) -> Token {
        if b.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Token::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Token::Heap(b.into())
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Token::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Token::Heap(b) => b,
        }
    }

    /// Replaces the value only when it differs (so an unchanged tag costs nothing).
    pub(crate) fn set(slot: &mut Option<Token>, b: &[u8]) {
        if slot.as_ref().is_none_or(|t| t.as_bytes() != b) {
            *slot = Some(Token::new(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_inline_and_long_ones_move_to_the_heap() {
        assert!(matches!(Token::new(b"INVITE"), Token::Inline { .. }));
        assert_eq!(Token::new(b"INVITE").as_bytes(), b"INVITE");
        let long = [b'a'; 40];
        assert!(matches!(Token::new(&long), Token::Heap(_)));
        assert_eq!(Token::new(&long).as_bytes(), &long[..]);
    }
}
