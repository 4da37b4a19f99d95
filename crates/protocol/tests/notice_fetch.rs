//! Notices and fetches: an asker and an answerer connected in memory, every
//! frame crossing as bytes, with a test host and a simulated clock.

mod clock;

use std::time::Duration;

use proptest::prelude::*;
use tally_protocol::{
    Answerer, AnswererOutcome, AnswererRequest, AnswererResponse, Asker, Config, Exchange, ExchangeError,
};
use tally_wire::{AgencyId, CloseCode, Fetch, Frame, Notice, Revocation, RevocationReason, Signed};

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> tally_protocol::Now {
    clock::at(T0 + secs)
}

fn revocation() -> Signed<Revocation> {
    let r = Revocation {
        issuer: AgencyId::new("tax-bureau").expect("valid"),
        grant: tally_wire::GrantId([7; 32]),
        effective_at: at(0).wall,
        reason: RevocationReason::PURPOSE_ENDED,
        erase: true,
        issued_at: at(0).wall,
    };
    tally_envelope::IdentityKey::from_seed(&[1; 32]).sign_object(r).expect("signs")
}

/// The test host: keeps notices (or refuses them) and answers a fetch with `answer` in parts of `part` bytes.
struct TestHost {
    refuse: Option<(CloseCode, String)>,
    answer: Vec<u8>,
    part: usize,
    sent: usize,
    kept: Vec<Notice>,
}

impl TestHost {
    fn new(answer: Vec<u8>, part: usize) -> Self {
        Self { refuse: None, answer, part, sent: 0, kept: Vec::new() }
    }

    fn next_part(&mut self) -> AnswererResponse {
        if self.sent == self.answer.len() {
            return AnswererResponse::End;
        }
        let end = (self.sent + self.part).min(self.answer.len());
        let bytes = self.answer[self.sent..end].to_vec();
        self.sent = end;
        AnswererResponse::Part(bytes)
    }

    fn serve(&mut self, request: AnswererRequest) -> AnswererResponse {
        if let Some((code, reason)) = &self.refuse {
            return AnswererResponse::Refuse(*code, reason.clone());
        }
        match request {
            AnswererRequest::Keep(notice) => {
                self.kept.push(notice);
                AnswererResponse::Kept
            }
            AnswererRequest::Fetch(_) | AnswererRequest::NextPart => self.next_part(),
        }
    }
}

/// Moves frames (as bytes) both ways and serves the answerer's host until both sides end.
fn run(
    asker: &mut Asker,
    answerer: &mut Answerer,
    host: &mut TestHost,
) -> (Result<Vec<u8>, ExchangeError>, AnswererOutcome) {
    let now = at(1);
    let (mut asked, mut answered) = (None, None);
    for _ in 0..10_000 {
        while let Some(f) = asker.poll_transmit() {
            let bytes = f.encode().expect("encodes");
            answerer.handle_frame(Frame::decode(&bytes).expect("decodes"), now);
        }
        while let Some(r) = answerer.poll_request() {
            answerer.handle_host(host.serve(r), now);
        }
        while let Some(f) = answerer.poll_transmit() {
            let bytes = f.encode().expect("encodes");
            asker.handle_frame(Frame::decode(&bytes).expect("decodes"), now);
        }
        asked = asked.or_else(|| asker.poll_outcome());
        answered = answered.or_else(|| answerer.poll_outcome());
        if let (Some(a), Some(b)) = (&asked, &answered) {
            return (a.clone(), b.clone().expect("the answerer ends well"));
        }
    }
    panic!("the exchange did not end");
}

fn config() -> Config {
    Config { idle_timeout: Duration::from_secs(30) }
}

#[test]
fn a_notice_is_kept_and_the_asker_hears_so() {
    let mut host = TestHost::new(Vec::new(), 1);
    let mut asker = Asker::notice(Notice::Revocation(revocation()), config(), at(0));
    let mut answerer = Answerer::new(AgencyId::new("tax-bureau").expect("valid"), config(), at(0));
    let (asked, answered) = run(&mut asker, &mut answerer, &mut host);
    assert_eq!(asked, Ok(Vec::new()));
    assert_eq!(answered, AnswererOutcome::Answered);
    assert_eq!(host.kept, vec![Notice::Revocation(revocation())], "the host got the notice as sent");
}

#[test]
fn a_refused_notice_ends_with_the_hosts_code_and_reason() {
    let mut host = TestHost::new(Vec::new(), 1);
    host.refuse = Some((CloseCode::VERIFICATION_FAILED, "the revocation does not verify".into()));
    let mut asker = Asker::notice(Notice::Revocation(revocation()), config(), at(0));
    let mut answerer = Answerer::new(AgencyId::new("tax-bureau").expect("valid"), config(), at(0));
    let (asked, answered) = run(&mut asker, &mut answerer, &mut host);
    assert_eq!(
        asked,
        Err(ExchangeError::ClosedByPeer {
            code: CloseCode::VERIFICATION_FAILED,
            reason: "the revocation does not verify".into()
        })
    );
    assert_eq!(answered, AnswererOutcome::Refused(CloseCode::VERIFICATION_FAILED));
}

