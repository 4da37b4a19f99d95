//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test.
//! Not part of the API. A panic here is a bug.

use std::sync::{Arc, LazyLock};

use tally_wire::Kem;

use crate::{IdentityKey, IdentityVerifier, KemKey, read_packet};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target of this crate, by name (the name of its corpus directory).
pub const TARGETS: &[(&str, Target)] = &[("packet_open", packet_open)];

/// A packet stream opened with the recipient keys of the envelope vectors
/// (spec/vectors/envelope: an X25519 and an X-Wing key from the secret
/// `03…03`, the sender's identity seed `01…01`), so that mutations of the
/// vector packets reach DHKEM and X-Wing decapsulation, every chunk check
/// and the trailer's. Whatever opens must have the header's length.
pub fn packet_open(data: &[u8]) {
    let _ = open(data);
}

/// The recipient's keys, made once: X-Wing's expansion would cost more than most inputs.
static KEYS: LazyLock<[Arc<KemKey>; 2]> = LazyLock::new(|| {
    [Arc::new(KemKey::from_secret(Kem::X25519, [3; 32])), Arc::new(KemKey::from_secret(Kem::XWing, [3; 32]))]
});

fn open(data: &[u8]) -> Result<(), crate::Error> {
    let sender = IdentityVerifier::new(&IdentityKey::from_seed(&[1; 32]).public_key())?;
    let mut out = Vec::new();
    let opened = read_packet(&KEYS[..], |_| Ok(sender), data, &mut out)?;
    assert_eq!(out.len() as u64, opened.header.payload_len, "an opened packet has its declared length");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The target's keys are the vectors' (or the corpus would stop at the first check).
    #[test]
    fn every_vector_packet_opens_with_the_targets_keys() {
        for file in ["packets.json", "xwing-packets.json"] {
            let path = format!("{}/../../spec/vectors/envelope/{file}", env!("CARGO_MANIFEST_DIR"));
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("the vectors")).expect("JSON");
            for case in doc["cases"].as_array().expect("cases") {
                let stream = crate::unhex_checked(case["stream"].as_str().expect("hex")).expect("hex");
                assert!(super::open(&stream).is_ok(), "{file}: {}", case["name"]);
            }
        }
    }
}
