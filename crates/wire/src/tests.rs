//! Property and scenario tests of the whole codec: round trips, every
//! prefix, every extension, non-canonical input and arbitrary bytes.

use std::borrow::Cow;
use std::io::Read;

use proptest::prelude::*;

use crate::*;

/// proptest strategies for every message type.
mod strategy {
    use super::*;

    pub(super) fn agency() -> impl Strategy<Value = AgencyId> {
        "[a-z0-9][a-z0-9.-]{0,62}".prop_map(|s| AgencyId::new(s).expect("matches the grammar"))
    }

    fn dotted() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z0-9][a-z0-9-]{0,31}", 1..=8).prop_map(|labels| labels.join("."))
    }

    pub(super) fn purpose() -> impl Strategy<Value = Purpose> {
        dotted().prop_map(|s| Purpose::new(s).expect("matches the grammar"))
    }

    pub(super) fn category() -> impl Strategy<Value = DataCategory> {
        dotted().prop_map(|s| DataCategory::new(s).expect("matches the grammar"))
    }

    fn content_type() -> impl Strategy<Value = ContentType> {
        "[a-z0-9][a-z0-9.+-]{0,20}/[a-z0-9][a-z0-9.+-]{0,20}"
            .prop_map(|s| ContentType::new(s).expect("matches the grammar"))
    }

    fn text<const MAX: usize>() -> impl Strategy<Value = Text<MAX>> {
        "[^\\p{Cc}]{0,40}".prop_map(|s| Text::new(s).expect("short and without control characters"))
    }

    pub(super) fn timestamp() -> impl Strategy<Value = Timestamp> {
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Timestamp::new(s, n).expect("nanos in range"))
    }

    fn b16() -> impl Strategy<Value = [u8; 16]> {
        any::<[u8; 16]>()
    }

    fn b32() -> impl Strategy<Value = [u8; 32]> {
        any::<[u8; 32]>()
    }

    pub(super) fn signature() -> impl Strategy<Value = Signature> {
        prop::collection::vec(any::<u8>(), 64).prop_map(|v| Signature(v.try_into().expect("64 bytes")))
    }

    fn list<T: std::fmt::Debug, const MAX: usize>(
        item: impl Strategy<Value = T>,
        max: usize,
    ) -> impl Strategy<Value = BoundedVec<T, MAX>> {
        prop::collection::vec(item, 0..=max.min(MAX)).prop_map(|v| BoundedVec::new(v).expect("within the limit"))
    }

    pub(super) fn signed<T: SignedBody + std::fmt::Debug>(
        value: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Signed<T>> {
        (value, signature()).prop_map(|(v, sig)| Signed::sign(v, |_, _| sig).expect("within the size limit"))
    }

    pub(super) fn header() -> impl Strategy<Value = PacketHeader> {
        (
            (any::<u8>(), any::<u16>(), b16(), agency(), agency(), b32(), b32()),
            (purpose(), category(), content_type(), timestamp(), any::<u64>(), 1024..=(1u32 << 20)),
        )
            .prop_map(
                |(
                    (version, suite, id, sender, recipient, key, grant),
                    (purpose, category, content_type, created_at, len, chunk),
                )| {
                    PacketHeader {
                        version: Version(version),
                        suite: SuiteId(suite),
                        packet_id: PacketId(id),
                        sender,
                        recipient,
                        recipient_key: KeyId(key),
                        grant: GrantId(grant),
                        purpose,
                        category,
                        content_type,
                        created_at,
                        payload_len: len,
                        chunk_size: ChunkSize::new(chunk).expect("in range"),
                    }
                },
            )
    }

    fn quota() -> impl Strategy<Value = Quota> {
        (any::<Option<u64>>(), any::<Option<u64>>(), any::<Option<(u32, u32)>>()).prop_map(
            |(max_packets, max_bytes, rate)| Quota {
                max_packets,
                max_bytes,
                rate: rate.map(|(packets, period_secs)| Rate { packets, period_secs }),
            },
        )
    }

    pub(super) fn grant() -> impl Strategy<Value = Grant> {
        (
            (agency(), agency(), list(agency(), 4), list(purpose(), 4), list(category(), 4), timestamp(), timestamp()),
            (
                quota(),
                any::<u64>(),
                any::<bool>(),
                prop_oneof![Just(Direction::Push), Just(Direction::Pull), Just(Direction::Both)],
                any::<u8>().prop_map(SuiteLevel),
            ),
            (any::<u8>(), any::<Option<[u8; 32]>>(), text(), text(), timestamp()),
        )
            .prop_map(
                |(
                    (issuer, grantee, senders, purposes, categories, not_before, not_after),
                    (quota, retention_secs, erase_on_revoke, direction, min_suite_level),
                    (delegation_depth, parent, legal_basis, note, issued_at),
                )| Grant {
                    issuer,
                    grantee,
                    senders,
                    purposes,
                    categories,
                    not_before,
                    not_after,
                    quota,
                    retention_secs,
                    erase_on_revoke,
                    direction,
                    min_suite_level,
                    delegation_depth,
                    parent: parent.map(GrantId),
                    legal_basis,
                    note,
                    issued_at,
                },
            )
    }

    pub(super) fn revocation() -> impl Strategy<Value = Revocation> {
        (agency(), b32(), timestamp(), any::<u16>(), any::<bool>(), timestamp()).prop_map(
            |(issuer, grant, effective_at, reason, erase, issued_at)| Revocation {
                issuer,
                grant: GrantId(grant),
                effective_at,
                reason: RevocationReason(reason),
                erase,
                issued_at,
            },
        )
    }

    pub(super) fn receipt() -> impl Strategy<Value = Receipt> {
        let outcome = prop_oneof![
            (b32(), b32()).prop_map(|(f, c)| Outcome::Accepted {
                ciphertext_fingerprint: Digest(f),
                content_commitment: Digest(c)
            }),
            any::<u16>().prop_map(|r| Outcome::Rejected { reason: ReasonCode(r) }),
        ];
        (b16(), b32(), b32(), purpose(), category(), any::<u64>(), agency(), agency(), timestamp(), outcome).prop_map(
            |(id, header, grant, purpose, category, payload_len, sender, recipient, received_at, outcome)| Receipt {
                packet_id: PacketId(id),
                header_digest: Digest(header),
                grant: GrantId(grant),
                purpose,
                category,
                payload_len,
                sender,
                recipient,
                received_at,
                outcome,
            },
        )
    }

    pub(super) fn kem_cert() -> impl Strategy<Value = KemKeyCertificate> {
        let key = prop_oneof![
            b32().prop_map(|k| KemPublicKey::X25519(X25519PublicKey(k))),
            any::<u8>().prop_map(|b| KemPublicKey::XWing(Box::new(XWingPublicKey([b; 1216])))),
        ];
        (agency(), b32(), key, timestamp(), timestamp()).prop_map(|(agency, id, public_key, not_before, not_after)| {
            KemKeyCertificate { agency, key_id: KeyId(id), public_key, not_before, not_after }
        })
    }

    pub(super) fn directory() -> impl Strategy<Value = Directory> {
        let record = (
            agency(),
            text(),
            any::<u8>(),
            prop::collection::btree_set("[a-z0-9.-]{1,30}:[1-9][0-9]{0,3}", 1..=3),
            b32(),
            b32(),
            list(signed(kem_cert()), 2),
        )
            .prop_map(|(id, name, roles, endpoints, identity, tls, kem_keys)| AgencyRecord {
                id,
                name,
                roles: Roles(roles),
                endpoints: Endpoints::new(
                    endpoints.into_iter().map(|e| Endpoint::new(e).expect("matches the grammar")).collect(),
                )
                .expect("distinct"),
                identity_key: IdentityPublicKey(identity),
                tls_key: Digest(tls),
                kem_keys,
            });
        let purpose_record = (purpose(), text(), text())
            .prop_map(|(purpose, legal_basis, description)| PurposeRecord { purpose, legal_basis, description });
        let category_record = (category(), agency(), text())
            .prop_map(|(category, controller, description)| CategoryRecord { category, controller, description });
        (text(), any::<u64>(), timestamp(), list(record, 3), list(purpose_record, 3), list(category_record, 3))
            .prop_map(|(federation, serial, issued_at, agencies, purposes, categories)| Directory {
                federation,
                serial,
                issued_at,
                agencies,
                purposes,
                categories,
            })
    }

    pub(super) fn pull_request() -> impl Strategy<Value = PullRequest> {
        (
            b16(),
            agency(),
            agency(),
            b32(),
            purpose(),
            category(),
            prop::collection::vec(any::<u8>(), 0..64),
            timestamp(),
        )
            .prop_map(|(id, requester, responder, grant, purpose, category, query, created_at)| PullRequest {
                request_id: RequestId(id),
                requester,
                responder,
                grant: GrantId(grant),
                purpose,
                category,
                query: BoundedBytes::new(query).expect("short"),
                created_at,
            })
    }

    /// A receipt bundle: signed or logged, any index, a proof and a checkpoint text.
    pub(super) fn bundle() -> impl Strategy<Value = ReceiptBundle> {
        let bundled = prop_oneof![
            signed(receipt()).prop_map(BundledReceipt::Signed),
            receipt().prop_map(|r| BundledReceipt::Logged(Encoded::new(r).expect("within the size limit"))),
        ];
        (bundled, any::<u64>(), list(b32().prop_map(Digest), 8), text())
            .prop_map(|(receipt, index, proof, checkpoint)| ReceiptBundle { receipt, index, proof, checkpoint })
    }

    fn encapsulated_key() -> impl Strategy<Value = EncapsulatedKey> {
        prop_oneof![
            b32().prop_map(|k| EncapsulatedKey::X25519(X25519PublicKey(k))),
            any::<u8>().prop_map(|b| EncapsulatedKey::XWing(Box::new(XWingCiphertext([b; 1120])))),
        ]
    }

    pub(super) fn frame() -> impl Strategy<Value = Frame<'static>> {
        prop_oneof![
            (header(), encapsulated_key(), list(signed(grant()), 3)).prop_map(
                |(header, encapsulated_key, grant_chain)| {
                    let header = Encoded::new(header).expect("within the size limit");
                    Frame::Offer(Offer { header, encapsulated_key, grant_chain })
                }
            ),
            b16().prop_map(|id| Frame::Accept(Accept { packet_id: PacketId(id) })),
            bundle().prop_map(|bundle| Frame::Reject(Reject { bundle })),
            (any::<u64>(), prop::collection::vec(any::<u8>(), 0..2048))
                .prop_map(|(index, data)| Frame::Chunk(Chunk { index, data: Cow::Owned(data) })),
            (any::<u64>(), b32(), signature()).prop_map(|(chunk_count, c, signature)| Frame::Trailer(Trailer {
                chunk_count,
                content_commitment: Digest(c),
                signature
            })),
            bundle().prop_map(|bundle| Frame::Receipt(ReceiptFrame { bundle })),
            (signed(pull_request()), list(signed(grant()), 2))
                .prop_map(|(request, grant_chain)| Frame::Request(Request { request, grant_chain })),
            (any::<u16>(), text()).prop_map(|(code, reason)| Frame::Close(Close { code: CloseCode(code), reason })),
            list(signed(grant()), 3).prop_map(|chain| Frame::Notice(Notice::Grant(chain))),
            signed(revocation()).prop_map(|r| Frame::Notice(Notice::Revocation(r))),
            any::<u64>().prop_map(|newer_than| Frame::Fetch(Fetch::Directory { newer_than })),
            Just(Frame::Fetch(Fetch::Checkpoint)),
            (any::<u64>(), any::<u64>()).prop_map(|(start, end)| Frame::Fetch(Fetch::Entries { start, end })),
            (any::<u64>(), any::<u64>())
                .prop_map(|(old_size, new_size)| Frame::Fetch(Fetch::Consistency { old_size, new_size })),
            prop::collection::vec(any::<u8>(), 0..2048).prop_map(|b| Frame::Part(Cow::Owned(b))),
        ]
    }
}

