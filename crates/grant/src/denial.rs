//! Why a flow is denied: one variant per failed check, with the values
//! involved (spec/grants.md, "The decision").

use std::fmt;

use tally_wire::{AgencyId, DataCategory, Direction, GrantId, Purpose, ReasonCode, SuiteId, SuiteLevel, Timestamp};

use crate::document::rfc3339;

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A suite level as grant documents write it: `classical`, `post-quantum`,
/// or `unknown(0x..)` for a level this version does not name.
pub fn level_name(level: SuiteLevel) -> String {
    match level {
        SuiteLevel::CLASSICAL => "classical".into(),
        SuiteLevel::POST_QUANTUM => "post-quantum".into(),
        other => other.to_string(),
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Push => "push",
        Direction::Pull => "pull",
        Direction::Both => "push and pull",
    }
}

/// A dimension in which a delegated grant may not be wider than its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The issuer is not the parent's grantee.
    Issuer,
    /// A purpose not covered by the parent's.
    Purposes,
    /// A category not covered by the parent's.
    Categories,
    /// Valid before the parent's not-before.
    NotBefore,
    /// Valid after the parent's not-after.
    NotAfter,
    /// More packets than the parent allows.
    MaxPackets,
    /// More bytes than the parent allows.
    MaxBytes,
    /// A looser rate than the parent's.
    Rate,
    /// A longer retention than the parent's.
    Retention,
    /// Not obliging erasure on revocation where the parent does.
    EraseOnRevoke,
    /// A direction the parent does not allow.
    Direction,
    /// A sender the parent does not permit.
    Senders,
    /// The parent does not allow delegation, or the depth does not shrink.
    DelegationDepth,
    /// A lower least suite level than the parent's.
    SuiteLevel,
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Issuer => "issuer",
            Self::Purposes => "purposes",
            Self::Categories => "categories",
            Self::NotBefore => "not_before",
            Self::NotAfter => "not_after",
            Self::MaxPackets => "quota.max_packets",
            Self::MaxBytes => "quota.max_bytes",
            Self::Rate => "quota.rate",
            Self::Retention => "retention",
            Self::EraseOnRevoke => "erase_on_revoke",
            Self::Direction => "direction",
            Self::Senders => "senders",
            Self::DelegationDepth => "delegation_depth",
            Self::SuiteLevel => "min_suite_level",
        })
    }
}

/// Which quota is used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaKind {
    /// `max_packets`.
    Packets,
    /// `max_bytes`.
    Bytes,
}

