//! Grants and revocations (`/v1/grants`): issued, shown, listed, revoked, kept.

use serde::{Deserialize, Serialize};
use tally_grant::GrantDocument;
use tally_wire::{AgencyId, DataCategory, GrantId, Purpose, RevocationReason};

/// `POST /v1/grants`: a grant to issue (or delegate, with `parent`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantIssue {
    /// What it grants.
    pub document: GrantDocument,
}

/// Whether one agency a grant or revocation concerns now holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The agency.
    pub agency: AgencyId,
    /// `None` once it has kept it; otherwise why it could not be handed over.
    pub error: Option<String>,
}

/// A grant issued: its id, its file, and who has it now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantIssued {
    /// The grant's id.
    pub grant: GrantId,
    /// The grant file (its chain's encoding), hex.
    pub file: String,
    /// Whether each agency it names received it over the transport.
    pub delivered: Vec<Delivery>,
}

/// `POST /v1/grants/show`: a grant file, verified against the node's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantShown {
    /// The leaf grant's id.
    pub grant: GrantId,
    /// Grants in the chain.
    pub chain_depth: usize,
    /// `verified: …`, or `DOES NOT VERIFY: …` and why.
    pub verdict: String,
    /// Whether every signature and link checks against the directory.
    pub verified: bool,
    /// The leaf grant as a grant document.
    pub document: GrantDocument,
    /// Its state now, with the revocations and usage this node holds.
    #[serde(flatten)]
    pub status: GrantStatus,
}

/// A grant's state now, as this node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantState {
    /// It permits flows now.
    Active,
    /// A grant of its chain is not valid yet.
    NotYetValid,
    /// A grant of its chain has expired.
    Expired,
    /// A grant of its chain is revoked (see `revocation`).
    Revoked,
    /// A quota of a grant of its chain is used up.
    QuotaExhausted,
}

impl GrantState {
    /// Its name (`not-yet-valid`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NotYetValid => "not yet valid",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::QuotaExhausted => "quota exhausted",
        }
    }
}

/// A revocation of a grant of a chain, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationShown {
    /// The grant revoked (the leaf, or an ancestor).
    pub grant: GrantId,
    /// Who revoked it.
    pub by: AgencyId,
    /// From when (RFC 3339).
    pub effective_at: String,
    /// Why (`purpose-ended`).
    pub reason: String,
    /// Whether what was received under it must be erased.
    pub erase: bool,
    /// `true` while it is not in effect yet.
    pub pending: bool,
}

/// The usage of a grant against its quotas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageShown {
    /// Packets counted so far.
    pub packets: u64,
    /// The packet quota (`None`: no limit).
    pub max_packets: Option<u64>,
    /// Payload bytes counted so far.
    pub bytes: u64,
    /// The byte quota (`None`: no limit).
    pub max_bytes: Option<u64>,
}

/// A grant's state, its revocation and its usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantStatus {
    /// Its state now.
    pub state: GrantState,
    /// Its revocation (or an ancestor's), if this node holds one.
    pub revocation: Option<RevocationShown>,
    /// The leaf's usage against its quotas.
    pub usage: UsageShown,
}

/// A grant chain kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantKept {
    /// The leaf grant's id.
    pub grant: GrantId,
}

/// A grant this node holds, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantSummary {
    /// The leaf's id.
    pub grant: GrantId,
    /// Who issued it.
    pub issuer: AgencyId,
    /// To whom.
    pub grantee: AgencyId,
    /// For which purposes.
    pub purposes: Vec<Purpose>,
    /// Which categories.
    pub categories: Vec<DataCategory>,
    /// From when (RFC 3339).
    pub not_before: String,
    /// Until when (RFC 3339).
    pub not_after: String,
    /// Grants in its chain.
    pub depth: usize,
    /// Its state now, with its revocation and usage.
    #[serde(flatten)]
    pub status: GrantStatus,
}

/// Why a grant is revoked (spec/grants.md, "Revocation").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    /// No reason given.
    Unspecified,
    /// Replaced by another grant.
    Superseded,
    /// The purpose has ended.
    PurposeEnded,
    /// A key was compromised.
    KeyCompromise,
    /// A legal order.
    LegalOrder,
    /// A breach of the grant's terms.
    Breach,
}

impl RevokeReason {
    /// Every reason, for messages.
    pub const ALL: [Self; 6] =
        [Self::Unspecified, Self::Superseded, Self::PurposeEnded, Self::KeyCompromise, Self::LegalOrder, Self::Breach];

    /// Its name (`purpose-ended`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Superseded => "superseded",
            Self::PurposeEnded => "purpose-ended",
            Self::KeyCompromise => "key-compromise",
            Self::LegalOrder => "legal-order",
            Self::Breach => "breach",
        }
    }

    /// Its wire code.
    pub fn code(self) -> RevocationReason {
        match self {
            Self::Unspecified => RevocationReason::UNSPECIFIED,
            Self::Superseded => RevocationReason::SUPERSEDED,
            Self::PurposeEnded => RevocationReason::PURPOSE_ENDED,
            Self::KeyCompromise => RevocationReason::KEY_COMPROMISE,
            Self::LegalOrder => RevocationReason::LEGAL_ORDER,
            Self::Breach => RevocationReason::BREACH,
        }
    }
}

impl std::str::FromStr for RevokeReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
            format!("unknown revocation reason `{s}`: use {}", names.join(", "))
        })
    }
}

/// `POST /v1/grants/{grant}/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// Why.
    pub reason: RevokeReason,
    /// Whether the grantee must erase what it received under it.
    pub erase: bool,
    /// From when (RFC 3339); now if absent.
    pub effective_at: Option<String>,
}

/// A revocation signed: its file, and who has it now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Revoked {
    /// The revoked grant.
    pub grant: GrantId,
    /// The revocation file (its encoding), hex.
    pub file: String,
    /// Whether each agency concerned received it over the transport.
    pub delivered: Vec<Delivery>,
}

/// A revocation another agency issued, kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevocationKept {
    /// `false` if this node held it already.
    pub new: bool,
}