/// Checks a signed object's encoding: round trip, every prefix, every extension.
fn check_signed<T: SignedBody + std::fmt::Debug + PartialEq>(
    signed: &Signed<T>,
    extra: u8,
) -> Result<(), TestCaseError> {
    let bytes = signed.encode();
    let back = Signed::<T>::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back.unverified(), signed.unverified());
    prop_assert_eq!(back.body(), signed.body());
    prop_assert_eq!(back.encode(), bytes.clone());
    for len in 0..bytes.len() {
        prop_assert!(Signed::<T>::decode(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
    }
    let mut longer = bytes.clone();
    longer.push(extra);
    let trailing = matches!(Signed::<T>::decode(&longer), Err(Error::TrailingBytes { .. }));
    prop_assert!(trailing, "an appended byte was not reported as trailing");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Frames: decode(encode(f)) == f, and re-encoding gives the same bytes.
    #[test]
    fn frames_round_trip(frame in strategy::frame()) {
        let bytes = frame.encode().expect("encodes");
        let back = Frame::decode(&bytes).expect("decodes");
        prop_assert_eq!(&back, &frame);
        prop_assert_eq!(back.encode().expect("encodes"), bytes);
    }

    /// Every strict prefix of a valid frame fails to decode.
    #[test]
    fn every_frame_prefix_fails(frame in strategy::frame()) {
        let bytes = frame.encode().expect("encodes");
        for len in 0..bytes.len() {
            prop_assert!(Frame::decode(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
        }
    }

    /// Appending any byte to a valid frame fails to decode.
    #[test]
    fn appended_byte_fails(frame in strategy::frame(), extra: u8) {
        let mut bytes = frame.encode().expect("encodes");
        let len = bytes.len();
        bytes.push(extra);
        prop_assert_eq!(
            Frame::decode(&bytes).map(|_| ()),
            Err(Error::TrailingBytes { context: Context::Frame(frame.frame_type()), offset: len, count: 1 })
        );
    }

    /// An encoded header round-trips and rejects prefixes and extensions.
    #[test]
    fn encoded_headers(v in strategy::header(), extra: u8) {
        let encoded = Encoded::new(v).expect("within the size limit");
        let bytes = encoded.encode();
        let back = Encoded::<PacketHeader>::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.value(), encoded.value());
        prop_assert_eq!(back.body(), encoded.body());
        for len in 0..bytes.len() {
            prop_assert!(Encoded::<PacketHeader>::decode(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
        }
        let mut longer = bytes;
        longer.push(extra);
        let trailing = matches!(Encoded::<PacketHeader>::decode(&longer), Err(Error::TrailingBytes { .. }));
        prop_assert!(trailing, "an appended byte was not reported as trailing");
    }

    /// Each signed object type round-trips and rejects prefixes and extensions.
    #[test]
    fn signed_grants(v in strategy::signed(strategy::grant()), extra: u8) { check_signed(&v, extra)?; }
    #[test]
    fn signed_revocations(v in strategy::signed(strategy::revocation()), extra: u8) { check_signed(&v, extra)?; }
    #[test]
    fn signed_receipts(v in strategy::signed(strategy::receipt()), extra: u8) { check_signed(&v, extra)?; }
    #[test]
    fn signed_kem_certs(v in strategy::signed(strategy::kem_cert()), extra: u8) { check_signed(&v, extra)?; }
    #[test]
    fn signed_directories(v in strategy::signed(strategy::directory()), extra: u8) { check_signed(&v, extra)?; }
    #[test]
    fn signed_pull_requests(v in strategy::signed(strategy::pull_request()), extra: u8) { check_signed(&v, extra)?; }

    /// A stream of frames read by `FrameReader` gives the same frames back.
    #[test]
    fn frame_reader_reads_a_stream(frames in prop::collection::vec(strategy::frame(), 0..6)) {
        let mut stream = Vec::new();
        for f in &frames {
            f.encode_into(&mut stream).expect("encodes");
        }
        let mut reader = FrameReader::new(&stream[..]);
        for f in &frames {
            let got = reader.read_frame().expect("reads").expect("a frame").into_owned();
            prop_assert_eq!(&got, f);
        }
        prop_assert!(reader.read_frame().expect("clean end").is_none());
    }

    /// Arbitrary bytes never panic, and the reader never buffers more than
    /// the largest frame body.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Frame::decode(&data);
        for (_, target) in fuzzing::TARGETS {
            target(&data);
        }
        let mut reader = FrameReader::new(&data[..]);
        while let Ok(Some(_)) = reader.read_frame() {}
        prop_assert!(reader.buffered_capacity() <= limits::frame::MAX);
    }

    /// Arbitrary bytes after a valid prefix never panic (mutations reach the body decoders).
    #[test]
    fn arbitrary_bodies_never_panic(t in 1u8..=11, mut body in prop::collection::vec(any::<u8>(), 0..512)) {
        body.truncate(body_limit(FrameType(t)).expect("a known frame type"));
        let prefix = FramePrefix::encode(FrameType(t), body.len()).expect("within the limit");
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.extend_from_slice(&body);
        fuzzing::frame(&bytes);
    }
}

#[test]
fn prefix_checks_run_in_order_and_early() {
    assert_eq!(FramePrefix::parse(&[]), Ok(None));
    assert_eq!(FramePrefix::parse(&[2]), Err(Error::UnknownVersion { version: 2, supported: 1 }));
    assert_eq!(FramePrefix::parse(&[1]), Ok(None));
    assert_eq!(FramePrefix::parse(&[1, 0x42]), Err(Error::UnknownFrameType { frame_type: FrameType(0x42) }));
    assert_eq!(FramePrefix::parse(&[1, 8]), Ok(None));
    assert_eq!(FramePrefix::parse(&[1, 8, 0x80]), Ok(None));
    assert_eq!(
        FramePrefix::parse(&[1, 8, 0x80, 0x00]),
        Err(Error::NonCanonical { context: Context::FrameHeader, offset: 2 })
    );
    assert!(matches!(FramePrefix::parse(&[1, 8, 0xff, 0xff, 0xff, 0xff, 0x1f]), Err(Error::Malformed { .. })));
    // An Accept body is 16 bytes; 17 is over its limit, known from the prefix alone.
    assert_eq!(
        FramePrefix::parse(&[1, 2, 17]),
        Err(Error::OverLimit { context: Context::Frame(FrameType::ACCEPT), len: 17, limit: 16 })
    );
    assert_eq!(
        FramePrefix::parse(&[1, 2, 16]),
        Ok(Some(FramePrefix { frame_type: FrameType::ACCEPT, body_len: 16, prefix_len: 3 }))
    );
}

/// A reader that fails the test if more than `allowed` bytes are read from it.
struct Tripwire<'a> {
    data: &'a [u8],
    allowed: usize,
}

impl Read for Tripwire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len());
        assert!(self.allowed >= n, "read past the prefix");
        self.allowed -= n;
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn reader_rejects_an_oversize_length_before_reading_the_body() {
    // A chunk frame declaring 4 GiB - 1: the reader must fail after the
    // 7-byte prefix, with nothing buffered.
    let mut data = vec![1, 4, 0xff, 0xff, 0xff, 0xff, 0x0f];
    data.extend_from_slice(&[0; 64]);
    let mut reader = FrameReader::new(Tripwire { data: &data, allowed: 7 });
    let err = reader.read_frame().expect_err("over the limit");
    assert!(matches!(err, ReadError::Wire(Error::OverLimit { len: 0xffff_ffff, .. })), "{err}");
    assert_eq!(reader.buffered_capacity(), 0);
}

#[test]
fn reader_reports_truncation_inside_a_frame() {
    let frame = Frame::Accept(Accept { packet_id: PacketId([9; 16]) }).encode().expect("encodes");
    let mut reader = FrameReader::new(&frame[..10]);
    let err = reader.read_frame().expect_err("truncated");
    assert!(
        matches!(err, ReadError::Wire(Error::Truncated { context: Context::Frame(FrameType::ACCEPT), offset: 7 })),
        "{err}"
    );
    let mut reader = FrameReader::new(&frame[..2]);
    let err = reader.read_frame().expect_err("truncated");
    assert!(matches!(err, ReadError::Wire(Error::Truncated { context: Context::FrameHeader, offset: 2 })), "{err}");
}

#[test]
fn non_minimal_varint_in_a_body_is_rejected() {
    // Close { code: 0, reason: "" } is `00 00`; `80 00 00` encodes the same value.
    assert!(Frame::decode(&[1, 8, 2, 0x00, 0x00]).is_ok());
    assert_eq!(
        Frame::decode(&[1, 8, 3, 0x80, 0x00, 0x00]),
        Err(Error::NonCanonical { context: Context::Frame(FrameType::CLOSE), offset: 0 })
    );
    // A non-minimal chunk index.
    assert_eq!(
        Frame::decode(&[1, 4, 3, 0x81, 0x00, 0xaa]),
        Err(Error::NonCanonical { context: Context::Frame(FrameType::CHUNK), offset: 0 })
    );
}

#[test]
fn invalid_names_are_reported_with_type_rule_and_offset() {
    // Close reason with an escape character.
    let err = Frame::decode(&[1, 8, 3, 0x00, 0x01, 0x1b]).expect_err("control character");
    assert_eq!(
        err,
        Error::InvalidValue {
            context: Context::Frame(FrameType::CLOSE),
            offset: 3,
            value: InvalidValue { kind: "Text", reason: "contains a control character" }
        }
    );
}

#[test]
fn nested_signed_objects_report_their_own_error() {
    // A Reject frame whose receipt has an uppercase sender.
    let receipt = Receipt {
        packet_id: PacketId([1; 16]),
        header_digest: Digest([2; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("tax").expect("valid"),
        category: DataCategory::new("income").expect("valid"),
        payload_len: 10,
        sender: AgencyId::new("abc").expect("valid"),
        recipient: AgencyId::new("def").expect("valid"),
        received_at: Timestamp::from_secs(1),
        outcome: Outcome::Rejected { reason: ReasonCode::GRANT_EXPIRED },
    };
    let signed = Signed::sign(receipt, |_, _| Signature([0; 64])).expect("small");
    let bundle = ReceiptBundle {
        receipt: BundledReceipt::Signed(signed),
        index: 0,
        proof: BoundedVec::new(vec![]).expect("empty"),
        checkpoint: Text::new("").expect("empty"),
    };
    let mut bytes = Frame::Reject(Reject { bundle }).encode().expect("encodes");
    let pos = bytes.windows(3).position(|w| w == b"abc").expect("sender is in the frame");
    bytes[pos] = b'A';
    match Frame::decode(&bytes) {
        Err(Error::Nested { context: Context::Frame(FrameType::REJECT), source, .. }) => {
            assert!(
                matches!(
                    *source,
                    Error::InvalidValue {
                        context: Context::Object("Receipt"),
                        value: InvalidValue { kind: "AgencyId", .. },
                        ..
                    }
                ),
                "{source}"
            );
        }
        other => panic!("expected a nested error, got {other:?}"),
    }
}

#[test]
fn unknown_codepoints_decode_and_are_kept() {
    let close = Frame::Close(Close { code: CloseCode(0x7777), reason: Text::default() });
    let bytes = close.encode().expect("encodes");
    assert_eq!(Frame::decode(&bytes).expect("decodes"), close);
}

#[test]
fn signed_object_over_its_limit_is_rejected_before_decoding() {
    let bytes = vec![0u8; limits::MAX_REVOCATION_SIZE + limits::SIGNED_OVERHEAD + 1];
    assert!(matches!(Signed::<Revocation>::decode(&bytes), Err(Error::OverLimit { .. })));
}

#[test]
fn chunk_prefix_and_data_are_the_frame() {
    let data = vec![0x5a; 3000];
    let chunk = Chunk::new(300, &data);
    let mut manual = chunk.prefix().expect("small").as_bytes().to_vec();
    manual.extend_from_slice(&data);
    assert_eq!(manual, Frame::Chunk(chunk.clone()).encode().expect("encodes"));
    // version, type, varint(2 + 3000) = b6 17, varint(300) = ac 02
    assert_eq!(&manual[..6], &[1, 4, 0xba, 0x17, 0xac, 0x02]);
    match Frame::decode(&manual).expect("decodes") {
        Frame::Chunk(c) => {
            assert_eq!(c.index, 300);
            assert!(matches!(c.data, Cow::Borrowed(_)), "chunk data must borrow the input");
            assert_eq!(c.data.as_ptr(), manual[6..].as_ptr());
        }
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[test]
fn values_taken_one_after_another_come_back_in_order_and_truncation_is_an_error() {
    let entries = [
        Encoded::new(LogEntry::Revocation(
            Signed::from_parts(to_bytes(&revocation_value()), Signature([1; 64])).expect("valid"),
        ))
        .expect("encodes"),
        Encoded::new(LogEntry::Revocation(
            Signed::from_parts(to_bytes(&revocation_value()), Signature([2; 64])).expect("valid"),
        ))
        .expect("encodes"),
    ];
    let note = Text::<4096>::new("origin\n2\n").expect("valid");
    let mut bytes = to_bytes(&note);
    for e in &entries {
        bytes.extend_from_slice(&e.encode());
    }
    let (got_note, mut rest) = take_from_bytes::<Text<4096>>(&bytes, "note").expect("a note");
    assert_eq!(got_note, note);
    for e in &entries {
        let (got, after) = take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry").expect("an entry");
        assert_eq!(&got, e);
        rest = after;
    }
    assert!(rest.is_empty());
    let cut = &bytes[..bytes.len() - 1];
    let (_, mut rest) = take_from_bytes::<Text<4096>>(cut, "note").expect("a note");
    rest = take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry").expect("the first entry").1;
    assert!(matches!(take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry"), Err(Error::Truncated { .. })));
}

fn revocation_value() -> Revocation {
    Revocation {
        issuer: AgencyId::new("tax-bureau").expect("valid"),
        grant: GrantId([7; 32]),
        effective_at: Timestamp::from_secs(1),
        reason: RevocationReason::BREACH,
        erase: false,
        issued_at: Timestamp::from_secs(1),
    }
}
