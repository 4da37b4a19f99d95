//! Strict unsigned LEB128 varints, as postcard writes them (spec/wire.md,
//! "Varints"): 7 bits per byte, least significant group first, high bit set
//! on every byte but the last. Only the shortest encoding is accepted.

/// Why a varint did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Incomplete,
    /// A shorter encoding of the same value exists.
    NonMinimal,
    /// The value does not fit the integer type.
    Overflow,
}

/// Most bytes of a u64 varint.
pub(crate) const MAX_U64_LEN: usize = 10;

/// Decodes a varint of at most `bits` bits from the start of `buf`;
/// returns the value and the number of bytes read.
fn decode(buf: &[u8], bits: u32) -> Result<(u64, usize), VarintError> {
    let max_len = bits.div_ceil(7) as usize;
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(max_len) {
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if i == max_len - 1 && group >> (bits - shift) != 0 {
            return Err(VarintError::Overflow);
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::NonMinimal);
            }
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= max_len { Err(VarintError::Overflow) } else { Err(VarintError::Incomplete) }
}

/// Decodes a u64 varint from the start of `buf`.
pub(crate) fn decode_u64(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    decode(buf, 64)
}

/// Decodes a u32 varint from the start of `buf`.
pub(crate) fn decode_u32(buf: &[u8]) -> Result<(u32, usize), VarintError> {
    // decode() enforces the 32-bit bound, so the cast cannot truncate.
    decode(buf, 32).map(|(v, n)| (v as u32, n))
}

/// Writes the varint of `value` into `out`; returns its length.
pub(crate) fn encode_u64(mut value: u64, out: &mut [u8; MAX_U64_LEN]) -> usize {
    let mut i = 0;
    loop {
        let group = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[i] = group;
            return i + 1;
        }
        out[i] = group | 0x80;
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_encodings() {
        let mut buf = [0; MAX_U64_LEN];
        let n = encode_u64(300, &mut buf);
        assert_eq!(&buf[..n], &[0xac, 0x02]);
        assert_eq!(decode_u64(&[0xac, 0x02]), Ok((300, 2)));
        assert_eq!(decode_u64(&[0x00]), Ok((0, 1)));
        assert_eq!(decode_u32(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok((u32::MAX, 5)));
        let n = encode_u64(u64::MAX, &mut buf);
        assert_eq!(n, 10);
        assert_eq!(decode_u64(&buf[..n]), Ok((u64::MAX, 10)));
    }

    #[test]
    fn strictness() {
        assert_eq!(decode_u64(&[0x80, 0x00]), Err(VarintError::NonMinimal), "0 in two bytes");
        assert_eq!(decode_u64(&[0xac, 0x82, 0x00]), Err(VarintError::NonMinimal));
        assert_eq!(decode_u64(&[0x80]), Err(VarintError::Incomplete));
        assert_eq!(decode_u64(&[]), Err(VarintError::Incomplete));
        assert_eq!(decode_u32(&[0xff, 0xff, 0xff, 0xff, 0x10]), Err(VarintError::Overflow));
        assert_eq!(decode_u32(&[0xff, 0xff, 0xff, 0xff, 0x8f]), Err(VarintError::Overflow));
        assert_eq!(
            decode_u64(&[0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>()),
            Err(VarintError::Overflow)
        );
    }

    proptest! {
        /// Every u64 round-trips, and decoding agrees with postcard.
        #[test]
        fn round_trips_like_postcard(v: u64) {
            let mut buf = [0; MAX_U64_LEN];
            let n = encode_u64(v, &mut buf);
            prop_assert_eq!(&buf[..n], &postcard::to_allocvec(&v).expect("serializes")[..]);
            prop_assert_eq!(decode_u64(&buf[..n]), Ok((v, n)));
            for k in 0..n {
                prop_assert_eq!(decode_u64(&buf[..k]), Err(VarintError::Incomplete));
            }
        }
    }
}
