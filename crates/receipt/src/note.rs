//! Checkpoints as C2SP signed notes (spec/receipts.md, "Checkpoints").
//!
//! A checkpoint's text is the C2SP tlog-checkpoint body:
//!
//! ```text
//! <origin>\n<tree size, decimal>\n<root hash, base64>\n
//! ```
//!
//! and the signed note is that text, an empty line, and one signature
//! line per signer (C2SP signed-note):
//!
//! ```text
//! — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>\n
//! ```
//!
//! with `key id = SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key)[0..4]`, the
//! signature taken over the text's bytes. The key name is the log's
//! origin. A note text cannot contain the byte 0x00 (control characters
//! are forbidden), while every other message an identity key signs has a
//! 0x00 after its label (spec/README.md), so the two never collide.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_wire::{Checkpoint, Digest, IdentityPublicKey, LogOrigin, Signature};

/// Why a note or checkpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is longer than the limit.
    #[error("note of {0} bytes is over the limit of {MAX_NOTE_LEN}")]
    TooLong(usize),
    /// The text has a control character other than newline, or is not UTF-8.
    #[error("note text has a forbidden character at byte {0}")]
    ForbiddenCharacter(usize),
    /// No blank line separates the text from the signatures, or the text is empty.
    #[error("note has no signature block")]
    NoSignatures,
    /// A signature line is malformed.
    #[error("signature line {0} is malformed")]
    BadSignatureLine(usize),
    /// No signature line is by the expected key.
    #[error("no signature by key {0}")]
    NoSignatureByKey(String),
    /// The signature by the expected key does not verify.
    #[error("the signature by key {0} does not verify")]
    BadSignature(String),
    /// The text is not a tlog-checkpoint body.
    #[error("checkpoint text is malformed: {0}")]
    BadCheckpoint(&'static str),
}

/// The longest signed note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = tally_wire::limits::MAX_CHECKPOINT_NOTE_LEN;

/// A signed-note verifier key: a name and an Ed25519 public key.
#[derive(Clone, Debug)]
pub struct NoteKey {
    name: String,
    key: IdentityPublicKey,
}

impl NoteKey {
    /// The key `key` under `name`.
    pub fn new(name: impl Into<String>, key: IdentityPublicKey) -> Self {
        Self { name: name.into(), key }
    }

    /// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[0..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        let d = tally_envelope::sha256(&[self.name.as_bytes(), b"\n\x01", &self.key.0]);
        [d.0[0], d.0[1], d.0[2], d.0[3]]
    }

    /// The C2SP verifier key string, `name+keyid+base64(0x01 ‖ key)`.
    pub fn verifier_string(&self) -> String {
        let mut k = vec![0x01];
        k.extend_from_slice(&self.key.0);
        format!("{}+{}+{}", self.name, crate::hex(&self.key_id()), B64.encode(k))
    }
}

/// Signs `text` (which must end in a newline) as a note under `name`.
pub fn sign_note(text: &str, name: &str, key: &IdentityKey) -> Result<String, NoteError> {
    check_text(text)?;
    let note_key = NoteKey::new(name, key.public_key());
    let sig = key.sign_note_text(text).map_err(|_| NoteError::ForbiddenCharacter(0))?;
    let mut blob = note_key.key_id().to_vec();
    blob.extend_from_slice(&sig.0);
    Ok(format!("{text}\n\u{2014} {name} {}\n", B64.encode(blob)))
}

/// Verifies a signed note against `key` and returns its text.
pub fn verify_note<'n>(note: &'n str, key: &NoteKey) -> Result<&'n str, NoteError> {
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLong(note.len()));
    }
    let split = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    check_text(text)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::NoSignatures);
    }
    let id = key.key_id();
    for (i, line) in sigs.lines().enumerate() {
        let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::BadSignatureLine(i + 1))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine(i + 1))?;
        let blob = B64.decode(b64).map_err(|_| NoteError::BadSignatureLine(i + 1))?;
        if blob.len() < 4 {
            return Err(NoteError::BadSignatureLine(i + 1));
        }
        if name != key.name || blob[..4] != id {
            continue; // another signer (a witness, say): not ours to check
        }
        let sig: [u8; 64] = blob[4..].try_into().map_err(|_| NoteError::BadSignatureLine(i + 1))?;
        let verifier = IdentityVerifier::new(&key.key).map_err(|_| NoteError::BadSignature(key.name.clone()))?;
        return verifier
            .verify_note_text(text, &Signature(sig))
            .map(|()| text)
            .map_err(|_| NoteError::BadSignature(key.name.clone()));
    }
    Err(NoteError::NoSignatureByKey(key.name.clone()))
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::NoSignatures);
    }
    if let Some(i) = text.bytes().position(|b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        return Err(NoteError::ForbiddenCharacter(i));
    }
    Ok(())
}

