//! Encoded and signed objects that keep their exact bytes (spec/wire.md,
//! "Encoded and signed objects").
//!
//! ```text
//! encoded = varint(len(body)) ‖ body
//! signed  = varint(len(body)) ‖ body ‖ signature      signature = Sign(T::LABEL, body)
//! ```
//!
//! Decoding keeps `body` exactly as received. Digests and signatures (in
//! `tally-envelope`) are computed over those bytes, never over a
//! re-encoding.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::bytes::{Signature, hex_decode_vec, hex_encode};
use crate::codec::{self, Detail, reject};
use crate::error::{Context, Error};
use crate::label::SignatureLabel;
use crate::limits::SIGNED_OVERHEAD;

/// A message type that travels with its exact encoding.
pub trait Body: Serialize + DeserializeOwned {
    /// The protocol name of the type, used in errors.
    const NAME: &'static str;
    /// The largest encoded body, in bytes (spec/wire.md, "Limits").
    const MAX_SIZE: usize;
}

/// A message type that travels signed.
pub trait SignedBody: Body {
    /// The label its signatures are made under.
    const LABEL: SignatureLabel;
}

/// A value of `T` and the exact canonical bytes it was decoded from (or encoded to).
#[derive(Clone)]
pub struct Encoded<T> {
    body: Vec<u8>,
    value: T,
}

impl<T: Body> Encoded<T> {
    /// Encodes `value` canonically.
    pub fn new(value: T) -> Result<Self, Error> {
        let mut body = Vec::new();
        codec::encode(&value, &mut body);
        check_size::<T>(body.len())?;
        Ok(Self { body, value })
    }

    /// Decodes a body (without its length prefix) strictly.
    pub fn from_body(body: Vec<u8>) -> Result<Self, Error> {
        check_size::<T>(body.len())?;
        let value = codec::decode_exact(&body, Context::Object(T::NAME))?;
        Ok(Self { body, value })
    }

    /// Decodes a standalone encoded object (`varint(len) ‖ body`); `bytes`
    /// must hold exactly one. Errors inside the body have offsets relative to it.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        decode_standalone::<T, Self>(bytes, 5)
    }

    /// The standalone encoding, as [`decode`](Self::decode) reads it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 5);
        codec::encode(self, &mut out);
        out
    }

    /// The exact body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }
}

/// A value of `T`, the exact bytes it was encoded to, and a signature over
/// those bytes.
///
/// The signature is not checked here: `tally-wire` has no crypto. The value
/// is therefore only reachable through [`unverified`](Self::unverified),
/// whose name is the reader's duty.
#[derive(Clone)]
pub struct Signed<T> {
    encoded: Encoded<T>,
    signature: Signature,
}

impl<T: SignedBody> Signed<T> {
    /// Encodes `value` canonically and signs the bytes with `sign`, which
    /// receives the label to sign under and the body.
    pub fn sign(value: T, sign: impl FnOnce(SignatureLabel, &[u8]) -> Signature) -> Result<Self, Error> {
        let encoded = Encoded::new(value)?;
        let signature = sign(T::LABEL, &encoded.body);
        Ok(Self { encoded, signature })
    }

    /// Rebuilds a signed object from a body and a signature, decoding the body strictly.
    pub fn from_parts(body: Vec<u8>, signature: Signature) -> Result<Self, Error> {
        Ok(Self { encoded: Encoded::from_body(body)?, signature })
    }

    /// Decodes a standalone signed object (`varint(len) ‖ body ‖ signature`),
    /// as stored in files; `bytes` must hold exactly one. Errors inside the
    /// body have offsets relative to it.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        decode_standalone::<T, Self>(bytes, SIGNED_OVERHEAD)
    }

    /// The standalone encoding, as [`decode`](Self::decode) reads it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded.body.len() + SIGNED_OVERHEAD);
        codec::encode(self, &mut out);
        out
    }

    /// The label the signature must verify under.
    pub fn label(&self) -> SignatureLabel {
        T::LABEL
    }

    /// The exact body bytes the signature covers.
    pub fn body(&self) -> &[u8] {
        &self.encoded.body
    }

    /// The signature over [`body`](Self::body).
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The decoded value, whose signature has not been checked by this type.
    pub fn unverified(&self) -> &T {
        &self.encoded.value
    }
}

fn check_size<T: Body>(len: usize) -> Result<(), Error> {
    if len > T::MAX_SIZE {
        let context = Context::Object(T::NAME);
        return Err(Error::OverLimit { context, len: len as u64, limit: T::MAX_SIZE });
    }
    Ok(())
}

