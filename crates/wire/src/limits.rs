//! Every size limit of the wire format, in one place (spec/wire.md, "Limits").
//!
//! A decoder checks a declared length against its limit before it reads
//! the body or allocates for it. Frame body limits are derived from the
//! largest value of each type, so that everything a conforming encoder can
//! produce fits.

/// Longest [`AgencyId`](crate::AgencyId), in bytes.
pub const MAX_AGENCY_ID_LEN: usize = 63;
/// Most labels in a [`Purpose`](crate::Purpose) or [`DataCategory`](crate::DataCategory).
pub const MAX_NAME_LABELS: usize = 8;
/// Longest label of a purpose or category, in bytes.
pub const MAX_NAME_LABEL_LEN: usize = 32;
/// Longest purpose or category, in bytes (8 labels of 32 and 7 dots).
pub const MAX_NAME_LEN: usize = MAX_NAME_LABELS * (MAX_NAME_LABEL_LEN + 1) - 1;
/// Longest [`LogOrigin`](crate::LogOrigin), in bytes.
pub const MAX_ORIGIN_LEN: usize = 255;
/// Longest [`Endpoint`](crate::Endpoint), in bytes.
pub const MAX_ENDPOINT_LEN: usize = 255;

/// Smallest payload chunk, in plaintext bytes.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest payload chunk, in plaintext bytes.
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;
/// The default payload chunk: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 16;
/// The AEAD tag each sealed chunk carries.
pub const CHUNK_TAG_LEN: usize = 16;

/// Most agencies a grant names as permitted senders.
pub const MAX_GRANT_SENDERS: usize = 16;
/// Most purposes in a grant.
pub const MAX_GRANT_PURPOSES: usize = 16;
/// Most data categories in a grant.
pub const MAX_GRANT_CATEGORIES: usize = 16;
/// Longest legal-basis reference (grants, purpose registry), in bytes.
pub const MAX_LEGAL_BASIS_LEN: usize = 256;
/// Longest human-readable note or description, in bytes.
pub const MAX_NOTE_LEN: usize = 1024;
/// Longest agency display name, in bytes.
pub const MAX_DISPLAY_NAME_LEN: usize = 128;
/// Longest close reason, in bytes.
pub const MAX_CLOSE_REASON_LEN: usize = 256;
/// Largest opaque pull query, in bytes.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Most grants in a chain (the leaf and its ancestors).
pub const MAX_GRANT_CHAIN_DEPTH: usize = 8;
/// Most endpoints an agency record lists.
pub const MAX_AGENCY_ENDPOINTS: usize = 8;
/// Most certified KEM keys an agency record carries.
pub const MAX_KEM_KEYS: usize = 8;
/// Most agencies in a directory.
pub const MAX_DIRECTORY_AGENCIES: usize = 4096;
/// Most purposes in a directory's registry.
pub const MAX_DIRECTORY_PURPOSES: usize = 4096;
/// Most data categories in a directory's category register.
pub const MAX_DIRECTORY_CATEGORIES: usize = 4096;
/// Longest DER SubjectPublicKeyInfo of a TLS key in a registration, in bytes.
pub const MAX_SPKI_LEN: usize = 256;

/// Largest encoded [`PacketHeader`](crate::PacketHeader) body, in bytes.
pub const MAX_HEADER_SIZE: usize = 2 * 1024;
/// Largest encoded [`Grant`](crate::Grant) body, in bytes.
pub const MAX_GRANT_SIZE: usize = 16 * 1024;
/// Largest encoded grant chain (all signed grants of an offer or request), in bytes.
pub const MAX_GRANT_CHAIN_SIZE: usize = MAX_GRANT_CHAIN_DEPTH * (MAX_GRANT_SIZE + SIGNED_OVERHEAD) + 1;
/// Largest encoded [`Revocation`](crate::Revocation) body, in bytes.
pub const MAX_REVOCATION_SIZE: usize = 512;
/// Largest encoded [`Receipt`](crate::Receipt) body, in bytes.
pub const MAX_RECEIPT_SIZE: usize = 2 * 1024;
/// Largest encoded [`KemKeyCertificate`](crate::KemKeyCertificate) body, in
/// bytes (an X-Wing key is 1216 bytes).
pub const MAX_KEM_CERT_SIZE: usize = 1536;
/// Largest encoded [`EncapsulatedKey`](crate::EncapsulatedKey): a variant
/// index and an X-Wing ciphertext.
pub const MAX_ENCAPSULATED_KEY_SIZE: usize = 1 + 1120;
/// Largest encoded [`PullRequest`](crate::PullRequest) body, in bytes.
pub const MAX_PULL_REQUEST_SIZE: usize = MAX_QUERY_LEN + 2 * 1024;
/// Longest checkpoint note (C2SP signed note: text and signature lines), in bytes.
pub const MAX_CHECKPOINT_NOTE_LEN: usize = 4096;
/// Most hashes in an inclusion or consistency proof (a tree of up to 2^64 entries).
pub const MAX_PROOF_LEN: usize = 64;
/// Most packets one deletion record names.
pub const MAX_DELETION_PACKETS: usize = 512;
/// Largest encoded [`DeletionRecord`](crate::DeletionRecord) body, in bytes.
pub const MAX_DELETION_RECORD_SIZE: usize = 9 * 1024;
/// Largest encoded [`ReceiptBundle`](crate::ReceiptBundle) body, in bytes.
pub const MAX_BUNDLE_SIZE: usize =
    MAX_RECEIPT_SIZE + SIGNED_OVERHEAD + 1 + 10 + 1 + MAX_PROOF_LEN * 32 + 2 + MAX_CHECKPOINT_NOTE_LEN;
