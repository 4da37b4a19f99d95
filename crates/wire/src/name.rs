//! Validated names: agency ids, purposes, data categories, content types,
//! log origins and endpoints (spec/wire.md, "Names").
//!
//! Each is a string on the wire (varint length, UTF-8 bytes) and can only
//! be constructed, or decoded, if it obeys its grammar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::bounded::BoundedVec;
use crate::codec::{Detail, reject};
use crate::error::InvalidValue;
use crate::limits;

macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `s` against the grammar and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                $check(&s).map_err(|reason| InvalidValue::new(stringify!($name), reason))?;
                Ok(Self(s))
            }

            /// The string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, InvalidValue> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidValue;
            fn try_from(s: &str) -> Result<Self, InvalidValue> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(|e| reject(Detail::Invalid(e)))
            }
        }
    };
}

validated_string! {
    /// An agency's id in the federation: 1 to 63 bytes of `[a-z0-9.-]`,
    /// starting with a letter or digit. Example: `tax-bureau`.
    AgencyId, check_agency_id
}

validated_string! {
    /// A purpose from the directory's purpose registry: dotted labels, most
    /// general first. Example: `social-security.eligibility`.
    ///
    /// At most 8 labels; each label is 1 to 32 bytes of `[a-z0-9-]` and
    /// starts with a letter or digit. A purpose [covers](Purpose::covers)
    /// itself and every purpose below it.
    Purpose, check_dotted
}

validated_string! {
    /// A category of data, with the grammar and coverage rule of [`Purpose`].
    /// Example: `income.annual`.
    DataCategory, check_dotted
}

validated_string! {
    /// The media type of a payload, `type/subtype` in lowercase (RFC 6838
    /// restricted names, at most 63 bytes each, no parameters).
    /// Example: `application/json`.
    ContentType, check_content_type
}

validated_string! {
    /// The origin line of a log's checkpoints (C2SP tlog-checkpoint): 1 to
    /// 255 bytes of printable ASCII, without spaces or `+`.
    /// Example: `tally.example/tax-bureau`.
    LogOrigin, check_origin
}

validated_string! {
    /// A QUIC endpoint, `host:port`: a lowercase DNS name or IPv4 address, or
    /// an IPv6 address in brackets, and a port from 1 to 65535. At most 255 bytes.
    Endpoint, check_endpoint
}

/// Where an agency's node listens: 1 to [`MAX_AGENCY_ENDPOINTS`](limits::MAX_AGENCY_ENDPOINTS)
/// distinct [`Endpoint`]s, one per replica, in the order senders try
/// them (spec/transport.md, "Reaching an agency"). On the wire a
/// `list<Endpoint>`; decoding rejects an empty list and a repeated endpoint.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Endpoints(BoundedVec<Endpoint, { limits::MAX_AGENCY_ENDPOINTS }>);

impl Endpoints {
    /// Wraps `endpoints` if there is at least one, at most the limit, and none twice.
    pub fn new(endpoints: Vec<Endpoint>) -> Result<Self, InvalidValue> {
        let invalid = |reason| InvalidValue::new("Endpoints", reason);
        if endpoints.is_empty() {
            return Err(invalid("must list at least one endpoint"));
        }
        let list = BoundedVec::new(endpoints).map_err(|_| invalid("lists more than MAX_AGENCY_ENDPOINTS (8)"))?;
        if list.iter().enumerate().any(|(i, e)| list[..i].contains(e)) {
            return Err(invalid("lists an endpoint twice"));
        }
        Ok(Self(list))
    }

    /// A single endpoint.
    pub fn one(endpoint: Endpoint) -> Self {
        Self(BoundedVec::new(vec![endpoint]).unwrap_or_else(|_| unreachable!("one is within the limit")))
    }

    /// The first listed endpoint.
    pub fn first(&self) -> &Endpoint {
        &self.0[0]
    }
}

impl std::ops::Deref for Endpoints {
    type Target = [Endpoint];
    fn deref(&self) -> &[Endpoint] {
        &self.0
    }
}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The endpoints separated by `, `, in their order.
impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(e.as_str())?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Endpoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = BoundedVec::<Endpoint, { limits::MAX_AGENCY_ENDPOINTS }>::deserialize(d)?;
        Self::new(list.into_inner()).map_err(|e| reject(Detail::Invalid(e)))
    }
}

impl Purpose {
    /// Whether `self` is `other` or an ancestor of it, label by label:
    /// `tax` covers `tax` and `tax.audit`, but not `taxation`.
    pub fn covers(&self, other: &Self) -> bool {
        dotted_covers(&self.0, &other.0)
    }

    /// The labels, most general first.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl DataCategory {
    /// Whether `self` is `other` or an ancestor of it, label by label.
    pub fn covers(&self, other: &Self) -> bool {
        dotted_covers(&self.0, &other.0)
    }
}

