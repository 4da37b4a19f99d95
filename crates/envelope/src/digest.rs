//! Labeled digests: `H(label, m) = SHA-256(label ‖ 0x00 ‖ m)` (spec/README.md).

use ring::digest::{Context, SHA256};
use tally_wire::{Digest, Encoded, HashLabel, KemPublicKey, KeyId, PacketHeader, PullRequest, Signed, label};

/// `H(label, part_1 ‖ … ‖ part_n)`.
pub fn digest(label: HashLabel, parts: &[&[u8]]) -> Digest {
    let mut ctx = labeled_context(label);
    for p in parts {
        ctx.update(p);
    }
    finish(ctx)
}

/// Plain SHA-256 of the concatenated parts, without a label: only for
/// constructions whose hash input another specification fixes (RFC 9162
/// Merkle trees, C2SP note key ids). Tally's own hashes use [`digest`].
pub fn sha256(parts: &[&[u8]]) -> Digest {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    finish(ctx)
}

/// `H(label, m)` of everything `reader` yields, read in 64 KiB steps (so
/// that a file of any size is digested in constant memory).
pub fn digest_reader(label: HashLabel, mut reader: impl std::io::Read) -> std::io::Result<Digest> {
    let mut ctx = labeled_context(label);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(finish(ctx)),
            Ok(n) => ctx.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A SHA-256 context that has absorbed `label ‖ 0x00`.
pub(crate) fn labeled_context(label: HashLabel) -> Context {
    let mut ctx = Context::new(&SHA256);
    ctx.update(label.as_bytes());
    ctx.update(&[0]);
    ctx
}

pub(crate) fn finish(ctx: Context) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Digest(out)
}

/// A packet header's digest, `H("tally/v1/hash/header", header body)`: the HPKE `info`.
pub fn header_digest(header: &Encoded<PacketHeader>) -> Digest {
    digest(label::HEADER_DIGEST, &[header.body()])
}

/// A pull request's digest, `H("tally/v1/hash/pull-request", request body)`:
/// the `header_digest` of a receipt refusing the request (spec/protocol.md, "Pull").
pub fn request_digest(request: &Signed<PullRequest>) -> Digest {
    digest(label::PULL_REQUEST_DIGEST, &[request.body()])
}

/// A KEM key's id, `H("tally/v1/hash/kem-key-id", public key)`: the key's
/// bytes without the variant index (32 for X25519, 1216 for X-Wing).
pub fn kem_key_id(key: &KemPublicKey) -> KeyId {
    KeyId(digest(label::KEM_KEY_ID, &[key.as_bytes()]).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_label_nul_message() {
        // The definition, spelled out: one SHA-256 over label, NUL and the concatenated parts.
        let d = digest(label::HEADER_DIGEST, &[b"a", b"bc"]);
        let expected = ring::digest::digest(&SHA256, b"tally/v1/hash/header\0abc");
        assert_eq!(&d.0[..], expected.as_ref());
        assert_ne!(d, digest(label::GRANT_ID, &[b"abc"]), "labels separate");
    }
}