/// Largest encoded [`LogEntry`](crate::LogEntry) body, in bytes.
pub const MAX_LOG_ENTRY_SIZE: usize = 1 + MAX_GRANT_SIZE + SIGNED_OVERHEAD;
/// The most bytes of entries one answer to `Fetch::Entries` holds, unless
/// its one entry is larger (spec/protocol.md, "Fetches").
pub const MAX_ENTRIES_ANSWER: usize = 1 << 20;
/// Largest encoded [`Registration`](crate::Registration) body, in bytes.
pub const MAX_REGISTRATION_SIZE: usize = 16 * 1024;
/// Largest encoded [`Reveal`](crate::Reveal) body, in bytes: an encoded
/// header, the encapsulated key, a trailer, a receipt bundle and the key.
pub const MAX_REVEAL_SIZE: usize =
    MAX_HEADER_SIZE + 5 + MAX_ENCAPSULATED_KEY_SIZE + frame::TRAILER + MAX_BUNDLE_SIZE + 32;
/// Largest encoded [`Directory`](crate::Directory) body, in bytes: 4096
/// agencies with 8 X-Wing keys each are about 48 MiB, the registers a few more.
pub const MAX_DIRECTORY_SIZE: usize = 64 * 1024 * 1024;

/// What signing adds to a body: its length varint (at most 4 bytes for the
/// sizes above) and the 64-byte signature.
pub const SIGNED_OVERHEAD: usize = 4 + 64;

/// Largest frame body of each type, in bytes.
pub mod frame {
    use super::*;

    /// `Offer`: encoded header (length varint at most 4 bytes), encapsulated key, grant chain.
    pub const OFFER: usize = MAX_HEADER_SIZE + 4 + MAX_ENCAPSULATED_KEY_SIZE + MAX_GRANT_CHAIN_SIZE;
    /// `Accept`: a packet id.
    pub const ACCEPT: usize = 16;
    /// `Reject`: a receipt bundle.
    pub const REJECT: usize = MAX_BUNDLE_SIZE;
    /// `Chunk`: a varint index (at most 10 bytes) and one sealed chunk.
    pub const CHUNK: usize = 10 + MAX_CHUNK_SIZE as usize + CHUNK_TAG_LEN;
    /// `Trailer`: chunk count, content commitment, signature.
    pub const TRAILER: usize = 10 + 32 + 64;
    /// `Receipt`: a receipt bundle.
    pub const RECEIPT: usize = MAX_BUNDLE_SIZE;
    /// `Request`: a signed pull request and its grant chain.
    pub const REQUEST: usize = MAX_PULL_REQUEST_SIZE + SIGNED_OVERHEAD + MAX_GRANT_CHAIN_SIZE;
    /// `Notice`: a variant index and a grant chain (a signed revocation is smaller).
    pub const NOTICE: usize = 1 + MAX_GRANT_CHAIN_SIZE;
    /// `Fetch`: a variant index and up to two varints.
    pub const FETCH: usize = 1 + 10 + 10;
    /// `Part`: up to one chunk's worth of an answer's bytes.
    pub const PART: usize = MAX_CHUNK_SIZE as usize;
    /// `Close`: a code and a reason.
    pub const CLOSE: usize = 3 + 2 + MAX_CLOSE_REASON_LEN;
    /// The largest of all: what a reader must be ready to buffer.
    pub const MAX: usize = CHUNK;
}

/// The longest frame prefix: version, type and a 5-byte varint length.
pub const MAX_FRAME_PREFIX: usize = 1 + 1 + 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_frame_is_the_largest() {
        for limit in [
            frame::OFFER,
            frame::ACCEPT,
            frame::REJECT,
            frame::TRAILER,
            frame::RECEIPT,
            frame::REQUEST,
            frame::CLOSE,
            frame::NOTICE,
            frame::FETCH,
            frame::PART,
        ] {
            assert!(limit <= frame::MAX);
        }
        assert!(u32::try_from(frame::MAX).is_ok(), "lengths fit the u32 varint");
    }
}