#[test]
fn an_answer_over_the_askers_limit_ends_the_fetch() {
    let mut host = TestHost::new(vec![7; 100], 30);
    let mut asker = Asker::fetch(Fetch::Checkpoint, 99, config(), at(0));
    let mut answerer = Answerer::new(AgencyId::new("audit-office").expect("valid"), config(), at(0));
    for _ in 0..10 {
        while let Some(f) = asker.poll_transmit() {
            answerer.handle_frame(f, at(1));
        }
        while let Some(r) = answerer.poll_request() {
            answerer.handle_host(host.serve(r), at(1));
        }
        while let Some(f) = answerer.poll_transmit() {
            asker.handle_frame(f, at(1));
        }
    }
    assert_eq!(asker.poll_transmit().map(|f| f.frame_type()), None, "the close was sent");
    assert_eq!(asker.poll_outcome(), Some(Err(ExchangeError::AnswerTooLarge { limit: 99 })));
}

#[test]
fn a_silent_answerer_times_the_asker_out_and_a_silent_asker_the_answerer() {
    let mut asker = Asker::fetch(Fetch::Directory { newer_than: 0 }, 1 << 20, config(), at(0));
    assert!(asker.poll_transmit().is_some());
    assert_eq!(asker.poll_timeout(), Some(at(30).instant));
    asker.handle_timeout(at(29).instant);
    assert!(asker.poll_outcome().is_none(), "not before the deadline");
    asker.handle_timeout(at(30).instant);
    let close = asker.poll_transmit().expect("a close");
    assert!(matches!(close, Frame::Close(c) if c.code == CloseCode::TIMEOUT));
    assert_eq!(asker.poll_outcome(), Some(Err(ExchangeError::Timeout)));

    let mut answerer = Answerer::new(AgencyId::new("tax-bureau").expect("valid"), config(), at(0));
    answerer.handle_timeout(at(30).instant);
    assert!(matches!(answerer.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::TIMEOUT));
    assert_eq!(answerer.poll_outcome(), Some(Err(ExchangeError::Timeout)));
}

#[test]
fn frames_out_of_place_are_closed_as_unexpected() {
    // A part sent to an answerer, or to an asker of a notice.
    let mut answerer = Answerer::new(AgencyId::new("tax-bureau").expect("valid"), config(), at(0));
    answerer.handle_frame(Frame::Part(b"x".as_slice().into()), at(1));
    assert!(matches!(answerer.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME));
    assert!(matches!(answerer.poll_outcome(), Some(Err(ExchangeError::UnexpectedFrame { .. }))));

    let mut asker = Asker::notice(Notice::Revocation(revocation()), config(), at(0));
    let _notice = asker.poll_transmit();
    asker.handle_frame(Frame::Part(b"x".as_slice().into()), at(1));
    assert!(matches!(asker.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME));
    assert!(matches!(asker.poll_outcome(), Some(Err(ExchangeError::UnexpectedFrame { .. }))));
}

proptest! {
    /// Property: whatever the answer's length and the host's part size, the
    /// asker ends with exactly the answer's bytes, in order.
    #[test]
    fn a_fetch_delivers_exactly_the_answer(answer in prop::collection::vec(any::<u8>(), 0..5000), part in 1usize..700) {
        let mut host = TestHost::new(answer.clone(), part);
        let mut asker = Asker::fetch(Fetch::Checkpoint, answer.len() as u64, config(), at(0));
        let mut answerer = Answerer::new(AgencyId::new("audit-office").expect("valid"), config(), at(0));
        let (asked, answered) = run(&mut asker, &mut answerer, &mut host);
        prop_assert_eq!(asked, Ok(answer));
        prop_assert_eq!(answered, AnswererOutcome::Answered);
    }
}

/// Both sides run through the common [`Exchange`] trait the transport drives.
#[test]
fn both_sides_are_exchanges() {
    fn deadline<E: Exchange>(e: &E) -> Option<std::time::Instant> {
        e.poll_timeout()
    }
    let asker = Asker::fetch(Fetch::Checkpoint, 1, config(), at(0));
    let answerer = Answerer::new(AgencyId::new("audit-office").expect("valid"), config(), at(0));
    assert_eq!((deadline(&asker), deadline(&answerer)), (Some(at(30).instant), Some(at(30).instant)));
}
