//! Fingerprints of a step's business input, kept in its idempotency record.
//!
//! An idempotency key (`inventory#<orderId>`) says which business object a
//! message is about; its fingerprint says what the message says about it. The
//! same key with the same fingerprint is a redelivery (skipped); with another
//! fingerprint it is a different input reusing the key (another customer's
//! order under a known order ID), which must never be skipped as a duplicate.
//!
//! A fingerprint covers the fields that define the input, not delivery
//! details (a correlation ID, a contract version, the time a step ran): a
//! redelivered or regenerated message of the same order keeps its fingerprint.

use std::fmt;
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// 128 bits of SipHash-1-3 over a business input's defining fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// Hex digits in [`Fingerprint::to_hex`].
    pub const HEX_LEN: usize = 32;

    /// The fingerprint as 32 lowercase hex digits, as stores keep it.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// Reads [`Fingerprint::to_hex`]'s text.
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        if text.len() != Self::HEX_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(Fingerprint)
    }

    /// The fingerprint of the fields written by `fields`.
    pub fn of(fields: impl FnOnce(&mut FingerprintBuilder)) -> Fingerprint {
        let mut builder = FingerprintBuilder(SipHasher13::new_with_keys(KEYS.0, KEYS.1));
        fields(&mut builder);
        Fingerprint(builder.0.finish128().as_u128())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:032x})", self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Fixed keys: fingerprints must agree across processes, builds and versions.
const KEYS: (u64, u64) = (0x6f72_6465_7266_6c6f, 0x7766_696e_6765_7270);

/// Writes fields into a fingerprint; each is framed (strings by their length,
/// lists by their count), so no two inputs write the same bytes.
pub struct FingerprintBuilder(SipHasher13);

impl FingerprintBuilder {
    /// A string field.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.0.write_u64(value.len() as u64);
        self.0.write(value.as_bytes());
        self
    }

    /// An integer field.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.0.write_u64(value);
        self
    }

    /// A signed integer field.
    pub fn i128(&mut self, value: i128) -> &mut Self {
        self.0.write_i128(value);
        self
    }

    /// A list's length, written before its entries.
    pub fn count(&mut self, len: usize) -> &mut Self {
        self.0.write_u64(len as u64);
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
    }

    const PINNED: &str = "59205740ad284f8c57a3cef2db8c5d17";

    #[test]
    fn hex_round_trips() {
        let f = Fingerprint::of(|f| {
            f.str("x");
        });
        assert_eq!(Fingerprint::from_hex(&f.to_hex()), Some(f));
        assert_eq!(Fingerprint::from_hex("xyz"), None);
        assert_eq!(Fingerprint::from_hex(&"g".repeat(32)), None);
    }
}
