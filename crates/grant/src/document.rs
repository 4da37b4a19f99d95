//! Grant documents: how operators write grant requests (TOML) and read
//! grants (TOML or JSON) (spec/grants.md, "Grant documents").
//!
//! ```toml
//! grantee = "social-security"
//! senders = ["tax-bureau"]                 # optional: default is the issuer only
//! purposes = ["social-security.eligibility"]
//! categories = ["income"]
//! not_before = "2026-12-01T00:00:00Z"
//! not_after = "2027-12-01T00:00:00Z"
//! direction = "push"                       # push, pull or both
//! min_suite_level = "post-quantum"         # optional: "classical" (the default) or "post-quantum"
//! retention = "90days"
//! erase_on_revoke = true
//! delegation_depth = 0
//! legal_basis = "Social Security Act s. 12(3)"
//! note = "Eligibility checks"
//!
//! [quota]                                  # optional: every limit defaults to unlimited
//! max_packets = 10000
//! max_bytes = 10737418240
//! rate = { packets = 100, period_secs = 3600 }
//! ```

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tally_envelope::IdentityKey;
use tally_wire::{
    AgencyId, BoundedVec, DataCategory, Direction, Grant, GrantId, Purpose, Quota, Rate, Signed, SuiteLevel, Text,
    Timestamp,
};

/// A grant as operators write and read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantDocument {
    /// The grantor; filled in by the issuing node when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Who may receive.
    pub grantee: String,
    /// Who may send; empty means the issuer only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub senders: Vec<String>,
    /// Permitted purposes.
    pub purposes: Vec<String>,
    /// Permitted data categories.
    pub categories: Vec<String>,
    /// First valid instant, RFC 3339 (`2026-12-01T00:00:00Z`).
    pub not_before: String,
    /// First invalid instant, RFC 3339.
    pub not_after: String,
    /// `push`, `pull` or `both`.
    pub direction: Direction,
    /// The least suite level of the packets sent under the grant:
    /// `classical` (any suite) or `post-quantum` (X-Wing). Absent: the
    /// parent's, for a delegated grant the issuing node completes
    /// (`Node::issue_grant`); `classical` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_suite_level: Option<String>,
    /// How long the recipient may keep the data (`90days`, `12h`, ...).
    pub retention: String,
    /// Whether revocation obliges erasure.
    #[serde(default)]
    pub erase_on_revoke: bool,
    /// Further delegation levels allowed; 0 forbids delegation.
    #[serde(default)]
    pub delegation_depth: u8,
    /// The parent grant's id (hex), for a delegated grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Quotas; omitted limits are unlimited.
    #[serde(default)]
    pub quota: QuotaDocument,
    /// The legal basis.
    #[serde(default)]
    pub legal_basis: String,
    /// A note for people.
    #[serde(default)]
    pub note: String,
    /// When the grant was issued; filled in by the issuing node when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
}

/// Quotas in a grant document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaDocument {
    /// Most packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packets: Option<u64>,
    /// Most payload bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Most packets per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

/// A grant document that cannot become a grant: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The document is not valid TOML or JSON for a grant (the message has the line).
    #[error("{0}")]
    Syntax(String),
    /// A field's value is wrong.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The field, as written in the document.
        field: &'static str,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// Signing failed.
    #[error("cannot sign the grant: {0}")]
    Sign(String),
}

fn field(field: &'static str, problem: impl Into<String>) -> DocumentError {
    DocumentError::Field { field, problem: problem.into() }
}

impl GrantDocument {
    /// Parses a TOML grant document.
    pub fn from_toml(text: &str) -> Result<Self, DocumentError> {
        toml::from_str(text).map_err(|e| DocumentError::Syntax(e.to_string()))
    }

    /// The document of a grant, for display (TOML or JSON).
    pub fn from_grant(g: &Grant) -> Self {
        Self {
            issuer: Some(g.issuer.to_string()),
            grantee: g.grantee.to_string(),
            senders: g.senders.iter().map(ToString::to_string).collect(),
            purposes: g.purposes.iter().map(ToString::to_string).collect(),
            categories: g.categories.iter().map(ToString::to_string).collect(),
            not_before: rfc3339(g.not_before),
            not_after: rfc3339(g.not_after),
            direction: g.direction,
            // Classical is what an absent level means (a delegated grant's
            // parent is classical too, by narrowing).
            min_suite_level: (g.min_suite_level != SuiteLevel::CLASSICAL)
                .then(|| crate::denial::level_name(g.min_suite_level)),
            retention: humantime::format_duration(Duration::from_secs(g.retention_secs)).to_string(),
            erase_on_revoke: g.erase_on_revoke,
            delegation_depth: g.delegation_depth,
            parent: g.parent.map(|p| p.to_hex()),
            quota: QuotaDocument { max_packets: g.quota.max_packets, max_bytes: g.quota.max_bytes, rate: g.quota.rate },
            legal_basis: g.legal_basis.to_string(),
            note: g.note.to_string(),
            issued_at: Some(rfc3339(g.issued_at)),
        }
    }

