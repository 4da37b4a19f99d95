//! The host side of each role: answers the state machines' requests with
//! the [`Host`], the payload source and the directory.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use tally_envelope::Sealer;
use tally_protocol::{
    Answerer, AnswererRequest, AnswererResponse, Asker, Receiver, ReceiverRequest, ReceiverResponse, Requester,
    Responder, ResponderRequest, ResponderResponse, Sender, SenderRequest, SenderResponse,
};
use tally_wire::{AgencyId, CloseCode, Direction};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::drive::{Serve, now};
use crate::error::TransportError;
use crate::host::{Host, Inbox, OfferContext, OfferDecision, Outgoing, Refusal};
use crate::inner::{Inner, bundle_verifier, kem_certificate};

/// The asker of a notice or fetch has no host requests.
pub(crate) struct AskServe;

impl Serve<Asker> for AskServe {
    async fn serve(
        &mut self,
        request: std::convert::Infallible,
    ) -> Result<Option<std::convert::Infallible>, TransportError> {
        match request {}
    }
}

/// The answerer of a notice or fetch: the host keeps the notice, or gives the fetch's answer as a reader.
pub(crate) struct AnswerServe<'a, H> {
    pub(crate) host: &'a H,
    pub(crate) peer: AgencyId,
    pub(crate) answer: Option<Box<dyn AsyncRead + Send + Unpin>>,
}

/// The most bytes of a fetch's answer in one part.
const PART_SIZE: usize = 64 * 1024;

impl<H: Host> AnswerServe<'_, H> {
    async fn next_part(&mut self) -> Result<AnswererResponse, TransportError> {
        let Some(answer) = self.answer.as_mut() else { return Ok(AnswererResponse::End) };
        let mut buf = Vec::with_capacity(PART_SIZE);
        answer.take(PART_SIZE as u64).read_to_end(&mut buf).await.map_err(TransportError::Host)?;
        Ok(if buf.is_empty() { AnswererResponse::End } else { AnswererResponse::Part(buf) })
    }
}

impl<H: Host> Serve<Answerer> for AnswerServe<'_, H> {
    async fn serve(&mut self, request: AnswererRequest) -> Result<Option<AnswererResponse>, TransportError> {
        Ok(Some(match request {
            AnswererRequest::Keep(notice) => match self.host.keep_notice(&self.peer, notice).await {
                Ok(()) => AnswererResponse::Kept,
                Err((code, reason)) => AnswererResponse::Refuse(code, reason),
            },
            AnswererRequest::Fetch(fetch) => match self.host.answer_fetch(&self.peer, fetch).await {
                Ok(reader) => {
                    self.answer = Some(reader);
                    self.next_part().await?
                }
                Err((code, reason)) => AnswererResponse::Refuse(code, reason),
            },
            AnswererRequest::NextPart => self.next_part().await?,
        }))
    }
}

/// Reads exactly `len` bytes of plaintext; a source that ends early is an error.
async fn read_chunk(
    payload: &mut (impl AsyncRead + Unpin + Send + ?Sized),
    len: usize,
) -> Result<Vec<u8>, TransportError> {
    // Room for the AEAD tag the sealer appends in place.
    let mut buf = Vec::with_capacity(len + 16);
    buf.resize(len, 0);
    payload.read_exact(&mut buf).await.map_err(|e| {
        TransportError::Host(match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::UnexpectedEof, "the payload is shorter than the packet declares")
            }
            _ => e,
        })
    })?;
    Ok(buf)
}

/// A push sender: payload chunks from the source, receipts to the log.
pub(crate) struct SendServe<'a, R: ?Sized, H> {
    pub(crate) payload: &'a mut R,
    pub(crate) host: &'a H,
}

impl<R: AsyncRead + Unpin + Send + ?Sized, H: Host> Serve<Sender> for SendServe<'_, R, H> {
    async fn serve(&mut self, request: SenderRequest) -> Result<Option<SenderResponse>, TransportError> {
        Ok(Some(match request {
            SenderRequest::NextChunk { len } => SenderResponse::Chunk(read_chunk(self.payload, len).await?),
            SenderRequest::Log { bundle, sealed } => {
                self.host.log_receipt(&bundle, sealed.map(|s| *s)).await.map_err(TransportError::Host)?;
                SenderResponse::Logged
            }
        }))
    }
}

/// A receiving side (push recipient, or pull requester): policy and inbox.
pub(crate) struct ReceiveServe<'a, H: Host> {
    host: &'a H,
    peer: AgencyId,
    direction: Direction,
    inbox: Option<H::Inbox>,
}

impl<'a, H: Host> ReceiveServe<'a, H> {
    pub(crate) fn new(host: &'a H, peer: AgencyId, direction: Direction) -> Self {
        Self { host, peer, direction, inbox: None }
    }