/// Why a proposed flow is denied. Every variant maps to a wire reason code
/// for the signed rejection ([`Denial::reason_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// No grant chain was given.
    #[error("no grant chain")]
    EmptyChain,
    /// The chain's leaf is not the grant the flow names.
    #[error("the chain's leaf is grant {got}, the flow names grant {expected}")]
    UnknownGrant {
        /// The grant named by the packet or request.
        expected: GrantId,
        /// The chain's leaf.
        got: GrantId,
    },
    /// The chain is longer than the limit.
    #[error("the chain has {depth} grants; at most {limit} are allowed")]
    ChainTooLong {
        /// Its length.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// A grant's parent is not the next grant in the chain (or the root claims a parent).
    #[error("grant {grant} does not link to the next grant in the chain")]
    BrokenChain {
        /// The grant whose link is wrong.
        grant: GrantId,
    },
    /// A grant's issuer has no identity key in the directory.
    #[error("grant {grant} is issued by {issuer}, which has no identity key in the directory")]
    UnknownIssuerKey {
        /// The grant.
        grant: GrantId,
        /// Its issuer.
        issuer: AgencyId,
    },
    /// A grant's signature does not verify under its issuer's key.
    #[error("grant {grant}: the signature does not verify under {issuer}'s identity key")]
    BadSignature {
        /// The grant.
        grant: GrantId,
        /// Its issuer.
        issuer: AgencyId,
    },
    /// A grant breaks a rule of its own (no purposes, empty validity window, ...).
    #[error("grant {grant} is malformed: {problem}")]
    MalformedGrant {
        /// The grant.
        grant: GrantId,
        /// What is wrong.
        problem: &'static str,
    },
    /// A delegated grant is wider than its parent in some dimension.
    #[error("delegated grant {grant} is wider than its parent in {dimension}")]
    WidenedDelegation {
        /// The delegated grant.
        grant: GrantId,
        /// The dimension.
        dimension: Dimension,
    },
    /// The root grant's issuer does not control a category: one the root
    /// names, or the flow's (a subcategory with a controller of its own).
    #[error("grant {grant}: {issuer} does not control category {category} ({})", match controller { Some(c) => format!("its controller is {c}"), None => "no registered category covers it".to_owned() })]
    NotController {
        /// The root grant.
        grant: GrantId,
        /// The category.
        category: DataCategory,
        /// The root's issuer.
        issuer: AgencyId,
        /// The category's controller in the directory, if it has one.
        controller: Option<AgencyId>,
    },
    /// A grant in the chain is revoked.
    #[error("grant {grant} is revoked as of {}", rfc3339(*at))]
    Revoked {
        /// The revoked grant.
        grant: GrantId,
        /// When the revocation took effect.
        at: Timestamp,
    },
    /// The flow is before a grant's not-before.
    #[error("grant {grant} is not valid before {} (the flow is at {})", rfc3339(*not_before), rfc3339(*at))]
    NotYetValid {
        /// The grant.
        grant: GrantId,
        /// Its not-before.
        not_before: Timestamp,
        /// The flow's time.
        at: Timestamp,
    },
    /// The flow is at or after a grant's not-after.
    #[error("grant {grant} expired at {} (the flow is at {})", rfc3339(*not_after), rfc3339(*at))]
    Expired {
        /// The grant.
        grant: GrantId,
        /// Its not-after.
        not_after: Timestamp,
        /// The flow's time.
        at: Timestamp,
    },
    /// The purpose is not in the directory's registry.
    #[error("purpose {purpose} is not registered in the directory")]
    UnregisteredPurpose {
        /// The purpose.
        purpose: Purpose,
    },
    /// The recipient is not the leaf grant's grantee.
    #[error("the recipient {got} is not the grantee {expected}")]
    WrongRecipient {
        /// The grantee.
        expected: AgencyId,
        /// The flow's recipient.
        got: AgencyId,
    },
    /// The sender may not send under the leaf grant.
    #[error("{sender} may not send under this grant (permitted: {})", list(permitted))]
    WrongSender {
        /// The flow's sender.
        sender: AgencyId,
        /// The permitted senders.
        permitted: Vec<AgencyId>,
    },
    /// The grant does not allow the flow's direction.
    #[error("the grant allows {}, not {}", direction(*granted), direction(*requested))]
    DirectionNotGranted {
        /// The flow's direction.
        requested: Direction,
        /// The grant's.
        granted: Direction,
    },
    /// The packet's suite is below the least the grant requires.
    #[error("suite {suite} is below the grant's least suite level {}", level_name(*required))]
    SuiteBelowMinimum {
        /// The suite the packet is (or would be) sealed with.
        suite: SuiteId,
        /// The grant's `min_suite_level`.
        required: SuiteLevel,
    },
    /// The purpose is not covered by the grant.
    #[error("purpose {requested} is not covered by the grant's purposes ({})", list(granted))]
    PurposeNotCovered {
        /// The flow's purpose.
        requested: Purpose,
        /// The grant's purposes.
        granted: Vec<Purpose>,
    },
    /// The data category is not covered by the grant.
    #[error("category {requested} is not covered by the grant's categories ({})", list(granted))]
    CategoryNotCovered {
        /// The flow's category.
        requested: DataCategory,
        /// The grant's categories.
        granted: Vec<DataCategory>,
    },
    /// A quota of a grant in the chain would be exceeded.
    #[error("grant {grant}: {} quota exhausted ({used} used of {limit})", match kind { QuotaKind::Packets => "packet", QuotaKind::Bytes => "byte" })]
    QuotaExhausted {
        /// The grant.
        grant: GrantId,
        /// Which quota.
        kind: QuotaKind,
        /// Used so far.
        used: u64,
        /// The limit.
        limit: u64,
    },
    /// A grant's rate limit is reached until the window ends.
    #[error("grant {grant}: rate limit of {packets} packets per {period_secs} s reached until {}", rfc3339(*window_end))]
    RateLimited {
        /// The grant.
        grant: GrantId,
        /// Packets per period.
        packets: u32,
        /// The period.
        period_secs: u32,
        /// When the current window ends.
        window_end: Timestamp,
    },
}

impl Denial {
    /// The reason code of the signed rejection for this denial.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::EmptyChain | Self::UnknownGrant { .. } | Self::BrokenChain { .. } => ReasonCode::UNKNOWN_GRANT,
            Self::ChainTooLong { .. } => ReasonCode::CHAIN_TOO_LONG,
            Self::UnknownIssuerKey { .. } => ReasonCode::UNKNOWN_ISSUER_KEY,
            Self::BadSignature { .. } => ReasonCode::BAD_GRANT_SIGNATURE,
            Self::MalformedGrant { .. } => ReasonCode::INVALID_GRANT,
            Self::NotController { .. } => ReasonCode::NOT_CONTROLLER,
            Self::WidenedDelegation { .. } => ReasonCode::WIDENED_DELEGATION,
            Self::Revoked { .. } => ReasonCode::GRANT_REVOKED,
            Self::NotYetValid { .. } => ReasonCode::GRANT_NOT_YET_VALID,
            Self::Expired { .. } => ReasonCode::GRANT_EXPIRED,
            Self::UnregisteredPurpose { .. } => ReasonCode::UNREGISTERED_PURPOSE,
            Self::WrongRecipient { .. } => ReasonCode::WRONG_RECIPIENT,
            Self::WrongSender { .. } => ReasonCode::WRONG_SENDER,
            Self::DirectionNotGranted { .. } => ReasonCode::DIRECTION_NOT_GRANTED,
            Self::SuiteBelowMinimum { .. } => ReasonCode::SUITE_BELOW_GRANT_MINIMUM,
            Self::PurposeNotCovered { .. } => ReasonCode::PURPOSE_NOT_COVERED,
            Self::CategoryNotCovered { .. } => ReasonCode::CATEGORY_NOT_COVERED,
            Self::QuotaExhausted { .. } => ReasonCode::QUOTA_EXHAUSTED,
            Self::RateLimited { .. } => ReasonCode::RATE_LIMITED,
        }
    }
}