fn dotted_covers(general: &str, specific: &str) -> bool {
    match specific.strip_prefix(general) {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

fn check_agency_id(s: &str) -> Result<(), &'static str> {
    check_len(s, 1, limits::MAX_AGENCY_ID_LEN)?;
    let b = s.as_bytes();
    if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return Err("must start with a lowercase letter or a digit");
    }
    if !b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-') {
        return Err("may contain only a-z, 0-9, '.' and '-'");
    }
    Ok(())
}

fn check_dotted(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("is empty");
    }
    let mut count = 0;
    for label in s.split('.') {
        count += 1;
        if count > limits::MAX_NAME_LABELS {
            return Err("has more than 8 labels");
        }
        check_len(label, 1, limits::MAX_NAME_LABEL_LEN)
            .map_err(|_| "has an empty label or one longer than 32 bytes")?;
        let b = label.as_bytes();
        if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
            return Err("has a label that does not start with a lowercase letter or a digit");
        }
        if !b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return Err("may contain only a-z, 0-9 and '-' in its labels");
        }
    }
    Ok(())
}

fn check_content_type(s: &str) -> Result<(), &'static str> {
    let (ty, sub) = s.split_once('/').ok_or("must be type/subtype")?;
    for part in [ty, sub] {
        check_len(part, 1, 63).map_err(|_| "type and subtype must be 1 to 63 bytes each")?;
        let b = part.as_bytes();
        if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
            return Err("type and subtype must start with a lowercase letter or a digit");
        }
        if !b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"!#$&-^_.+".contains(&c)) {
            return Err("may contain only lowercase RFC 6838 restricted-name characters");
        }
    }
    Ok(())
}

fn check_origin(s: &str) -> Result<(), &'static str> {
    check_len(s, 1, limits::MAX_ORIGIN_LEN)?;
    if !s.bytes().all(|c| c.is_ascii_graphic() && c != b'+') {
        return Err("may contain only printable ASCII without spaces or '+'");
    }
    Ok(())
}

fn check_endpoint(s: &str) -> Result<(), &'static str> {
    check_len(s, 3, limits::MAX_ENDPOINT_LEN)?;
    let (host, port) = s.rsplit_once(':').ok_or("must be host:port")?;
    let port_ok = !port.is_empty()
        && !port.starts_with('0')
        && port.bytes().all(|c| c.is_ascii_digit())
        && port.parse::<u16>().is_ok();
    if !port_ok {
        return Err("port must be a number from 1 to 65535 without leading zeros");
    }
    if let Some(v6) = host.strip_prefix('[') {
        let v6 = v6.strip_suffix(']').ok_or("IPv6 address must be in brackets")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("host in brackets is not an IPv6 address");
        }
        return Ok(());
    }
    let b = host.as_bytes();
    if b.is_empty() || !b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-') {
        return Err("host must be a lowercase DNS name or an IPv4 address");
    }
    Ok(())
}

