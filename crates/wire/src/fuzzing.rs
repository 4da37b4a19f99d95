//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test.
//! Not part of the API.
//!
//! Each function decodes arbitrary bytes and, when they decode, checks that
//! encoding the value gives back exactly the same bytes (the format is
//! canonical). A panic here is a bug.

use std::io::BufReader;

use crate::{
    Directory, Encoded, Frame, FrameReader, Grant, KemKeyCertificate, PacketHeader, PullRequest, Receipt, Registration,
    Revocation, Signed, SignedBody,
};

/// `Frame::decode`: a whole frame.
pub fn frame(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        let again = frame.encode().expect("a decoded frame re-encodes");
        assert_eq!(again, data, "frame decode/encode is not the identity");
    }
}

/// `FrameReader`: a stream of frames.
pub fn frame_stream(data: &[u8]) {
    let mut reader = FrameReader::new(BufReader::new(data));
    let mut again = Vec::new();
    while let Ok(Some(frame)) = reader.read_frame() {
        frame.encode_into(&mut again).expect("a decoded frame re-encodes");
    }
    assert!(data.starts_with(&again), "frame stream decode/encode is not the identity");
}

fn signed<T: SignedBody>(data: &[u8]) {
    if let Ok(value) = Signed::<T>::decode(data) {
        assert_eq!(value.encode(), data, "signed {} decode/encode is not the identity", T::NAME);
    }
}

/// `Encoded<PacketHeader>::decode`.
pub fn packet_header(data: &[u8]) {
    if let Ok(value) = Encoded::<PacketHeader>::decode(data) {
        assert_eq!(value.encode(), data, "encoded PacketHeader decode/encode is not the identity");
    }
}

/// `Signed<Grant>::decode`.
pub fn grant(data: &[u8]) {
    signed::<Grant>(data);
}

/// `Signed<Revocation>::decode`.
pub fn revocation(data: &[u8]) {
    signed::<Revocation>(data);
}

/// `Signed<Receipt>::decode`.
pub fn receipt(data: &[u8]) {
    signed::<Receipt>(data);
}

/// `Signed<KemKeyCertificate>::decode`.
pub fn kem_key_certificate(data: &[u8]) {
    signed::<KemKeyCertificate>(data);
}

/// `Signed<Directory>::decode`.
pub fn directory(data: &[u8]) {
    signed::<Directory>(data);
}

/// `Signed<PullRequest>::decode`.
pub fn pull_request(data: &[u8]) {
    signed::<PullRequest>(data);
}

/// `Signed<Registration>::decode`.
pub fn registration(data: &[u8]) {
    signed::<Registration>(data);
}

/// `Encoded<Reveal>::decode`: a reveal file's bytes.
pub fn reveal(data: &[u8]) {
    if let Ok(value) = Encoded::<crate::Reveal>::decode(data) {
        assert_eq!(value.encode(), data, "encoded Reveal decode/encode is not the identity");
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by the name of its directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("frame_stream", frame_stream),
    ("packet_header", packet_header),
    ("grant", grant),
    ("revocation", revocation),
    ("receipt", receipt),
    ("kem_key_certificate", kem_key_certificate),
    ("directory", directory),
    ("pull_request", pull_request),
    ("registration", registration),
    ("reveal", reveal),
];
