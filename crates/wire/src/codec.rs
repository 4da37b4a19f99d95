//! The strict body codec: postcard, plus the checks postcard lacks
//! (spec/wire.md, "Encoding").
//!
//! - trailing bytes after a value are an error;
//! - a value must be in its canonical encoding: after decoding, the value
//!   is encoded again and the bytes must be identical (postcard accepts
//!   non-minimal varints such as `80 00` for 0);
//! - newtype rules are enforced while decoding, and a broken rule is
//!   reported with its type, its rule and its offset.
//!
//! postcard's error for a failed `Deserialize` carries no message, so the
//! detail of a broken rule travels beside it: the failing `Deserialize`
//! impl records it in a thread-local slot with [`reject`], and
//! [`decode_exact`] collects it. Decoding is synchronous, so the slot is
//! always read on the thread that wrote it, before any other decode runs.

use std::cell::RefCell;

use serde::{Deserialize, Serialize, de};

use crate::error::{Context, Error, InvalidValue};

/// Why a `Deserialize` impl of this crate failed.
#[derive(Debug)]
pub(crate) enum Detail {
    /// A newtype's rule was broken.
    Invalid(InvalidValue),
    /// A nested signed object failed with this error.
    Nested(Error),
}

thread_local! {
    static DETAIL: RefCell<Option<Detail>> = const { RefCell::new(None) };
}

/// Records why deserialization failed and returns the serde error to propagate.
pub(crate) fn reject<E: de::Error>(detail: Detail) -> E {
    let message = match &detail {
        Detail::Invalid(v) => v.to_string(),
        Detail::Nested(e) => e.to_string(),
    };
    DETAIL.with(|slot| *slot.borrow_mut() = Some(detail));
    E::custom(message)
}

fn take_detail() -> Option<Detail> {
    DETAIL.with(|slot| slot.borrow_mut().take())
}

/// Encodes any message value canonically (spec/wire.md, "Encoding").
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

/// Decodes exactly one canonical value of `T` from `bytes`, under every
/// decoding rule of spec/wire.md; `what` names it in errors. The caller
/// bounds `bytes` (frames and [`Encoded`](crate::Encoded) objects do so
/// themselves).
pub fn from_bytes<'de, T: Deserialize<'de> + Serialize>(bytes: &'de [u8], what: &'static str) -> Result<T, Error> {
    decode_exact(bytes, Context::Object(what))
}

/// Decodes one canonical value of `T` at the start of `bytes` and returns
/// it with the bytes after it: for values that follow each other with no
/// other framing (a fetch's answer, spec/protocol.md). Every other rule of
/// [`from_bytes`] applies to the value.
pub fn take_from_bytes<'de, T: Deserialize<'de> + Serialize>(
    bytes: &'de [u8],
    what: &'static str,
) -> Result<(T, &'de [u8]), Error> {
    let context = Context::Object(what);
    take_detail();
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let result = T::deserialize(&mut de);
    let rest = de.finalize().unwrap_or(&[]);
    let used = bytes.len() - rest.len();
    let value = result.map_err(|e| map_postcard_error(e, context, used))?;
    let mut canonical = Vec::with_capacity(used);
    encode(&value, &mut canonical);
    if canonical != bytes[..used] {
        return Err(Error::NonCanonical { context, offset: first_difference(&canonical, &bytes[..used]) });
    }
    Ok((value, rest))
}

/// Encodes `value` in the canonical postcard encoding.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // postcard's only serializer errors are for types this crate never
    // serializes (unsized sequences, `collect_str` failures) and for a full
    // buffer, which a Vec never is.
    // Most messages are a few hundred bytes: reserving once avoids the
    // repeated doubling of an empty vector (measurable on hot paths).
    if out.capacity() == 0 {
        out.reserve(256);
    }
    let bytes = postcard::to_extend(value, std::mem::take(out))
        .expect("every tally-wire type serializes with postcard into a Vec");
    *out = bytes;
}

/// Decodes exactly one canonical value from `bytes`: no trailing bytes, no
/// alternative encodings, every newtype rule enforced.
pub(crate) fn decode_exact<'de, T>(bytes: &'de [u8], context: Context) -> Result<T, Error>
where
    T: Deserialize<'de> + Serialize,
{
    take_detail();
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let result = T::deserialize(&mut de);
    // The slice flavor's finalize only hands back the unread rest.
    let rest = de.finalize().unwrap_or(&[]);
    let offset = bytes.len() - rest.len();
    let value = match result {
        Ok(value) => value,
        Err(e) => return Err(map_postcard_error(e, context, offset)),
    };
    if !rest.is_empty() {
        return Err(Error::TrailingBytes { context, offset, count: rest.len() });
    }
    let mut canonical = Vec::with_capacity(bytes.len());
    encode(&value, &mut canonical);
    if canonical != bytes {
        let offset = first_difference(&canonical, bytes);
        return Err(Error::NonCanonical { context, offset });
    }
    Ok(value)
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()))
}

fn map_postcard_error(e: postcard::Error, context: Context, offset: usize) -> Error {
    use postcard::Error as P;
    let reason = match e {
        P::DeserializeUnexpectedEnd => return Error::Truncated { context, offset },
        P::SerdeDeCustom => {
            return match take_detail() {
                Some(Detail::Invalid(value)) => Error::InvalidValue { context, offset, value },
                Some(Detail::Nested(source)) => Error::Nested { context, offset, source: Box::new(source) },
                None => Error::Malformed { context, offset, reason: "unknown enum variant" },
            };
        }
        P::DeserializeBadVarint => "varint overflows its integer type",
        P::DeserializeBadBool => "boolean is neither 0 nor 1",
        P::DeserializeBadOption => "option tag is neither 0 nor 1",
        P::DeserializeBadEnum => "bad enum encoding",
        P::DeserializeBadUtf8 => "string is not valid UTF-8",
        P::DeserializeBadChar => "invalid char",
        P::DeserializeBadEncoding => "bad encoding",
        P::DeserializeBadCrc => "bad checksum",
        _ => "unexpected decoder error",
    };
    Error::Malformed { context, offset, reason }
}