fn check_len(s: &str, min: usize, max: usize) -> Result<(), &'static str> {
    if s.len() < min {
        return Err("is too short");
    }
    if s.len() > max {
        return Err("is too long");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_id_boundaries() {
        assert!(AgencyId::new("").is_err(), "empty");
        assert!(AgencyId::new("a").is_ok(), "one byte");
        assert!(AgencyId::new("a".repeat(63)).is_ok(), "max length");
        assert!(AgencyId::new("a".repeat(64)).is_err(), "max + 1");
        assert!(AgencyId::new("Tax").is_err(), "uppercase");
        assert!(AgencyId::new("tax_bureau").is_err(), "underscore");
        assert!(AgencyId::new("-tax").is_err(), "leading hyphen");
        assert!(AgencyId::new(".tax").is_err(), "leading dot");
        assert!(AgencyId::new("9tax.gov-x").is_ok(), "digits, dots, hyphens");
        assert!(AgencyId::new("täx").is_err(), "non-ASCII");
        let e = AgencyId::new("Tax").expect_err("uppercase");
        assert_eq!(e.kind, "AgencyId");
    }

    #[test]
    fn purpose_boundaries() {
        assert!(Purpose::new("").is_err(), "empty");
        assert!(Purpose::new("tax").is_ok());
        assert!(Purpose::new("a.b.c.d.e.f.g.h").is_ok(), "8 labels");
        assert!(Purpose::new("a.b.c.d.e.f.g.h.i").is_err(), "9 labels");
        assert!(Purpose::new("a".repeat(32)).is_ok(), "label of 32");
        assert!(Purpose::new("a".repeat(33)).is_err(), "label of 33");
        assert!(Purpose::new("tax..audit").is_err(), "empty label");
        assert!(Purpose::new("tax.").is_err(), "trailing dot");
        assert!(Purpose::new(".tax").is_err(), "leading dot");
        assert!(Purpose::new("Tax").is_err(), "uppercase");
        assert!(Purpose::new("tax.-x").is_err(), "label starts with hyphen");
        assert!(Purpose::new("social-security.eligibility").is_ok());
        assert!(Purpose::new("tax audit").is_err(), "space");
        let longest = vec!["a".repeat(32); 8].join(".");
        assert_eq!(longest.len(), limits::MAX_NAME_LEN);
        assert!(Purpose::new(longest).is_ok());
    }

    #[test]
    fn purpose_covers_table() {
        let cases = [
            ("tax", "tax", true),
            ("tax", "tax.audit", true),
            ("tax", "tax.audit.annual", true),
            ("tax.audit", "tax", false),
            ("tax", "taxation", false),
            ("tax", "taxation.audit", false),
            ("tax.audit", "tax.auditor", false),
            ("tax.audit", "tax.audit.x", true),
            ("social-security", "social-security.eligibility", true),
            ("social", "social-security", false),
        ];
        for (general, specific, expected) in cases {
            let g = Purpose::new(general).expect("valid");
            let s = Purpose::new(specific).expect("valid");
            assert_eq!(g.covers(&s), expected, "{general} covers {specific}");
        }
    }

    #[test]
    fn category_covers_like_purpose() {
        let g = DataCategory::new("income").expect("valid");
        assert!(g.covers(&DataCategory::new("income.annual").expect("valid")));
        assert!(!g.covers(&DataCategory::new("incomes").expect("valid")));
    }

    #[test]
    fn content_type_boundaries() {
        assert!(ContentType::new("application/json").is_ok());
        assert!(ContentType::new("application/vnd.tally+cbor").is_ok());
        assert!(ContentType::new("application").is_err(), "no subtype");
        assert!(ContentType::new("application/").is_err(), "empty subtype");
        assert!(ContentType::new("Application/json").is_err(), "uppercase");
        assert!(ContentType::new("text/plain; charset=utf-8").is_err(), "parameters");
        assert!(ContentType::new(format!("a/{}", "b".repeat(63))).is_ok());
        assert!(ContentType::new(format!("a/{}", "b".repeat(64))).is_err());
    }

    #[test]
    fn origin_boundaries() {
        assert!(LogOrigin::new("tally.example/tax-bureau").is_ok());
        assert!(LogOrigin::new("").is_err());
        assert!(LogOrigin::new("a b").is_err(), "space");
        assert!(LogOrigin::new("a+b").is_err(), "plus");
        assert!(LogOrigin::new("a\nb").is_err(), "newline");
        assert!(LogOrigin::new("a".repeat(255)).is_ok());
        assert!(LogOrigin::new("a".repeat(256)).is_err());
    }

    #[test]
    fn endpoint_boundaries() {
        assert!(Endpoint::new("127.0.0.1:4433").is_ok());
        assert!(Endpoint::new("tax.example:443").is_ok());
        assert!(Endpoint::new("[::1]:4433").is_ok());
        assert!(Endpoint::new("[::1:4433").is_err());
        assert!(Endpoint::new("::1:4433").is_err(), "bare IPv6");
        assert!(Endpoint::new("host:0").is_err());
        assert!(Endpoint::new("host:065535").is_err());
        assert!(Endpoint::new("host:65536").is_err());
        assert!(Endpoint::new("host").is_err());
        assert!(Endpoint::new(":443").is_err());
        assert!(Endpoint::new("Host:443").is_err());
    }

    #[test]
    fn endpoints_are_one_to_eight_distinct_endpoints() {
        let e = |s: &str| Endpoint::new(s).expect("valid");
        assert!(Endpoints::new(vec![]).is_err(), "none");
        assert!(Endpoints::new(vec![e("a:1"), e("a:1")]).is_err(), "twice");
        let eight: Vec<_> = (1..=8).map(|p| e(&format!("a:{p}"))).collect();
        assert!(Endpoints::new(eight.clone()).is_ok());
        let nine: Vec<_> = (1..=9).map(|p| e(&format!("a:{p}"))).collect();
        assert!(Endpoints::new(nine).is_err(), "nine");
        assert_eq!(Endpoints::new(eight[..2].to_vec()).expect("valid").to_string(), "a:1, a:2");
        for bad in [vec![], vec!["a:1", "a:1"]] {
            let bytes = postcard::to_allocvec(&bad).expect("serializes");
            assert!(postcard::from_bytes::<Endpoints>(&bytes).is_err(), "decoding refuses {bad:?}");
        }
        let bytes = postcard::to_allocvec(&vec!["a:1", "b:2"]).expect("serializes");
        assert_eq!(postcard::from_bytes::<Endpoints>(&bytes).expect("valid").first(), &e("a:1"));
    }

    #[test]
    fn decoding_enforces_the_grammar() {
        let bytes = postcard::to_allocvec("Tax").expect("serializes");
        assert!(postcard::from_bytes::<AgencyId>(&bytes).is_err());
        let bytes = postcard::to_allocvec("tax").expect("serializes");
        assert_eq!(postcard::from_bytes::<AgencyId>(&bytes).expect("valid").as_str(), "tax");
    }
}
