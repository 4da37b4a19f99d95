//! The envelope's one error type (spec/envelope.md, "Errors").
//!
//! Locally, each variant names the check that failed. Towards the peer,
//! [`Error::reason_code`] is deliberately coarse: every failure to decrypt
//! or to match a tag, a chunk or a commitment is `DECRYPTION_FAILED`, so a
//! rejection is no oracle.

use std::path::PathBuf;

use tally_wire::{KeyId, ReasonCode, SuiteId, Version};

/// A failure inside HPKE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HpkeError {
    /// The Diffie-Hellman output was all zeros (a small-order public key).
    #[error("X25519 produced an all-zero shared secret")]
    ZeroSharedSecret,
    /// Decryption failed: wrong key, modified ciphertext, AAD or order.
    #[error("AEAD open failed")]
    OpenFailed,
    /// The context's sequence number is exhausted.
    #[error("HPKE message limit reached")]
    MessageLimitReached,
    /// The requested export is longer than 255 · 32 bytes.
    #[error("HPKE export too long")]
    ExportTooLong,
    /// Seal or open on an export-only context.
    #[error("the context is export-only")]
    ExportOnly,
    /// A psk and a psk id must be given together, and only in the psk modes.
    #[error("inconsistent PSK inputs")]
    InconsistentPsk,
    /// The sender passed a public auth key, or the receiver a private one.
    #[error("wrong kind of auth key for this side")]
    WrongAuthKey,
    /// The AEAD rejected the key.
    #[error("invalid AEAD key")]
    InvalidKey,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The suite's KEM is not the one of the key or encapsulated key given.
    #[error("the suite's KEM is {suite}, the key's is {key}")]
    WrongKem {
        /// The suite's KEM.
        suite: tally_wire::Kem,
        /// The key's.
        key: tally_wire::Kem,
    },
    /// The recipient's X-Wing key is not a valid encapsulation key (its
    /// ML-KEM part fails the modulus check of FIPS 203).
    #[error("the X-Wing public key is invalid")]
    InvalidPublicKey,
}

