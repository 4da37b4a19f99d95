//! Hex for the byte strings in files people read and edit (TOML, JSON,
//! log exports): written lowercase, read in either case. The readable form
//! of the wire types is stricter (lowercase only, wire.md).

/// Encodes bytes as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    crate::bytes::hex_encode(bytes)
}

/// Decodes hex (either case); `None` if it is not hex.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_non_hex() {
        assert_eq!(super::encode(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(super::decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(super::decode("0g"), None);
        assert_eq!(super::decode("abc"), None);
    }
}
