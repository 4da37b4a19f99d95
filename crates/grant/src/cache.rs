//! A cache of verified chains, so that repeated flows under the same grant
//! cost no signature checks (spec/grants.md, "Caching").
//!
//! A grant id is the digest of the grant's signed bytes, so a leaf id fixes
//! the whole chain's bytes (each grant names its parent's id). What can
//! change is the directory's keys: the cache is keyed by the directory's
//! serial too, and a new directory empties it.

use std::collections::HashMap;

use tally_wire::{GrantChain, GrantId};

use crate::chain::{Directory, VerifiedChain, grant_id};
use crate::decision::{Authorization, Flow, decide_verified};
use crate::denial::Denial;
use crate::revocation::RevocationSet;
use crate::usage::Usage;

/// Verified chains by leaf id, for one directory serial, at most `capacity` of them.
#[derive(Debug)]
pub struct ChainCache {
    serial: u64,
    capacity: usize,
    chains: HashMap<GrantId, VerifiedChain>,
}

impl ChainCache {
    /// An empty cache for the directory with this serial.
    pub fn new(directory_serial: u64, capacity: usize) -> Self {
        Self { serial: directory_serial, capacity, chains: HashMap::new() }
    }

    /// Decides `flow`, verifying `chain` only if its leaf is not cached for
    /// this directory serial. A chain that fails verification is not cached.
    pub fn decide(
        &mut self,
        flow: &Flow,
        chain: &GrantChain,
        revocations: &RevocationSet,
        directory: &impl Directory,
        directory_serial: u64,
        usage: &Usage,
    ) -> Result<Authorization, Denial> {
        let verified = self.verified(chain, directory, directory_serial)?;
        decide_verified(flow, verified, revocations, directory, usage)
    }

    /// `chain` verified, from the cache if its leaf is there for this
    /// directory serial. A chain that fails verification is not cached.
    pub fn verified(
        &mut self,
        chain: &GrantChain,
        directory: &impl Directory,
        directory_serial: u64,
    ) -> Result<&VerifiedChain, Denial> {
        if directory_serial != self.serial {
            self.chains.clear();
            self.serial = directory_serial;
        }
        let leaf = chain.first().map(grant_id).ok_or(Denial::EmptyChain)?;
        if !self.chains.contains_key(&leaf) {
            let verified = VerifiedChain::verify(chain, directory)?;
            if self.chains.len() >= self.capacity {
                // Crude but bounded: start over rather than track recency.
                self.chains.clear();
            }
            self.chains.insert(leaf, verified);
        }
        Ok(self.chains.get(&leaf).expect("the leaf was inserted above"))
    }

    /// How many chains are cached.
    pub fn len(&self) -> usize {
        self.chains.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}
