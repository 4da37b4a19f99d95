//! Receipts and receipt bundles: issuing, and verifying offline with only
//! the directory's keys (spec/receipts.md, "Receipts" and "Bundles").

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_wire::{
    AgencyId, BoundedVec, BundledReceipt, Checkpoint, IdentityPublicKey, LogEntry, LogOrigin, Receipt, ReceiptBundle,
    Signed, Text,
};

use crate::note::{NoteError, verify_checkpoint};

/// The origin line of an agency's log: `tally/<agency id>`.
pub fn log_origin(agency: &AgencyId) -> LogOrigin {
    LogOrigin::new(format!("tally/{agency}")).expect("'tally/' and an agency id form a valid origin")
}

/// Signs a receipt on its own (individual signing).
pub fn sign_receipt(key: &IdentityKey, receipt: Receipt) -> Result<Signed<Receipt>, tally_envelope::Error> {
    key.sign_object(receipt)
}

/// The log entry a bundled receipt stands for.
pub fn bundled_entry(receipt: &BundledReceipt) -> LogEntry {
    match receipt {
        BundledReceipt::Signed(s) => LogEntry::ReceiptIssued(s.clone()),
        BundledReceipt::Logged(e) => LogEntry::ReceiptLogged(e.clone()),
    }
}

/// The receipt an entry of a node's own log issues (`ReceiptIssued` or
/// `ReceiptLogged`), as it is bundled: the inverse of [`bundled_entry`].
pub fn issued_receipt(entry: LogEntry) -> Option<BundledReceipt> {
    match entry {
        LogEntry::ReceiptIssued(s) => Some(BundledReceipt::Signed(s)),
        LogEntry::ReceiptLogged(e) => Some(BundledReceipt::Logged(e)),
        _ => None,
    }
}