    async fn answer(&mut self, request: ReceiverRequest) -> Result<Option<ReceiverResponse>, TransportError> {
        Ok(match request {
            ReceiverRequest::Decide { header, header_digest, grant_chain } => {
                let context = OfferContext {
                    peer: &self.peer,
                    header: &header,
                    header_digest,
                    grant_chain: &grant_chain,
                    direction: self.direction,
                };
                Some(match self.host.decide_offer(context).await {
                    OfferDecision::AlreadyReceipted(receipt) => ReceiverResponse::AlreadyReceipted(receipt),
                    OfferDecision::Deny(reason) => ReceiverResponse::Deny(reason),
                    OfferDecision::Close(code) => ReceiverResponse::Close(code),
                    OfferDecision::Accept { kem_key, sender_key, inbox } => {
                        self.inbox = Some(inbox);
                        ReceiverResponse::Accept { kem_key, sender_key }
                    }
                })
            }
            ReceiverRequest::Store { plaintext } => {
                let inbox = self.inbox.as_mut().ok_or(TransportError::Host(no_inbox()))?;
                inbox.write(&plaintext).await.map_err(TransportError::Host)?;
                None
            }
            ReceiverRequest::Commit { receipt, evidence, commitment_key } => {
                let inbox = self.inbox.take().ok_or(TransportError::Host(no_inbox()))?;
                Some(match inbox.commit(receipt, evidence, commitment_key).await {
                    Ok(signed) => ReceiverResponse::Stored(signed),
                    Err(_) => ReceiverResponse::StoreFailed,
                })
            }
            ReceiverRequest::Discard => {
                if let Some(inbox) = self.inbox.take() {
                    inbox.discard().await;
                }
                None
            }
            ReceiverRequest::Reject { receipt } => Some(match self.host.sign_rejection(receipt).await {
                Ok(Some(signed)) => ReceiverResponse::Rejected(signed),
                Ok(None) => ReceiverResponse::Close(CloseCode::TOO_MANY_REFUSALS),
                Err(e) => return Err(TransportError::Host(e)),
            }),
        })
    }
}

fn no_inbox() -> io::Error {
    io::Error::other("plaintext arrived for a packet the host did not accept")
}

impl<H: Host> Serve<Receiver> for ReceiveServe<'_, H> {
    async fn serve(&mut self, request: ReceiverRequest) -> Result<Option<ReceiverResponse>, TransportError> {
        self.answer(request).await
    }
}

impl<H: Host> Serve<Requester> for ReceiveServe<'_, H> {
    async fn serve(&mut self, request: ReceiverRequest) -> Result<Option<ReceiverResponse>, TransportError> {
        self.answer(request).await
    }
}

impl<H: Host> Drop for ReceiveServe<'_, H> {
    fn drop(&mut self) {
        // An exchange cut off mid-packet: the inbox's plaintext is dropped
        // with it (unverified, never committed).
        if let Some(inbox) = self.inbox.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(inbox.discard());
        }
    }
}

/// A pull responder: the host's answer packets, sealed to the requester one by one.
pub(crate) struct RespondServe<'a, H> {
    inner: &'a Arc<Inner<H>>,
    peer: AgencyId,
    queue: VecDeque<Outgoing>,
    current: Option<Box<dyn AsyncRead + Send + Unpin>>,
}

impl<'a, H: Host> RespondServe<'a, H> {
    pub(crate) fn new(inner: &'a Arc<Inner<H>>, peer: AgencyId) -> Self {
        Self { inner, peer, queue: VecDeque::new(), current: None }
    }

    fn next_sender(&mut self) -> Result<ResponderResponse, TransportError> {
        let Some(outgoing) = self.queue.pop_front() else { return Ok(ResponderResponse::End) };
        let cert = kem_certificate(&self.inner.roster, &self.peer, outgoing.spec.suite)?;
        let requester = bundle_verifier(self.inner, &self.peer)?;
        let (sealer, offer) = Sealer::new(&cert, outgoing.spec, outgoing.grant_chain)?;
        self.current = Some(outgoing.payload);
        let sender =
            Sender::new(sealer, offer, Arc::clone(&self.inner.identity), requester, self.inner.config.exchange, now());
        Ok(ResponderResponse::Send(Box::new(sender)))
    }
}

impl<H: Host> Serve<Responder> for RespondServe<'_, H> {
    async fn serve(&mut self, request: ResponderRequest) -> Result<Option<ResponderResponse>, TransportError> {
        let host = &*self.inner.host;
        Ok(Some(match request {
            ResponderRequest::Decide { request, grant_chain } => {
                match host.answer_request(&self.peer, &request, &grant_chain).await {
                    Ok(packets) => {
                        self.queue = packets.into();
                        ResponderResponse::Serve
                    }
                    Err(Refusal::Signed(reason)) => ResponderResponse::Deny(reason),
                    Err(Refusal::Unsigned(code)) => ResponderResponse::Close(code),
                }
            }
            ResponderRequest::Reject { receipt } => match host.sign_rejection(receipt).await {
                Ok(Some(signed)) => ResponderResponse::Rejected(signed),
                Ok(None) => ResponderResponse::Close(CloseCode::TOO_MANY_REFUSALS),
                Err(e) => return Err(TransportError::Host(e)),
            },
            ResponderRequest::NextPacket => self.next_sender()?,
            ResponderRequest::Packet(SenderRequest::NextChunk { len }) => {
                let payload =
                    self.current.as_mut().ok_or_else(|| TransportError::Host(io::Error::other("no payload")))?;
                ResponderResponse::Packet(SenderResponse::Chunk(read_chunk(payload, len).await?))
            }
            ResponderRequest::Packet(SenderRequest::Log { bundle, sealed }) => {
                host.log_receipt(&bundle, sealed.map(|s| *s)).await.map_err(TransportError::Host)?;
                ResponderResponse::Packet(SenderResponse::Logged)
            }
        }))
    }
}
