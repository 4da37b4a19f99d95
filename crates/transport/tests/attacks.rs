//! Attacks on the transport over real QUIC on 127.0.0.1 (issue 13): a TLS
//! key that a new directory no longer lists, and a peer that opens more
//! connections than it may. (A peer killed and restarted, and streams that
//! claim frames they never send, are tried against `tally serve` processes
//! in tally-node's `tests/attacks.rs`.)

mod common;

use common::{bind, directory, pair, payload, push_spec};
use tally_protocol::SenderOutcome;
use tally_transport::{TransportConfig, TransportError};
use tally_wire::{AgencyRecord, BoundedVec, CloseCode, Digest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_out_tls_key_loses_its_open_connection() {
    // Issue 13 item 6: after a new directory removed a key, the open connection still fetched the whole log.
    let (a, b, roster) = pair(TransportConfig::default());
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    assert!(matches!(a.endpoint.send(packet, &payload(10)[..]).await, Ok(SenderOutcome::Delivered(_))));
    let open = a.endpoint.connect(&b.id).await.expect("the cached connection");
    // The directory now lists another TLS key for a: a rotated its key, and the old one must stop working.
    let records: Vec<AgencyRecord> = [&a, &b]
        .iter()
        .map(|n| {
            let mut r = roster.record(&n.id).expect("listed");
            if n.id == a.id {
                r.tls_key = Digest([0x42; 32]);
            }
            r
        })
        .collect();
    assert!(roster.update(&directory(3, records)));
    common::eventually("the connection with the unlisted key is closed", || open.close_reason().is_some()).await;
    match open.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(close)) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(u32::from(CloseCode::KEY_NOT_LISTED.0)));
        }
        other => panic!("closed for another reason: {other:?}"),
    }
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    let again = a.endpoint.send(packet, &payload(10)[..]).await;
    assert!(matches!(again, Err(TransportError::Connection { .. })), "the old key no longer connects: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gets_no_more_connections_than_its_limit() {
    // Issue 13 item 8: each connection costs the node memory; one agency may hold only a few.
    let config = TransportConfig { max_connections_per_peer: 2, ..TransportConfig::default() };
    let (a, b, roster) = pair(config);
    // Four endpoints of agency a (its keys, as four processes would have), each dialing b.
    let twins: Vec<_> = (0..4).map(|_| bind(a.member.twin(), &roster, config)).collect();
    let mut refused = 0;
    for twin in &twins {
        let packet = twin.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
        match twin.endpoint.send(packet, &payload(10)[..]).await {
            Ok(SenderOutcome::Delivered(_)) => {}
            Err(TransportError::Connection {
                source: tally_transport::ConnectionFailure::Lost(quinn::ConnectionError::ApplicationClosed(close)),
                ..
            }) => {
                assert_eq!(close.error_code, quinn::VarInt::from(u32::from(CloseCode::TOO_MANY_CONNECTIONS.0)));
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 2, "two connections from one agency at a time");
}