/// The leaf input of a log entry: its canonical encoding.
pub fn entry_bytes(entry: &LogEntry) -> Result<Vec<u8>, tally_wire::Error> {
    let bytes = tally_wire::to_bytes(entry);
    let limit = tally_wire::limits::MAX_LOG_ENTRY_SIZE;
    if bytes.len() > limit {
        let context = tally_wire::Context::Object("LogEntry");
        return Err(tally_wire::Error::OverLimit { context, len: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// Why a bundle does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The recipient named in the receipt is not in the directory.
    #[error("the recipient {0} has no identity key in the directory")]
    UnknownRecipient(AgencyId),
    /// The receipt's own signature does not verify (individual signing).
    #[error("the receipt's signature does not verify under {0}'s key")]
    BadReceiptSignature(AgencyId),
    /// The checkpoint is not a valid note signed by the recipient for its log.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    /// The inclusion proof does not lead from the receipt's entry to the checkpoint's root.
    #[error("the receipt is not at index {index} of the checkpoint's tree of {size} entries")]
    NotIncluded {
        /// The claimed index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The receipt names another recipient than the agency whose bundle was expected.
    #[error("the receipt names {recipient} as its recipient, not {issuer}")]
    NotIssuedBy {
        /// The agency expected to have issued it.
        issuer: AgencyId,
        /// The recipient the receipt names.
        recipient: AgencyId,
    },
    /// The bundle could not be encoded to recompute its entry.
    #[error(transparent)]
    Wire(#[from] tally_wire::Error),
}

/// What a verified bundle proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The recipient's checkpoint that includes it.
    pub checkpoint: Checkpoint,
}

/// Verifies a bundle offline. `identity_key` gives the identity key of an
/// agency from the directory.
///
/// Checks: the checkpoint is signed by the recipient's key for the
/// recipient's log origin; the receipt's entry is at `index` in that
/// checkpoint's tree; and, for an individually signed receipt, its own
/// signature. In batch signing the checkpoint signature stands for the
/// receipt's (spec/receipts.md, "Two ways to sign").
pub fn verify_bundle(
    bundle: &ReceiptBundle,
    identity_key: impl Fn(&AgencyId) -> Option<IdentityPublicKey>,
) -> Result<VerifiedReceipt, BundleError> {
    let recipient = &crate::verifier::bundled_receipt(&bundle.receipt).recipient;
    let key = identity_key(recipient).ok_or_else(|| BundleError::UnknownRecipient(recipient.clone()))?;
    let checkpoint = verify_checkpoint(bundle.checkpoint.as_str(), &log_origin(recipient), &key)?;
    crate::verifier::verify_parts(bundle, &key, checkpoint)
}

/// The first line of a bundle's text form.
pub const BUNDLE_TEXT_HEADER: &str = "tally/receipt-bundle@v1";

/// The text form of a bundle, in the manner of C2SP tlog-proof:
///
/// ```text
/// tally/receipt-bundle@v1
/// receipt <base64 of the BundledReceipt encoding>
/// index <decimal>
/// <base64 hash>          (one line per proof hash)
///
/// <the signed checkpoint note>
/// ```
pub fn bundle_to_text(bundle: &ReceiptBundle) -> Result<String, tally_wire::Error> {
    let receipt = crate::encode_value(&bundle.receipt)?;
    let mut out = format!("{BUNDLE_TEXT_HEADER}\nreceipt {}\nindex {}\n", B64.encode(receipt), bundle.index);
    for h in bundle.proof.iter() {
        out.push_str(&B64.encode(h.0));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(bundle.checkpoint.as_str());
    Ok(out)
}

/// Why a bundle's text form was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleTextError {
    /// A line is missing or malformed.
    #[error("line {line}: {problem}")]
    Line {
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The receipt does not decode.
    #[error("the receipt does not decode: {0}")]
    Receipt(tally_wire::Error),
}

/// Parses a bundle's text form strictly (the checkpoint is parsed, not verified).
pub fn bundle_from_text(text: &str) -> Result<ReceiptBundle, BundleTextError> {
    let bad = |line: usize, problem: &'static str| BundleTextError::Line { line, problem };
    if text.len() > tally_wire::limits::MAX_BUNDLE_SIZE * 2 {
        return Err(bad(1, "the bundle is too long"));
    }
    let (head, checkpoint) = text.split_once("\n\n").ok_or(bad(1, "no blank line before the checkpoint"))?;
    let mut lines = head.split('\n');
    if lines.next() != Some(BUNDLE_TEXT_HEADER) {
        return Err(bad(1, "not a tally/receipt-bundle@v1"));
    }
    let receipt = lines.next().and_then(|l| l.strip_prefix("receipt ")).ok_or(bad(2, "expected `receipt <base64>`"))?;
    let receipt = B64.decode(receipt).map_err(|_| bad(2, "the receipt is not base64"))?;
    let receipt: BundledReceipt = crate::decode_value(&receipt, "BundledReceipt").map_err(BundleTextError::Receipt)?;
    let index = lines.next().and_then(|l| l.strip_prefix("index ")).ok_or(bad(3, "expected `index <decimal>`"))?;
    if index.is_empty() || (index.len() > 1 && index.starts_with('0')) || !index.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(3, "the index is not a decimal number without leading zeros"));
    }
    let index = index.parse().map_err(|_| bad(3, "the index does not fit 64 bits"))?;
    let mut proof = Vec::new();
    for (i, l) in lines.enumerate() {
        if proof.len() == tally_wire::limits::MAX_PROOF_LEN {
            return Err(bad(4 + i, "the proof is longer than 64 hashes"));
        }
        let h: [u8; 32] =
            B64.decode(l).ok().and_then(|h| h.try_into().ok()).ok_or(bad(4 + i, "not a base64 SHA-256 hash"))?;
        proof.push(tally_wire::Digest(h));
    }
    let proof = BoundedVec::new(proof).map_err(|_| bad(4, "the proof is too long"))?;
    let checkpoint =
        Text::new(checkpoint).map_err(|_| bad(4 + proof.len(), "the checkpoint is not valid note text"))?;
    Ok(ReceiptBundle { receipt, index, proof, checkpoint })
}

/// Why a reveal does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevealError {
    /// The sender named in the header is not in the directory.
    #[error("the sender {0} has no identity key in the directory")]
    UnknownSender(AgencyId),
    /// The receipt's bundle does not verify.
    #[error("the receipt: {0}")]
    Bundle(#[from] BundleError),
    /// The evidence, the key or the plaintext do not match the receipt.
    #[error(transparent)]
    Envelope(#[from] tally_envelope::Error),
}

/// Verifies a reveal offline against the plaintext: the receipt's bundle
/// under the recipient's directory key (as [`verify_bundle`]), then the
/// evidence, the commitment key and the plaintext against that receipt
/// ([`tally_envelope::verify_revealed_content`]).
pub fn verify_reveal(
    reveal: &tally_wire::Reveal,
    identity_key: impl Fn(&AgencyId) -> Option<IdentityPublicKey>,
    plaintext: impl std::io::Read,
) -> Result<tally_envelope::Revealed, RevealError> {
    let verified = verify_bundle(&reveal.receipt, &identity_key)?;
    let sender = &reveal.evidence.header.value().sender;
    let key = identity_key(sender).ok_or_else(|| RevealError::UnknownSender(sender.clone()))?;
    let sender = IdentityVerifier::new(&key).map_err(RevealError::Envelope)?;
    Ok(tally_envelope::verify_revealed_content(reveal, &verified.receipt, &sender, plaintext)?)
}
