//! Fingerprints of a step's business input, kept in its idempotency record.
//!
//! An idempotency key (`<step>#<business key>`) says which business object a
//! message is about; its fingerprint says what the message says about it. The
//! same key with the same fingerprint is a redelivery (skipped); with another
//! fingerprint it is a different input reusing the key (another user's
//! invoice under a known invoice ID), which must never be skipped as a duplicate.
//!
//! A fingerprint covers the fields that define the input, not delivery
//! details (a correlation ID, a contract version, the time a step ran): a
//! redelivered or regenerated message of the same input keeps its fingerprint.

use std::fmt;

/// 64 bits of SipHash-1-3 over a business input's defining fields.
///
/// 64 bits suffice: a reuse goes unnoticed only if another input hits the
/// fingerprint of the one before it under the same key (a second preimage,
/// about 2^64 tries), not any two inputs alike.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// Hex digits in [`Fingerprint::to_hex`].
    const HEX_LEN: usize = 16;

    /// The fingerprint as 16 lowercase hex digits, as stores keep it.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Reads [`Fingerprint::to_hex`]'s text.
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        if text.len() != Self::HEX_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Fingerprint)
    }

    /// The fingerprint of the fields written by `fields`.
    pub fn of(fields: impl FnOnce(&mut FingerprintBuilder)) -> Fingerprint {
        let mut builder = FingerprintBuilder::new(KEYS);
        fields(&mut builder);
        Fingerprint(builder.finish())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:016x})", self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The last `tail` (1 to 7) bytes of `bytes` as a zero-padded little-endian
/// word, without a copy of variable length.
fn tail_word(bytes: &[u8], tail: usize) -> u64 {
    if let Some(last) = bytes.len().checked_sub(8).and_then(|at| bytes.get(at..)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(last);
        return u64::from_le_bytes(word) >> (8 * (8 - tail));
    }
    bytes.iter().rev().fold(0u64, |word, &b| word << 8 | u64::from(b))
}

/// Fixed keys: fingerprints must agree across processes, builds and versions.
const KEYS: (u64, u64) = (0x6f72_6465_7266_6c6f, 0x7766_696e_6765_7270);

/// Writes fields into a fingerprint: SipHash-1-3 over them as little-endian
/// 64-bit words, each string framed by its length (strings are far below
/// 4 GiB, so the length takes the low half of its word; a string of at most 4
/// bytes takes the high half, else its bytes follow, the last word
/// zero-padded) and each list by its count, so no two inputs write the same
/// words. The words go straight into the hash's state, a field at a
/// time: a typical record's fingerprint costs a few hundred instructions.
pub struct FingerprintBuilder {
    v: [u64; 4],
    words: u64,
}

impl FingerprintBuilder {
    fn new((k0, k1): (u64, u64)) -> Self {
        FingerprintBuilder {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            words: 0,
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    #[inline(always)]
    fn word(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.v[0] ^= m;
        self.words += 1;
    }

    fn finish(mut self) -> u64 {
        // SipHash's last block: the input's length in bytes, mod 256, in the top byte.
        let b = (self.words.wrapping_mul(8) & 0xff) << 56;
        self.v[3] ^= b;
        self.round();
        self.v[0] ^= b;
        self.v[2] ^= 0xff;
        self.round();
        self.round();
        self.round();
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }

    /// A string field; one of at most 4 bytes (a region) shares its framing word.
    #[inline]
    pub fn str(&mut self, value: &str) -> &mut Self {
        let bytes = value.as_bytes();
        if bytes.len() <= 4 {
            let inline = bytes.iter().rev().fold(0u64, |word, &b| word << 8 | u64::from(b));
            self.word(bytes.len() as u64 | inline << 32);
            return self;
        }
        self.framed(value, 0)
    }

    /// A string and a small number (a line's item code and count) as one
    /// field: the number shares the string's framing word.
    #[inline]
    pub fn str_and_u32(&mut self, value: &str, number: u32) -> &mut Self {
        self.framed(value, number)
    }

    /// The string's length (its low 32 bits) and `number` in one word, then its bytes.
    #[inline]
    fn framed(&mut self, value: &str, number: u32) -> &mut Self {
        let bytes = value.as_bytes();
        self.word(bytes.len() as u32 as u64 | u64::from(number) << 32);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder().len();
        if tail > 0 {
            self.word(tail_word(bytes, tail));
        }
        self
    }

    /// An integer field.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.word(value);
        self
    }

    /// A signed integer field.
    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.word(value as u64);
        self
    }

