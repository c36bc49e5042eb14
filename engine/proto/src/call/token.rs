//! Short byte strings kept by a call (methods, tags, the Call-ID) without a heap
//! allocation when they fit inline: 22 bytes by default (a SIPp tag such as
//! `15526SIPpTag011` does, and every method), 30 for a Call-ID (`%u-%p@%s` of SIPp's
//! `-cid_str` does for IPv4 up to call number 9,999,999).
//!
//! Owns: storage only.

/// Bytes stored inline up to `N` long, on the heap beyond (`N + 2` bytes, rounded up
/// to 8, at least 24).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token<const N: usize = 22> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<[u8]>),
}

impl<const N: usize> Token<N> {
    pub(crate) fn new(b: &[u8]) -> Token<N> {
        match u8::try_from(b.len()) {
            Ok(len) if b.len() <= N => {
                let mut bytes = [0u8; N];
                if let Some(dst) = bytes.get_mut(..b.len()) {
                    dst.copy_from_slice(b);
                }
                Token::Inline { len, bytes }
            }
            _ => Token::Heap(b.into()),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Token::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(&[]),
            Token::Heap(b) => b,
        }
    }

    /// Replaces the value only when it differs (so an unchanged tag costs nothing).
    pub(crate) fn set(slot: &mut Option<Token<N>>, b: &[u8]) {
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
        assert!(matches!(Token::<22>::new(b"INVITE"), Token::Inline { .. }));
        assert_eq!(Token::<22>::new(b"INVITE").as_bytes(), b"INVITE");
        let long = [b'a'; 40];
        assert!(matches!(Token::<22>::new(&long), Token::Heap(_)));
        assert_eq!(Token::<22>::new(&long).as_bytes(), &long[..]);
        let id = b"1000000-1234567@10.0.0.1";
        assert!(matches!(Token::<30>::new(id), Token::Inline { .. }));
        assert_eq!(Token::<30>::new(id).as_bytes(), id);
    }

    #[test]
    fn inline_capacity_sets_the_size() {
        assert_eq!(std::mem::size_of::<Token<22>>(), 24);
        assert_eq!(std::mem::size_of::<Option<Token<22>>>(), 24);
        assert_eq!(std::mem::size_of::<Token<30>>(), 32);
    }
}