/// Everything that can go wrong sealing, opening, signing or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- The peer's packet is malformed or was tampered with.
    /// The packet's version is not one this implementation speaks.
    #[error("unsupported packet version {0}")]
    UnsupportedVersion(Version),
    /// The packet's suite is not supported.
    #[error("unsupported suite {0}")]
    UnsupportedSuite(SuiteId),
    /// The packet is sealed to a KEM key this recipient does not hold.
    #[error("packet is sealed to KEM key {got}, not to this recipient's key {expected}")]
    WrongRecipientKey {
        /// The recipient's key id.
        expected: KeyId,
        /// The header's key id.
        got: KeyId,
    },
    /// The packet is sealed to a KEM key none of this recipient's keys is.
    #[error("packet is sealed to KEM key {0}, which this recipient does not hold")]
    UnknownRecipientKey(KeyId),
    /// The trailer's signature does not verify under the sender's identity key.
    #[error("the trailer signature does not verify under the sender's identity key")]
    BadTrailerSignature,
    /// A signed object's signature does not verify.
    #[error("the signature on a {0} does not verify")]
    BadSignature(&'static str),
    /// A chunk arrived out of order (reordered, duplicated or after a dropped one).
    #[error("chunk {got} arrived where chunk {expected} was due")]
    ChunkOutOfOrder {
        /// The chunk due.
        expected: u64,
        /// The chunk's index.
        got: u64,
    },
    /// More chunks than the header's payload length allows.
    #[error("chunk {index} is beyond the packet's {count} chunks")]
    TooManyChunks {
        /// The extra chunk's index.
        index: u64,
        /// How many chunks the header allows.
        count: u64,
    },
    /// A sealed chunk's length disagrees with the header.
    #[error("chunk {index} has {got} sealed bytes, {expected} expected")]
    ChunkLength {
        /// The chunk.
        index: u64,
        /// What the header implies.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// A chunk failed AEAD authentication.
    #[error("chunk {index} failed authentication")]
    ChunkAuthentication {
        /// The chunk.
        index: u64,
    },
    /// The trailer came before the last chunk (truncation).
    #[error("the trailer came after {received} of {expected} chunks")]
    MissingChunks {
        /// Chunks the header implies.
        expected: u64,
        /// Chunks received.
        received: u64,
    },
    /// The trailer's chunk count disagrees with the chunks received.
    #[error("the trailer counts {declared} chunks, {received} were received")]
    TrailerChunkCount {
        /// The trailer's count.
        declared: u64,
        /// Chunks received.
        received: u64,
    },
    /// The trailer's content commitment does not match the plaintext.
    #[error("the content commitment does not match the plaintext")]
    CommitmentMismatch,
    /// A revealed commitment key and plaintext do not match the commitment.
    #[error("the revealed key and plaintext do not match the commitment")]
    RevealMismatch,
    /// A reveal's parts do not belong together.
    #[error("the reveal does not hold together: {0}")]
    RevealInconsistent(&'static str),
    /// A KEM key certificate is not valid at the time given.
    #[error("KEM key certificate for {agency} key {key_id} is not valid at that time")]
    CertificateNotValid {
        /// The certificate's agency.
        agency: String,
        /// The key.
        key_id: KeyId,
    },
    /// A note text with a control character (other than newline) was to be signed or verified.
    #[error("a note text with a control character cannot be signed or verified")]
    UnsignableNoteText,
    /// A key is malformed.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A KEM key certificate is for another agency or another key.
    #[error("KEM key certificate does not match: {0}")]
    CertificateMismatch(&'static str),
    /// An HPKE operation failed.
    #[error("HPKE: {0}")]
    Hpke(#[from] HpkeError),
    /// A packet stream held a frame where another was due.
    #[error("unexpected {0} frame in a packet stream")]
    UnexpectedFrame(tally_wire::FrameType),
    /// A wire encoding failed.
    #[error(transparent)]
    Wire(#[from] tally_wire::Error),

    // --- Local misuse and local resources.
    /// The caller passed a plaintext chunk of the wrong length.
    #[error("plaintext chunk {index} has {got} bytes, {expected} expected")]
    PlaintextChunkLength {
        /// The chunk.
        index: u64,
        /// What the header implies.
        expected: usize,
        /// What was passed.
        got: usize,
    },
    /// The payload source ended early or ran long.
    #[error("the payload source gave {got} bytes, the header declares {expected}")]
    PayloadLength {
        /// The header's payload length.
        expected: u64,
        /// What the source gave.
        got: u64,
    },
    /// A key file is unusable.
    #[error("key file {path}: {problem}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The reason code a recipient puts in a signed rejection for this error.
    ///
    /// Crypto failures all map to `DECRYPTION_FAILED`: the peer learns that
    /// the packet did not open, not which check failed.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::UnsupportedVersion(_) => ReasonCode::UNSUPPORTED_VERSION,
            // A suite whose KEM is not the recipient key's (or the encapsulated key's).
            Self::UnsupportedSuite(_) | Self::Hpke(HpkeError::WrongKem { .. }) => ReasonCode::UNSUPPORTED_SUITE,
            Self::WrongRecipientKey { .. } | Self::UnknownRecipientKey(_) => ReasonCode::UNKNOWN_RECIPIENT_KEY,
            Self::BadTrailerSignature | Self::BadSignature(_) => ReasonCode::BAD_SIGNATURE,
            Self::TooManyChunks { .. }
            | Self::ChunkLength { .. }
            | Self::MissingChunks { .. }
            | Self::TrailerChunkCount { .. } => ReasonCode::LENGTH_MISMATCH,
            Self::Wire(_) | Self::UnexpectedFrame(_) => ReasonCode::MALFORMED,
            Self::Io(_) | Self::KeyFile { .. } => ReasonCode::TEMPORARILY_UNAVAILABLE,
            _ => ReasonCode::DECRYPTION_FAILED,
        }
    }
}