    /// A signed integer field (two words).
    pub fn i128(&mut self, value: i128) -> &mut Self {
        self.word(value as u64);
        self.word((value >> 64) as u64);
        self
    }

    /// A list's length, written before its entries.
    pub fn count(&mut self, len: usize) -> &mut Self {
        self.word(len as u64);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_framed_and_the_value_is_pinned() {
        let ab_c = Fingerprint::of(|f| {
            f.str("ab").str("c");
        });
        let a_bc = Fingerprint::of(|f| {
            f.str("a").str("bc");
        });
        assert_ne!(ab_c, a_bc);
        let short = |a: &str, b: &str| {
            Fingerprint::of(|f| {
                f.str(a).str(b);
            })
        };
        assert_ne!(short("ab", "c"), short("a", "bc"));
        assert_ne!(short("abcd", ""), short("abc", "d"));
        assert_ne!(short("abcde", ""), short("abcd", "e"));
        let long = "x".repeat(70_000);
        assert_ne!(
            Fingerprint::of(|f| {
                f.str(&long);
            }),
            Fingerprint::of(|f| {
                f.str(&long[1..]).str("x");
            })
        );
        assert_eq!(
            ab_c,
            Fingerprint::of(|f| {
                f.str("ab").str("c");
            })
        );
        // Pinned: a change of hash or keys would turn every stored record into a "reused key".
        assert_eq!(
            Fingerprint::of(|f| {
                f.str("ord-1").u64(7);
            })
            .to_hex(),
            PINNED
        );
        // An input larger than the stack buffer is hashed whole.
        let long = |last: &str| {
            Fingerprint::of(|f| {
                for _ in 0..100 {
                    f.str("SKU-0000000000000000000000000001").u64(1000);
                }
                f.str(last);
            })
        };
        assert_ne!(long("a"), long("b"));
        assert_eq!(long("a"), long("a"));
    }

    const PINNED: &str = "97e80fab6876ccff";

    #[test]
    fn it_is_siphash_1_3_of_the_framed_words() {
        use std::hash::Hasher;
        // Each string's length, then its bytes zero-padded to whole words; then 7;
        // then a string sharing its framing word with 9.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&5u64.to_le_bytes());
        bytes.extend_from_slice(b"ord-1\0\0\0");
        bytes.extend_from_slice(&11u64.to_le_bytes());
        bytes.extend_from_slice(b"order-12345\0\0\0\0\0");
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(&(2u64 | 9 << 32).to_le_bytes());
        bytes.extend_from_slice(b"AB\0\0\0\0\0\0");
        bytes.extend_from_slice(b"\x02\0\0\0EU\0\0");
        let mut reference = siphasher::sip::SipHasher13::new_with_keys(KEYS.0, KEYS.1);
        reference.write(&bytes);
        let ours = Fingerprint::of(|f| {
            f.str("ord-1")
                .str("order-12345")
                .u64(7)
                .str_and_u32("AB", 9)
                .str("EU");
        });
        assert_eq!(ours, Fingerprint(reference.finish()));
    }

    #[test]
    fn hex_round_trips() {
        let f = Fingerprint::of(|f| {
            f.str("x");
        });
        assert_eq!(Fingerprint::from_hex(&f.to_hex()), Some(f));
        assert_eq!(Fingerprint::from_hex("xyz"), None);
        assert_eq!(Fingerprint::from_hex(&"g".repeat(16)), None);
    }
}
