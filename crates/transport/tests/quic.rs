//! Exchanges over real QUIC on 127.0.0.1 between real endpoints (see
//! `common` for the test host).

mod common;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{
    Member, Policy, agency, bind, category, digest_of, directory, eventually, pair, payload, purpose, push_spec,
    receipt_of,
};
use tally_protocol::{ExchangeError, ReceiverOutcome, RequesterOutcome, SenderOutcome};
use tally_transport::{TransportConfig, TransportError};
use tally_wire::{
    BoundedBytes, BoundedVec, CloseCode, GrantId, Outcome, PullRequest, ReasonCode, ReceiptBundle, RequestId, Signed,
    Timestamp,
};
use tokio::io::{AsyncRead, ReadBuf};

fn delivered(outcome: Result<SenderOutcome, TransportError>) -> ReceiptBundle {
    match outcome {
        Ok(SenderOutcome::Delivered(r)) => r,
        other => panic!("not delivered: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_of_every_size_arrive_intact_with_verified_receipts() {
    let (a, b, _) = pair(TransportConfig::default());
    for len in [0, 1, 64 * 1024, 100 << 20] {
        let data = payload(len);
        let packet = a.endpoint.seal(&b.id, push_spec(&a.id, len), BoundedVec::empty()).expect("seals");
        let id = packet.offer().header.value().packet_id;
        let receipt = delivered(a.endpoint.send(packet, &data[..]).await);
        let key = b.host.identity.public_key();
        let r = tally_receipt::verify_bundle(&receipt, |x| (x == &b.id).then_some(key))
            .expect("the recipient's bundle")
            .receipt;
        assert_eq!(r.packet_id, id);
        assert!(matches!(r.outcome, Outcome::Accepted { .. }));
        let (stored, stored_receipt) = b.host.state().stored.get(&id).cloned().expect("stored");
        assert_eq!(stored.len(), len);
        assert_eq!(digest_of(&stored), digest_of(&data), "{len} bytes arrived intact");
        assert_eq!(stored_receipt, receipt);
        assert_eq!(a.host.state().log.last(), Some(&receipt), "the sender logged it before send returned");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_exchanges_share_one_connection() {
    let (a, b, _) = pair(TransportConfig::default());
    let first = a.endpoint.connect(&b.id).await.expect("connects");
    let mut tasks = Vec::new();
    for i in 0..256usize {
        let endpoint = a.endpoint.clone();
        let (to, from) = (b.id.clone(), a.id.clone());
        tasks.push(tokio::spawn(async move {
            let data = payload(1000 + i);
            let packet = endpoint.seal(&to, push_spec(&from, data.len()), BoundedVec::empty()).expect("seals");
            endpoint.send(packet, &data[..]).await
        }));
    }
    for t in tasks {
        delivered(t.await.expect("joins"));
    }
    assert_eq!(b.host.state().stored.len(), 256);
    let again = a.endpoint.connect(&b.id).await.expect("connected");
    assert_eq!(first.stable_id(), again.stable_id(), "one connection, reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_key_the_directory_does_not_list_fails_the_handshake() {
    let (a, b, roster) = pair(TransportConfig::default());
    // An impostor claiming to be the tax bureau, with its own TLS key, and a
    // roster of its own in which the server is correctly pinned.
    let impostor = Member::new("tax-bureau");
    let mut records = vec![roster.record(&b.id).expect("listed")];
    records.push(impostor.record("127.0.0.1:9"));
    let own = Arc::new(tally_transport::Roster::new(&directory(3, records)));
    let impostor = bind(impostor, &own, TransportConfig::default());
    let packet = impostor.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    match impostor.endpoint.send(packet, &b"0123456789"[..]).await {
        Err(TransportError::Connection { .. }) => {}
        other => panic!("the handshake must fail: {other:?}"),
    }
    assert_eq!(b.host.state().decisions, 0, "the server's host saw nothing");
    assert!(b.host.state().stored.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_key_is_not_pinned_is_refused_by_the_client() {
    let (a, b, roster) = pair(TransportConfig::default());
    // The directory now pins another key for social-security: the real server no longer matches.
    let mut record = roster.record(&b.id).expect("listed");
    record.tls_key = tally_wire::Digest([0xaa; 32]);
    let records = vec![roster.record(&a.id).expect("listed"), record];
    assert!(roster.update(&directory(3, records)));
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    assert!(matches!(a.endpoint.send(packet, &b"0123456789"[..]).await, Err(TransportError::Connection { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_in_another_agencys_name_is_refused() {
    let (a, b, _) = pair(TransportConfig::default());
    // B is authenticated as social-security, but its header says tax-bureau (A).
    let packet = b.endpoint.seal(&a.id, push_spec(&a.id, 100), BoundedVec::empty()).expect("seals");
    let result = b.endpoint.send(packet, &payload(100)[..]).await;
    assert!(
        matches!(
            result,
            Err(TransportError::Exchange(ExchangeError::ClosedByPeer { code: CloseCode::SENDER_MISMATCH, .. }))
        ),
        "{result:?}"
    );
    assert_eq!(a.host.state().decisions, 0, "the policy was never asked");
    assert!(a.host.state().stored.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_offer_gets_a_signed_rejection_that_both_sides_log() {
    let (a, b, _) = pair(TransportConfig::default());
    *b.host.policy.lock().expect("not poisoned") = Policy::Deny(ReasonCode::PURPOSE_NOT_COVERED);
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 100_000), BoundedVec::empty()).expect("seals");
    let counted = Counting::new(payload(100_000));
    let read = Arc::clone(&counted.read);
    let refusal = match a.endpoint.send(packet, counted).await {
        Ok(SenderOutcome::Refused(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(receipt_of(&refusal).outcome, Outcome::Rejected { reason: ReasonCode::PURPOSE_NOT_COVERED });
    assert_eq!(read.load(Ordering::SeqCst), 0, "no payload byte was read for a refused packet");
    assert_eq!(a.host.state().log, vec![refusal.clone()]);
    assert_eq!(b.host.state().log, vec![refusal]);
}

/// A payload source that counts what was read from it.
struct Counting {
    data: io::Cursor<Vec<u8>>,
    read: Arc<AtomicU64>,
}

impl Counting {
    fn new(data: Vec<u8>) -> Self {
        Self { data: io::Cursor::new(data), read: Arc::new(AtomicU64::new(0)) }
    }
}

impl AsyncRead for Counting {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.data).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, Ordering::SeqCst);
        r
    }
}

/// An endless payload source of zeros that counts what was read.
struct Endless {
    read: Arc<AtomicU64>,
}

impl AsyncRead for Endless {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = buf.remaining();
        buf.put_slice(&vec![0; n]);
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_times_the_sender_out_with_flat_memory() {
    let mut config = TransportConfig::default();
    config.exchange.idle_timeout = Duration::from_secs(2);
    let (a, b, _) = pair(config);
    b.host.stall_writes.store(true, Ordering::SeqCst);
    let len = 1u64 << 30;
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, len as usize), BoundedVec::empty()).expect("seals");
    let read = Arc::new(AtomicU64::new(0));
    let result = a.endpoint.send(packet, Endless { read: Arc::clone(&read) }).await;
    assert!(matches!(result, Err(TransportError::Stalled(_))), "{result:?}");
    let taken = read.load(Ordering::SeqCst);
    // What was read is bounded by the windows (stream 4 MiB) plus a few
    // chunks in the pipeline, not by the 1 GiB payload.
    let bound = u64::from(config.stream_window) + 8 * 65536;
    assert!(taken <= bound, "read {taken} bytes of the payload, more than the {bound}-byte window");
    assert!(b.host.state().stored.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_that_writes_slower_than_the_network_holds_no_more_than_its_window() {
    let config = TransportConfig::default();
    let (a, b, _) = pair(config);
    // 64 KiB chunks written at most every 2 ms: about 30 MiB/s, well below loopback QUIC.
    b.host.write_delay_us.store(2_000, Ordering::SeqCst);
    let len = 48u64 << 20;
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, len as usize), BoundedVec::empty()).expect("seals");
    let read = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The payload between the sender's source and the recipient's inbox, sampled as it moves.
    let sampler = {
        let (read, done, host) = (Arc::clone(&read), Arc::clone(&done), Arc::clone(&b.host));
        tokio::spawn(async move {
            let mut widest = 0u64;
            while !done.load(Ordering::SeqCst) {
                let written = host.state().written;
                widest = widest.max(read.load(Ordering::SeqCst).saturating_sub(written));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            widest
        })
    };
    let source = tokio::io::AsyncReadExt::take(Endless { read: Arc::clone(&read) }, len);
    let bundle = delivered(a.endpoint.send(packet, source).await);
    done.store(true, Ordering::SeqCst);
    let widest = sampler.await.expect("sampler");
    let id = receipt_of(&bundle).packet_id;
    assert_eq!(b.host.state().stored.get(&id).map(|(data, _)| data.len() as u64), Some(len), "delivered whole");
    // Unwritten bytes are what QUIC's stream window lets the sender have in
    // flight plus a few chunks in each side's pipeline: not the payload.
    let bound = u64::from(config.stream_window) + 16 * 65536;
    assert!(widest <= bound, "{widest} bytes were read by the sender and not yet written, over {bound}");
}

/// A source that yields `limit` bytes, then never more (a sender killed mid-transfer).
struct Hangs {
    data: io::Cursor<Vec<u8>>,
    limit: u64,
}

impl AsyncRead for Hangs {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.data.position() >= self.limit {
            return Poll::Pending;
        }
        Pin::new(&mut self.data).poll_read(cx, buf)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_transfer_then_resent_delivers_exactly_once() {
    let (a, b, _) = pair(TransportConfig::default());
    let data = payload(1 << 20);
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, data.len()), BoundedVec::empty()).expect("seals");
    let offer = packet.offer().clone();
    let endpoint = a.endpoint.clone();
    let source = Hangs { data: io::Cursor::new(data.clone()), limit: 300_000 };
    let task = tokio::spawn(async move { endpoint.send(packet, source).await });
    eventually("the receiver has plaintext", || b.host.state().written >= 64 * 1024).await;
    // Kill the connection mid-transfer, and the sending task with it.
    a.endpoint.connect(&b.id).await.expect("connected").close(0u32.into(), b"killed");
    task.abort();
    eventually("the partial plaintext is discarded", || b.host.state().discards == 1).await;
    assert!(b.host.state().stored.is_empty());
    // The resend finds nothing stored: the payload is sealed and sent anew.
    let resent = a.endpoint.resend(&b.id, offer).await;
    assert!(matches!(resent, Ok(SenderOutcome::NotStored)), "{resent:?}");
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, data.len()), BoundedVec::empty()).expect("seals");
    delivered(a.endpoint.send(packet, &data[..]).await);
    assert_eq!(b.host.state().stored.len(), 1, "exactly one delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_lost_before_logging_is_recovered_by_resending_the_same_offer() {
    let (a, b, _) = pair(TransportConfig::default());
    let data = payload(200_000);
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, data.len()), BoundedVec::empty()).expect("seals");
    let offer = packet.offer().clone();
    // The sender crashes after the recipient stored and receipted, before logging the receipt.
    a.host.fail_logs.store(1, Ordering::SeqCst);
    assert!(matches!(a.endpoint.send(packet, &data[..]).await, Err(TransportError::Host(_))));
    assert!(a.host.state().log.is_empty());
    let (_, first) = b.host.state().stored.values().next().cloned().expect("stored once");
    let again = delivered(a.endpoint.resend(&b.id, offer).await);
    assert_eq!(again, first, "the same receipt, not a second delivery");
    assert_eq!(b.host.state().stored.len(), 1);
    assert_eq!(a.host.state().log, vec![first]);
}

fn pull_request(key: &tally_envelope::IdentityKey, query: &[u8]) -> Signed<PullRequest> {
    key.sign_object(PullRequest {
        request_id: RequestId([5; 16]),
        requester: agency("social-security"),
        responder: agency("tax-bureau"),
        grant: GrantId([7; 32]),
        purpose: purpose(),
        category: category(),
        query: BoundedBytes::new(query.to_vec()).expect("short"),
        created_at: Timestamp::from_secs(1_800_000_000),
    })
    .expect("signs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_answered_by_several_packets() {
    let (a, b, _) = pair(TransportConfig::default());
    let answer = vec![payload(10), payload(0), payload(300_000)];
    a.host.state().pull_answer = answer.clone();
    let request = pull_request(&b.host.identity, b"year=2025");
    let received = match b.endpoint.request(&a.id, request, BoundedVec::empty()).await {
        Ok(RequesterOutcome::Answered(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(received.len(), 3);
    let stored = b.host.state().stored.clone();
    for (outcome, data) in received.iter().zip(&answer) {
        let ReceiverOutcome::Received(receipt) = outcome else { panic!("{outcome:?}") };
        let (bytes, _) = &stored[&receipt_of(receipt).packet_id];
        assert_eq!(bytes, data);
        assert_eq!(receipt_of(receipt).sender, a.id);
    }
    assert_eq!(a.host.state().log.len(), 3, "the responder logged each receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pull_request_is_logged_by_both_sides() {
    let (a, b, _) = pair(TransportConfig::default());
    *a.host.policy.lock().expect("not poisoned") = Policy::Deny(ReasonCode::DIRECTION_NOT_GRANTED);
    let request = pull_request(&b.host.identity, b"");
    let refusal = match b.endpoint.request(&a.id, request, BoundedVec::empty()).await {
        Ok(RequesterOutcome::Refused(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(receipt_of(&refusal).outcome, Outcome::Rejected { reason: ReasonCode::DIRECTION_NOT_GRANTED });
    assert_eq!(a.host.state().log, vec![refusal.clone()]);
    assert_eq!(b.host.state().log, vec![refusal]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_exchanges_in_flight_and_refuses_new_ones() {
    let config = TransportConfig { connect_timeout: Duration::from_secs(2), ..TransportConfig::default() };
    let (a, b, _) = pair(config);
    let data = payload(8 << 20);
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, data.len()), BoundedVec::empty()).expect("seals");
    let endpoint = a.endpoint.clone();
    let sending = tokio::spawn(async move { endpoint.send(packet, &data[..]).await });
    eventually("the exchange is in flight", || b.endpoint.exchanges_in_flight() > 0 || b.host.state().written > 0)
        .await;
    b.endpoint.shutdown(Duration::from_secs(20)).await;
    delivered(sending.await.expect("joins"));
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    let refused = a.endpoint.send(packet, &payload(10)[..]).await;
    assert!(
        matches!(refused, Err(TransportError::Connection { .. })),
        "a closed endpoint takes no exchange: {refused:?}"
    );
}

/// A UDP socket on loopback that never answers: a listed endpoint whose
/// replica is down. [`datagrams`] counts what was sent to it.
fn silent() -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("binds");
    socket.set_nonblocking(true).expect("non-blocking");
    socket
}

/// The datagrams that arrived at `socket` since the last call.
fn datagrams(socket: &std::net::UdpSocket) -> usize {
    let mut buf = [0; 2048];
    std::iter::from_fn(|| socket.recv(&mut buf).ok()).count()
}

/// Lists `b` at `list` in a directory of serial `serial`.
fn relist(roster: &tally_transport::Roster, a: &common::Node, b: &common::Node, serial: u64, list: &[&str]) {
    let mut record = roster.record(&b.id).expect("listed");
    record.endpoints = common::endpoints(list);
    assert!(roster.update(&directory(serial, vec![roster.record(&a.id).expect("listed"), record])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_tries_an_agencys_endpoints_in_turn_and_remembers_the_one_that_answered() {
    // Long enough for a debug build's handshake on a loaded machine; each dead endpoint costs it once.
    let config = TransportConfig { connect_timeout: Duration::from_secs(3), ..TransportConfig::default() };
    let (a, b, roster) = pair(config);
    let down = silent();
    let down_addr = down.local_addr().expect("bound").to_string();
    let up_addr = b.endpoint.local_addr().expect("bound").to_string();
    relist(&roster, &a, &b, 3, &[&down_addr, &up_addr]);

    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    delivered(a.endpoint.send(packet, &payload(10)[..]).await);
    assert!(datagrams(&down) > 0, "the first listed endpoint was tried first");
    assert_eq!(a.endpoint.last_reached(&b.id).map(|e| e.to_string()), Some(up_addr));

    // A new connection (the first one closed) goes to the endpoint that answered.
    a.endpoint.connect(&b.id).await.expect("connected").close(0u32.into(), b"test");
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    delivered(a.endpoint.send(packet, &payload(10)[..]).await);
    assert_eq!(datagrams(&down), 0, "the endpoint that did not answer was not tried again");
    assert_eq!(b.host.state().stored.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_to_an_agency_that_does_not_answer_holds_up_no_exchange_with_another() {
    let config = TransportConfig { connect_timeout: Duration::from_secs(60), ..TransportConfig::default() };
    let (a, b, roster) = pair(config);
    let down = silent();
    let silent_agency = Member::new("municipality-7");
    let records = vec![
        roster.record(&a.id).expect("listed"),
        roster.record(&b.id).expect("listed"),
        silent_agency.record(&down.local_addr().expect("bound").to_string()),
    ];
    assert!(roster.update(&directory(3, records)));
    let packet = a.endpoint.seal(&silent_agency.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    let endpoint = a.endpoint.clone();
    let stuck = tokio::spawn(async move { endpoint.send(packet, &payload(10)[..]).await });
    eventually("the dial to the silent agency has begun", || datagrams(&down) > 0).await;
    let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
    delivered(a.endpoint.send(packet, &payload(10)[..]).await);
    assert!(!stuck.is_finished(), "the other dial is still waiting for its handshake");
    stuck.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_replica_that_answered_is_gone_the_sender_fails_over_to_another() {
    let config = TransportConfig { connect_timeout: Duration::from_secs(3), ..TransportConfig::default() };
    let (a, b, roster) = pair(config);
    let spare = silent();
    let spare_addr = spare.local_addr().expect("bound").to_string();
    let first_addr = b.endpoint.local_addr().expect("bound").to_string();
    relist(&roster, &a, &b, 3, &[&first_addr, &spare_addr]);
    let send = async |a: &common::Node| {
        let packet = a.endpoint.seal(&b.id, push_spec(&a.id, 10), BoundedVec::empty()).expect("seals");
        a.endpoint.send(packet, &payload(10)[..]).await
    };
    delivered(send(&a).await);
    assert_eq!(a.endpoint.last_reached(&b.id).map(|e| e.to_string()), Some(first_addr.clone()));

    // The first replica stops; a second, with the same keys, starts at the spare endpoint.
    let connection = a.endpoint.connect(&b.id).await.expect("connected");
    b.endpoint.shutdown(Duration::from_secs(1)).await;
    connection.closed().await;
    drop(spare);
    let replica = common::bind_at(b.member.twin(), &roster, config, &spare_addr);
    delivered(send(&a).await);
    assert_eq!(replica.host.state().stored.len(), 1, "the second replica took the packet");
    assert_eq!(a.endpoint.last_reached(&b.id).map(|e| e.to_string()), Some(spare_addr.clone()));

    // With both down, the error says what each endpoint did, in the order tried.
    let connection = a.endpoint.connect(&b.id).await.expect("connected");
    replica.endpoint.shutdown(Duration::from_secs(1)).await;
    connection.closed().await;
    match send(&a).await {
        Err(e @ TransportError::Unreachable { .. }) => {
            let said = e.to_string();
            let TransportError::Unreachable { agency, attempts } = e else { unreachable!() };
            assert_eq!(agency, b.id);
            let tried: Vec<_> = attempts.iter().map(|(e, _)| e.to_string()).collect();
            assert_eq!(tried, [spare_addr.clone(), first_addr.clone()], "the last that answered first");
            let expected = format!("cannot reach social-security at any of its endpoints: {spare_addr}: ");
            assert!(said.starts_with(&expected) && said.contains(&format!("; {first_addr}: ")), "{said}");
            assert_eq!(said.matches("social-security").count(), 1, "the agency named once: {said}");
        }
        other => panic!("both replicas are down: {other:?}"),
    }
}
