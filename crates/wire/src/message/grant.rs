//! Grants, their quotas, and revocations (spec/grants.md).

use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedVec, Text};
use crate::bytes::GrantId;
use crate::codepoint::{RevocationReason, SuiteLevel};
use crate::label::{GRANT, REVOCATION, SignatureLabel};
use crate::limits;
use crate::name::{AgencyId, DataCategory, Purpose};
use crate::signed::{Body, Signed, SignedBody};
use crate::time::Timestamp;

/// A usage grant: the data's controller (or a delegate) permits a grantee
/// to receive data for named purposes, within limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The agency granting: the data's controller, or for a delegated grant the parent's grantee.
    pub issuer: AgencyId,
    /// The agency that may receive.
    pub grantee: AgencyId,
    /// The agencies that may send under the grant; empty means the issuer only.
    pub senders: BoundedVec<AgencyId, { limits::MAX_GRANT_SENDERS }>,
    /// The purposes permitted; each covers its sub-purposes. Never empty in a valid grant.
    pub purposes: BoundedVec<Purpose, { limits::MAX_GRANT_PURPOSES }>,
    /// The data categories permitted; each covers its sub-categories. Never empty in a valid grant.
    pub categories: BoundedVec<DataCategory, { limits::MAX_GRANT_CATEGORIES }>,
    /// The first instant the grant is valid (inclusive).
    pub not_before: Timestamp,
    /// The first instant the grant is no longer valid (exclusive).
    pub not_after: Timestamp,
    /// How much may flow under the grant.
    pub quota: Quota,
    /// How long the recipient may keep data received under the grant, in seconds.
    pub retention_secs: u64,
    /// Whether revoking the grant obliges the recipient to erase what it received.
    pub erase_on_revoke: bool,
    /// Which way data may flow.
    pub direction: Direction,
    /// The least suite level a packet under the grant must be sealed with:
    /// [`SuiteLevel::POST_QUANTUM`] requires X-Wing (spec/grants.md).
    pub min_suite_level: SuiteLevel,
    /// How many further levels of delegation the grantee may create; 0 forbids delegation.
    pub delegation_depth: u8,
    /// The grant this one was delegated from; `None` for a root grant.
    pub parent: Option<GrantId>,
    /// The legal basis, as a reference into the law or an agreement.
    pub legal_basis: Text<{ limits::MAX_LEGAL_BASIS_LEN }>,
    /// A note for people.
    pub note: Text<{ limits::MAX_NOTE_LEN }>,
    /// When the grant was issued.
    pub issued_at: Timestamp,
}

impl Body for Grant {
    const NAME: &'static str = "Grant";
    const MAX_SIZE: usize = limits::MAX_GRANT_SIZE;
}

impl SignedBody for Grant {
    const LABEL: SignatureLabel = GRANT;
}

/// A chain of signed grants, leaf first, then each parent up to the root.
pub type GrantChain = BoundedVec<Signed<Grant>, { limits::MAX_GRANT_CHAIN_DEPTH }>;

/// Decodes a standalone grant chain (`list<Signed<Grant>>`, spec/wire.md), as stored in files.
pub fn decode_grant_chain(bytes: &[u8]) -> Result<GrantChain, crate::Error> {
    let context = crate::Context::Object("GrantChain");
    if bytes.len() > limits::MAX_GRANT_CHAIN_SIZE {
        return Err(crate::Error::OverLimit { context, len: bytes.len() as u64, limit: limits::MAX_GRANT_CHAIN_SIZE });
    }
    crate::codec::decode_exact(bytes, context)
}

/// Encodes a standalone grant chain.
pub fn encode_grant_chain(chain: &GrantChain) -> Vec<u8> {
    let mut out = Vec::new();
    crate::codec::encode(chain, &mut out);
    out
}

/// How much may flow under a grant; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Most packets in total.
    pub max_packets: Option<u64>,
    /// Most payload bytes in total.
    pub max_bytes: Option<u64>,
    /// Most packets per period.
    pub rate: Option<Rate>,
}

/// A rate limit: at most `packets` packets in any window of `period_secs` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Packets per period.
    pub packets: u32,
    /// The period, in seconds.
    pub period_secs: u32,
}

/// Which way data may flow under a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The issuer's side sends to the grantee unasked (wire value 0).
    Push,
    /// The grantee requests, a permitted sender answers (wire value 1).
    Pull,
    /// Both (wire value 2).
    Both,
}

/// A revocation of a grant, and with it of every grant delegated from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The agency revoking: the issuer of the grant or of one of its ancestors.
    pub issuer: AgencyId,
    /// The grant revoked.
    pub grant: GrantId,
    /// From when the grant no longer permits anything.
    pub effective_at: Timestamp,
    /// Why.
    pub reason: RevocationReason,
    /// Whether data received under the grant must be erased.
    pub erase: bool,
    /// When the revocation was issued.
    pub issued_at: Timestamp,
}

impl Body for Revocation {
    const NAME: &'static str = "Revocation";
    const MAX_SIZE: usize = limits::MAX_REVOCATION_SIZE;
}

impl SignedBody for Revocation {
    const LABEL: SignatureLabel = REVOCATION;
}