    /// Checks every field and builds the wire grant. `issuer` and `now`
    /// fill in the fields the document leaves out; a document that names
    /// another issuer is refused.
    pub fn to_grant(&self, issuer: &AgencyId, now: Timestamp) -> Result<Grant, DocumentError> {
        if let Some(named) = &self.issuer
            && named != issuer.as_str()
        {
            return Err(field("issuer", format!("names {named}, but this node is {issuer}")));
        }
        let agency = |f: &'static str, s: &str| AgencyId::new(s).map_err(|e| field(f, e.to_string()));
        let grantee = agency("grantee", &self.grantee)?;
        let senders = self.senders.iter().map(|s| agency("senders", s)).collect::<Result<Vec<_>, _>>()?;
        let purposes = self
            .purposes
            .iter()
            .map(|p| Purpose::new(p.as_str()).map_err(|e| field("purposes", format!("{p:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if purposes.is_empty() {
            return Err(field("purposes", "name at least one purpose"));
        }
        let categories = self
            .categories
            .iter()
            .map(|c| DataCategory::new(c.as_str()).map_err(|e| field("categories", format!("{c:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if categories.is_empty() {
            return Err(field("categories", "name at least one data category"));
        }
        let not_before = parse_time("not_before", &self.not_before)?;
        let not_after = parse_time("not_after", &self.not_after)?;
        if not_after <= not_before {
            return Err(field("not_after", "must be after not_before"));
        }
        let retention = humantime::parse_duration(&self.retention)
            .map_err(|e| field("retention", format!("{e}; write a duration such as \"90days\" or \"12h\"")))?;
        if self.quota.max_packets == Some(0) {
            return Err(field("quota.max_packets", "0 permits nothing; omit it for unlimited"));
        }
        if self.quota.max_bytes == Some(0) {
            return Err(field("quota.max_bytes", "0 permits nothing; omit it for unlimited"));
        }
        if self.quota.rate.is_some_and(|r| r.packets == 0 || r.period_secs == 0) {
            return Err(field("quota.rate", "packets and period_secs must both be at least 1"));
        }
        let parent = match &self.parent {
            None => None,
            Some(hex) => Some(hex.parse::<GrantId>().map_err(|e| field("parent", e.to_string()))?),
        };
        let issued_at = match &self.issued_at {
            None => now,
            Some(t) => parse_time("issued_at", t)?,
        };
        let list = |f: &'static str| move |e: tally_wire::InvalidValue| field(f, format!("{e} (at most 16)"));
        Ok(Grant {
            issuer: issuer.clone(),
            grantee,
            senders: BoundedVec::new(senders).map_err(list("senders"))?,
            purposes: BoundedVec::new(purposes).map_err(list("purposes"))?,
            categories: BoundedVec::new(categories).map_err(list("categories"))?,
            not_before,
            not_after,
            quota: Quota {
                max_packets: self.quota.max_packets,
                max_bytes: self.quota.max_bytes,
                rate: self.quota.rate,
            },
            retention_secs: retention.as_secs(),
            erase_on_revoke: self.erase_on_revoke,
            direction: self.direction,
            min_suite_level: match self.min_suite_level.as_deref().unwrap_or("classical") {
                "classical" => SuiteLevel::CLASSICAL,
                "post-quantum" => SuiteLevel::POST_QUANTUM,
                other => {
                    return Err(field(
                        "min_suite_level",
                        format!("{other:?}: write \"classical\" or \"post-quantum\""),
                    ));
                }
            },
            delegation_depth: self.delegation_depth,
            parent,
            legal_basis: Text::new(self.legal_basis.as_str()).map_err(|e| field("legal_basis", e.to_string()))?,
            note: Text::new(self.note.as_str()).map_err(|e| field("note", e.to_string()))?,
            issued_at,
        })
    }
}

/// Builds and signs a grant from a document.
pub fn issue_grant(
    identity: &IdentityKey,
    issuer: &AgencyId,
    document: &GrantDocument,
    now: Timestamp,
) -> Result<Signed<Grant>, DocumentError> {
    let grant = document.to_grant(issuer, now)?;
    identity.sign_object(grant).map_err(|e| DocumentError::Sign(e.to_string()))
}

fn parse_time(name: &'static str, s: &str) -> Result<Timestamp, DocumentError> {
    let t = humantime::parse_rfc3339(s)
        .map_err(|e| field(name, format!("{e}; write an RFC 3339 time such as \"2026-12-01T00:00:00Z\"")))?;
    Ok(Timestamp::from_system_time(t))
}

/// A timestamp as RFC 3339 (UTC), to the second unless it has nanoseconds.
pub fn rfc3339(t: Timestamp) -> String {
    let st = UNIX_EPOCH + t.since_epoch();
    if t.nanos() == 0 {
        humantime::format_rfc3339_seconds(st).to_string()
    } else {
        humantime::format_rfc3339_nanos(st).to_string()
    }
}
