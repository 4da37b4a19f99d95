//! Bounded collections: lists, text and byte strings with a maximum size
//! that decoding checks before it allocates (spec/wire.md, "Bounded values").

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::bytes::{hex_decode_vec, hex_encode};
use crate::codec::{Detail, reject};
use crate::error::InvalidValue;

/// A list of at most `MAX` items. On the wire: a varint count, then the items.
///
/// Decoding rejects a count above `MAX` before allocating anything.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// Wraps `items` if there are at most `MAX`.
    pub fn new(items: Vec<T>) -> Result<Self, InvalidValue> {
        if items.len() > MAX {
            return Err(InvalidValue::new("list", "has more items than its limit"));
        }
        Ok(Self(items))
    }

    /// An empty list.
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> Deref for BoundedVec<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = InvalidValue;
    fn try_from(items: Vec<T>) -> Result<Self, InvalidValue> {
        Self::new(items)
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Items<T, MAX> {
            type Value = BoundedVec<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {MAX} items")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let too_many = || reject(Detail::Invalid(InvalidValue::new("list", "has more items than its limit")));
                let hint = seq.size_hint().unwrap_or(0);
                if hint > MAX {
                    return Err(too_many());
                }
                let mut items = Vec::with_capacity(hint);
                while let Some(item) = seq.next_element()? {
                    if items.len() == MAX {
                        return Err(too_many());
                    }
                    items.push(item);
                }
                Ok(BoundedVec(items))
            }
        }

        d.deserialize_seq(Items::<T, MAX>(PhantomData))
    }
}

/// Human-readable text of at most `MAX` bytes of UTF-8, without control
/// characters other than tab and newline. On the wire: a string.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// Checks `s` and wraps it.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if s.len() > MAX {
            return Err(InvalidValue::new("Text", "is longer than its limit"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(InvalidValue::new("Text", "contains a control character"));
        }
        Ok(Self(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> TryFrom<&str> for Text<MAX> {
    type Error = InvalidValue;
    fn try_from(s: &str) -> Result<Self, InvalidValue> {
        Self::new(s)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Str<const MAX: usize>;

        impl<const MAX: usize> Visitor<'_> for Str<MAX> {
            type Value = Text<MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "text of at most {MAX} bytes")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<MAX>, E> {
                // Checked before the copy: an over-long string is never allocated.
                Text::new(s).map_err(|e| reject(Detail::Invalid(e)))
            }
        }

        d.deserialize_str(Str::<MAX>)
    }
}

/// Opaque bytes, at most `MAX`. On the wire: a varint length, then the
/// bytes; in human-readable formats, a lowercase hex string.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> BoundedBytes<MAX> {
    /// Wraps `bytes` if there are at most `MAX`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, InvalidValue> {
        let bytes = bytes.into();
        if bytes.len() > MAX {
            return Err(InvalidValue::new("bytes", "are longer than their limit"));
        }
        Ok(Self(bytes))
    }
}

impl<const MAX: usize> Deref for BoundedBytes<MAX> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for BoundedBytes<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoundedBytes({})", hex_encode(&self.0))
    }
}

impl<const MAX: usize> Serialize for BoundedBytes<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&hex_encode(&self.0)) } else { s.serialize_bytes(&self.0) }
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedBytes<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes<const MAX: usize>;

        impl<const MAX: usize> Visitor<'_> for Bytes<MAX> {
            type Value = BoundedBytes<MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {MAX} bytes")
            }

            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<BoundedBytes<MAX>, E> {
                BoundedBytes::new(b).map_err(|e| reject(Detail::Invalid(e)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<BoundedBytes<MAX>, E> {
                let bytes = hex_decode_vec(s, "bytes").map_err(E::custom)?;
                BoundedBytes::new(bytes).map_err(E::custom)
            }
        }

        if d.is_human_readable() { d.deserialize_str(Bytes::<MAX>) } else { d.deserialize_bytes(Bytes::<MAX>) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_vec_rejects_a_count_over_its_limit_before_reading_items() {
        // count 3 for a list of at most 2: the count alone rejects it, before
        // any item is read (postcard then reports our custom error, not a
        // failure inside an item).
        let err = postcard::from_bytes::<BoundedVec<u8, 2>>(&[3, 1, 2, 3]).expect_err("over the limit");
        assert_eq!(err, postcard::Error::SerdeDeCustom);
        // A huge count must not allocate either.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(postcard::from_bytes::<BoundedVec<u64, 2>>(&huge).is_err());
        assert_eq!(postcard::from_bytes::<BoundedVec<u8, 2>>(&[2, 9, 8]).expect("fits").into_inner(), vec![9, 8]);
        assert!(BoundedVec::<u8, 2>::new(vec![1, 2, 3]).is_err());
    }

    #[test]
    fn text_boundaries() {
        assert!(Text::<4>::new("abcd").is_ok());
        assert!(Text::<4>::new("abcde").is_err());
        assert!(Text::<4>::new("").is_ok());
        assert!(Text::<8>::new("a\nb\tc").is_ok());
        assert!(Text::<8>::new("a\u{1b}[2J").is_err(), "escape sequence");
        assert!(Text::<8>::new("a\rb").is_err());
    }

    #[test]
    fn bounded_bytes_boundaries() {
        assert!(BoundedBytes::<2>::new(vec![1, 2]).is_ok());
        assert!(BoundedBytes::<2>::new(vec![1, 2, 3]).is_err());
        let wire = postcard::to_allocvec(&BoundedBytes::<4>::new(vec![1, 2]).expect("fits")).expect("serializes");
        assert_eq!(wire, vec![2, 1, 2]);
        assert!(postcard::from_bytes::<BoundedBytes<1>>(&wire).is_err());
    }
}
