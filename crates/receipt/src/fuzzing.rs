//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test.
//! Not part of the API. A panic here is a bug.

use tally_envelope::IdentityKey;
use tally_wire::{AgencyId, Digest, Encoded, IdentityPublicKey, LogOrigin, ReceiptBundle};

use crate::merkle::{roots_from_consistency, verify_consistency, verify_inclusion};
use crate::note::{NoteKey, parse_checkpoint_text, verify_note};
use crate::{bundle_from_text, bundle_to_text, verify_bundle};

fn key() -> IdentityPublicKey {
    IdentityKey::from_seed(&[2; 32]).public_key()
}

/// A binary bundle (`Encoded<ReceiptBundle>`): decode, re-encode, verify.
pub fn bundle(data: &[u8]) {
    let Ok(bundle) = Encoded::<ReceiptBundle>::decode(data) else { return };
    assert_eq!(bundle.encode(), data, "bundle decode/encode is not the identity");
    let public = key();
    let _ = verify_bundle(bundle.value(), |_: &AgencyId| Some(public));
    if let Ok(text) = bundle_to_text(bundle.value()) {
        assert_eq!(bundle_from_text(&text).as_ref(), Ok(bundle.value()), "bundle text form does not round-trip");
    }
}

/// A bundle's text form: parse strictly, and print back what parsed.
pub fn bundle_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(bundle) = bundle_from_text(text) else { return };
    let again = bundle_to_text(&bundle).expect("a parsed bundle encodes");
    assert_eq!(bundle_from_text(&again), Ok(bundle), "bundle text does not round-trip");
}

/// Inclusion and consistency proof verification on arbitrary sizes, indices and hashes.
pub fn proof(data: &[u8]) {
    if data.len() < 16 {
        return;
    }
    let a = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    let b = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
    let hashes: Vec<Digest> = data[16..].chunks_exact(32).map(|c| Digest(c.try_into().expect("32 bytes"))).collect();
    let Some((first, rest)) = hashes.split_first() else { return };
    let root = rest.first().copied().unwrap_or(*first);
    let _ = verify_inclusion(first, a, b, rest, &root);
    let _ = verify_consistency(a, b, first, &root, rest);
    let _ = roots_from_consistency(a, b, Some(*first), rest);
}

/// A signed note and a checkpoint text: parse and verify without panicking.
pub fn note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let note_key = NoteKey::new("tally/social-security", key());
    if let Ok(body) = verify_note(text, &note_key) {
        let _ = parse_checkpoint_text(body);
    }
    if let Ok(c) = parse_checkpoint_text(text) {
        assert_eq!(crate::note::checkpoint_text(&c).lines().next(), Some(c.origin.as_str()));
        let _ = LogOrigin::new(c.origin.as_str()).expect("a parsed origin is valid");
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by the name of its directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] =
    &[("bundle", bundle), ("bundle_text", bundle_text), ("proof", proof), ("checkpoint_note", note)];
