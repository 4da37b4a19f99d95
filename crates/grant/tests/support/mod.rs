//! A small federation for the grant tests: keys by agency, a purpose registry.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_grant::{Directory, Flow, grant_id};
use tally_wire::{
    AgencyId, BoundedVec, DataCategory, Direction, Grant, GrantChain, Purpose, Quota, Signed, SuiteId, SuiteLevel,
    Text, Timestamp,
};

pub const T0: u64 = 1_800_000_000;

pub fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid agency id")
}

pub fn purpose(s: &str) -> Purpose {
    Purpose::new(s).expect("valid purpose")
}

pub fn category(s: &str) -> DataCategory {
    DataCategory::new(s).expect("valid category")
}

pub struct Federation {
    pub keys: HashMap<String, IdentityKey>,
    pub unregistered: Vec<Purpose>,
    /// The category register: `income` and `household` are the tax bureau's, `income.benefits` the social-security bureau's, `health` the municipality's.
    pub controllers: Vec<(DataCategory, AgencyId)>,
}

impl Federation {
    pub fn new() -> Self {
        let mut keys = HashMap::new();
        for (i, name) in ["tax-bureau", "social-security", "municipality", "statistics", "outsider"].iter().enumerate()
        {
            keys.insert((*name).to_owned(), IdentityKey::from_seed(&[i as u8 + 1; 32]));
        }
        let controllers = vec![
            (category("income"), agency("tax-bureau")),
            (category("income.benefits"), agency("social-security")),
            (category("household"), agency("tax-bureau")),
            (category("health"), agency("municipality")),
        ];
        Self { keys, unregistered: Vec::new(), controllers }
    }

    pub fn key(&self, name: &str) -> &IdentityKey {
        &self.keys[name]
    }

    pub fn sign(&self, grant: Grant) -> Signed<Grant> {
        let issuer = grant.issuer.to_string();
        self.key(&issuer).sign_object(grant).expect("signs")
    }
}

impl Directory for Federation {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        if agency.as_str() == "outsider" {
            return None; // holds a key, but is not in the directory
        }
        self.keys.get(agency.as_str()).map(|k| IdentityVerifier::new(&k.public_key()).expect("valid key"))
    }

    fn purpose_registered(&self, purpose: &Purpose) -> bool {
        !self.unregistered.contains(purpose)
    }

    fn controller(&self, category: &DataCategory) -> Option<AgencyId> {
        controller_of(&self.controllers, category)
    }
}

/// The controller of `category` in a register: that of the longest registered category covering it.
pub fn controller_of(register: &[(DataCategory, AgencyId)], category: &DataCategory) -> Option<AgencyId> {
    register.iter().filter(|(c, _)| c.covers(category)).max_by_key(|(c, _)| c.as_str().len()).map(|(_, a)| a.clone())
}

/// The root grant: tax bureau → social security, one year, quotas.
pub fn root() -> Grant {
    Grant {
        issuer: agency("tax-bureau"),
        grantee: agency("social-security"),
        senders: BoundedVec::empty(),
        purposes: BoundedVec::new(vec![purpose("social-security")]).expect("small"),
        categories: BoundedVec::new(vec![category("income")]).expect("small"),
        not_before: Timestamp::from_secs(T0),
        not_after: Timestamp::from_secs(T0 + 365 * 86_400),
        quota: Quota { max_packets: Some(100), max_bytes: Some(1 << 20), rate: None },
        retention_secs: 90 * 86_400,
        erase_on_revoke: true,
        direction: Direction::Both,
        min_suite_level: SuiteLevel::CLASSICAL,
        delegation_depth: 2,
        parent: None,
        legal_basis: Text::new("Act s. 1").expect("valid"),
        note: Text::default(),
        issued_at: Timestamp::from_secs(T0 - 10),
    }
}

/// A grant delegated from `parent` (signed) by its grantee to `grantee`, narrower in every dimension.
pub fn delegated(parent: &Signed<Grant>, grantee: &str) -> Grant {
    let p = parent.unverified();
    Grant {
        issuer: p.grantee.clone(),
        grantee: agency(grantee),
        senders: BoundedVec::new(tally_grant::effective_senders(p)).expect("small"),
        purposes: p.purposes.clone(),
        categories: p.categories.clone(),
        not_before: p.not_before,
        not_after: p.not_after,
        quota: p.quota,
        retention_secs: p.retention_secs,
        erase_on_revoke: p.erase_on_revoke,
        direction: p.direction,
        min_suite_level: p.min_suite_level,
        delegation_depth: p.delegation_depth.saturating_sub(1),
        parent: Some(grant_id(parent)),
        legal_basis: p.legal_basis.clone(),
        note: Text::default(),
        issued_at: p.issued_at,
    }
}

pub fn chain(grants: Vec<Signed<Grant>>) -> GrantChain {
    BoundedVec::new(grants).expect("within the depth limit")
}

/// A push flow under `leaf`, in the middle of the root's validity.
pub fn flow(leaf: &Signed<Grant>) -> Flow {
    let g = leaf.unverified();
    Flow {
        grant: grant_id(leaf),
        sender: tally_grant::effective_senders(g)[0].clone(),
        recipient: g.grantee.clone(),
        purpose: purpose("social-security.eligibility"),
        category: category("income.annual"),
        bytes: 1000,
        direction: Direction::Push,
        suite: Some(SuiteId::X25519_SHA256_AES256GCM),
        at: Timestamp::from_secs(T0 + 1000),
    }
}