fn decode_standalone<T: Body, V: Serialize + DeserializeOwned>(bytes: &[u8], overhead: usize) -> Result<V, Error> {
    let context = Context::Object(T::NAME);
    let limit = T::MAX_SIZE + overhead;
    if bytes.len() > limit {
        return Err(Error::OverLimit { context, len: bytes.len() as u64, limit });
    }
    codec::decode_exact(bytes, context).map_err(|e| match e {
        Error::Nested { source, .. } => *source,
        other => other,
    })
}

impl<T> PartialEq for Encoded<T> {
    /// Two encoded objects are equal when their bytes are.
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
    }
}

impl<T> Eq for Encoded<T> {}

impl<T> PartialEq for Signed<T> {
    /// Two signed objects are equal when their bytes are.
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T: fmt::Debug> fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Encoded").field(&self.value).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed").field("value", &self.encoded.value).field("signature", &self.signature).finish()
    }
}

/// Body bytes on the wire: `varint(len) ‖ body`.
struct BodyRef<'a>(&'a [u8]);

impl Serialize for BodyRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<T: Serialize> Serialize for Encoded<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            // Readable form: the value for people, and the bytes that count.
            let mut st = s.serialize_struct("Encoded", 2)?;
            st.serialize_field("value", &self.value)?;
            st.serialize_field("body", &hex_encode(&self.body))?;
            return st.end();
        }
        BodyRef(&self.body).serialize(s)
    }
}

impl<T: Serialize> Serialize for Signed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut st = s.serialize_struct("Signed", 3)?;
            st.serialize_field("value", &self.encoded.value)?;
            st.serialize_field("body", &hex_encode(&self.encoded.body))?;
            st.serialize_field("signature", &self.signature)?;
            return st.end();
        }
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&BodyRef(&self.encoded.body))?;
        t.serialize_element(&self.signature)?;
        t.end()
    }
}

/// The readable form's bytes: the value shown beside them is ignored, the body is what counts.
#[derive(Deserialize)]
struct Readable {
    body: String,
    signature: Option<Signature>,
}

impl<'de, T: Body> Deserialize<'de> for Encoded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let r = Readable::deserialize(d)?;
            let body = hex_decode_vec(&r.body, "Encoded body").map_err(de::Error::custom)?;
            return Self::from_body(body).map_err(de::Error::custom);
        }
        let body = BodyBytes::deserialize(d)?;
        decode_nested::<T, D::Error>(body.0)
    }
}

impl<'de, T: SignedBody> Deserialize<'de> for Signed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let r = Readable::deserialize(d)?;
            let body = hex_decode_vec(&r.body, "Signed body").map_err(de::Error::custom)?;
            let signature = r.signature.ok_or_else(|| de::Error::missing_field("signature"))?;
            return Self::from_parts(body, signature).map_err(de::Error::custom);
        }
        d.deserialize_tuple(2, SignedVisitor(PhantomData))
    }
}

/// Decodes a nested body, reporting a failure inside it as [`Error::Nested`].
fn decode_nested<T: Body, E: de::Error>(body: Cow<'_, [u8]>) -> Result<Encoded<T>, E> {
    // The body was read from the input without a copy; its size is checked
    // before it is decoded or copied.
    check_size::<T>(body.len()).map_err(|e| reject(Detail::Nested(e)))?;
    let value = codec::decode_exact(&body, Context::Object(T::NAME)).map_err(|e| reject(Detail::Nested(e)))?;
    Ok(Encoded { body: body.into_owned(), value })
}

struct SignedVisitor<T>(PhantomData<T>);

impl<'de, T: SignedBody> Visitor<'de> for SignedVisitor<T> {
    type Value = Signed<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a signed {}", T::NAME)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signed<T>, A::Error> {
        let body: BodyBytes<'de> = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let encoded = decode_nested::<T, A::Error>(body.0)?;
        let signature = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok(Signed { encoded, signature })
    }
}

/// Body bytes, borrowed from the input where the deserializer allows it.
struct BodyBytes<'de>(Cow<'de, [u8]>);

impl<'de> Deserialize<'de> for BodyBytes<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BodyBytes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, b: &'de [u8]) -> Result<BodyBytes<'de>, E> {
                Ok(BodyBytes(Cow::Borrowed(b)))
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<BodyBytes<'de>, E> {
                Ok(BodyBytes(Cow::Owned(b.to_vec())))
            }
        }
        d.deserialize_bytes(V)
    }
}
