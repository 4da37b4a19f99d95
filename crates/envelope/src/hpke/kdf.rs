//! `LabeledExtract` and `LabeledExpand` over HKDF-SHA256 (RFC 9180, section 4).
//!
//! ring's `hkdf::Prk` cannot be read out, but HPKE needs the raw output of
//! `LabeledExtract` (`psk_id_hash`, `info_hash` are hashed into the key
//! schedule context). `Extract(salt, ikm)` is `HMAC-SHA256(salt, ikm)`
//! (RFC 5869), so it is computed with ring's `hmac`, and the result is
//! wrapped with `Prk::new_less_safe` for `Expand`.

use ring::{hkdf, hmac};
use zeroize::Zeroizing;

use crate::error::HpkeError;

const VERSION_LABEL: &[u8] = b"HPKE-v1";

/// `LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm)`.
pub(crate) fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    // An empty salt is HashLen zero bytes (RFC 5869); HMAC pads a short key
    // with zeros, so the empty key gives the same result.
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(VERSION_LABEL);
    ctx.update(suite_id);
    ctx.update(label);
    ctx.update(ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// `LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L)`,
/// with L = `out.len()` (at most 255 · 32).
pub(crate) fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8; 32],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), HpkeError> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let len = u16::try_from(out.len()).map_err(|_| HpkeError::ExportTooLong)?.to_be_bytes();
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk);
    let parts: [&[u8]; 5] = [&len, VERSION_LABEL, suite_id, label, info];
    prk.expand(&parts, Len(out.len())).and_then(|okm| okm.fill(out)).map_err(|_| HpkeError::ExportTooLong)
}