/// The tlog-checkpoint text of a checkpoint.
pub fn checkpoint_text(c: &Checkpoint) -> String {
    format!("{}\n{}\n{}\n", c.origin, c.size, B64.encode(c.root.0))
}

/// Parses a tlog-checkpoint text (extension lines after the root are allowed and ignored).
pub fn parse_checkpoint_text(text: &str) -> Result<Checkpoint, NoteError> {
    let mut lines = text.split('\n');
    let origin = lines.next().ok_or(NoteError::BadCheckpoint("no origin line"))?;
    let origin = LogOrigin::new(origin).map_err(|_| NoteError::BadCheckpoint("invalid origin"))?;
    let size = lines.next().ok_or(NoteError::BadCheckpoint("no size line"))?;
    if size.is_empty() || (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NoteError::BadCheckpoint("size is not a decimal number without leading zeros"));
    }
    let size: u64 = size.parse().map_err(|_| NoteError::BadCheckpoint("size does not fit 64 bits"))?;
    let root = lines.next().ok_or(NoteError::BadCheckpoint("no root line"))?;
    let root: [u8; 32] = B64
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or(NoteError::BadCheckpoint("root is not 32 bytes of base64"))?;
    Ok(Checkpoint { origin, size, root: Digest(root) })
}

/// A checkpoint signed as a note by a log's key.
pub fn sign_checkpoint(c: &Checkpoint, key: &IdentityKey) -> String {
    sign_note(&checkpoint_text(c), c.origin.as_str(), key)
        .expect("a checkpoint text has no control characters and ends in a newline")
}

/// Verifies a signed checkpoint from the log `origin` with identity key `key`.
pub fn verify_checkpoint(note: &str, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<Checkpoint, NoteError> {
    let text = verify_note(note, &NoteKey::new(origin.as_str(), *key))?;
    let c = parse_checkpoint_text(text)?;
    if &c.origin != origin {
        return Err(NoteError::BadCheckpoint("origin line differs from the log's origin"));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    #[test]
    fn c2sp_signed_note_example_verifies() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/signed-note/c2sp-signed-note-example.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON");
        let key = IdentityPublicKey(unhex(v["ed25519PublicKeyHex"].as_str().expect("hex")).try_into().expect("32"));
        let note_key = NoteKey::new(v["keyName"].as_str().expect("name"), key);
        assert_eq!(crate::hex(&note_key.key_id()), v["keyIdHex"].as_str().expect("hex"));
        assert_eq!(note_key.verifier_string(), v["vkey"].as_str().expect("vkey"));
        let note = v["note"].as_str().expect("note");
        assert_eq!(verify_note(note, &note_key), Ok(v["text"].as_str().expect("text")));
        let tampered = note.replace("example message", "exemplary message");
        assert_eq!(verify_note(&tampered, &note_key), Err(NoteError::BadSignature("example.com/foo".into())));
        let other = NoteKey::new("example.com/bar", key);
        assert_eq!(verify_note(note, &other), Err(NoteError::NoSignatureByKey("example.com/bar".into())));
    }

    #[test]
    fn checkpoints_round_trip_and_are_bound_to_origin_and_key() {
        let key = IdentityKey::from_seed(&[3; 32]);
        let origin = LogOrigin::new("tally.example/tax-bureau").expect("valid");
        let c = Checkpoint { origin: origin.clone(), size: 42, root: Digest([7; 32]) };
        let note = sign_checkpoint(&c, &key);
        assert!(note.starts_with("tally.example/tax-bureau\n42\nBwcH"), "{note}");
        assert_eq!(verify_checkpoint(&note, &origin, &key.public_key()), Ok(c));
        let other = LogOrigin::new("tally.example/other").expect("valid");
        assert!(verify_checkpoint(&note, &other, &key.public_key()).is_err());
        let stranger = IdentityKey::from_seed(&[4; 32]).public_key();
        assert!(verify_checkpoint(&note, &origin, &stranger).is_err());
        assert!(verify_checkpoint(&note.replace("\n42\n", "\n43\n"), &origin, &key.public_key()).is_err());
    }

    #[test]
    fn malformed_checkpoint_texts_are_refused() {
        for text in ["", "o\n", "o\n01\nAAAA\n", "o\n-1\n", "o\n1\nnot base64!\n", "o\n1\nAAAA\n", "bad origin\n1\n"] {
            assert!(parse_checkpoint_text(text).is_err(), "{text:?}");
        }
    }
}
