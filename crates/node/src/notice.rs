//! Notices (spec/protocol.md, "Notices and fetches"): a grant or a
//! revocation handed over the transport to the agencies it concerns, who
//! verify it against the directory, keep it and log it. The issuer logged
//! it when it issued it, so it is logged on both sides.

use tally_grant::grant_id;
use tally_wire::{AgencyId, CloseCode, Grant, GrantId, Notice};

use crate::NodeError;
pub use crate::api::Delivery;
use crate::state::NodeState;

/// Checks a notice from `peer` and keeps it: the host side of a notice.
/// `Err` is the close code and reason `peer` is told.
pub(crate) fn keep(state: &NodeState, peer: &AgencyId, notice: Notice) -> Result<(), (CloseCode, String)> {
    match notice {
        Notice::Grant(chain) => {
            let leaf =
                chain.first().ok_or((CloseCode::VERIFICATION_FAILED, "an empty grant chain".to_owned()))?.unverified();
            if &leaf.issuer != peer {
                return Err((
                    CloseCode::SENDER_MISMATCH,
                    format!("the grant is issued by {}, not {peer}", leaf.issuer),
                ));
            }
            if !concerns(leaf, &state.agency) {
                let reason = format!("the grant names {} neither as grantee nor as sender", state.agency);
                return Err((CloseCode::NOT_PERMITTED, reason));
            }
            state.keep_grant(chain, false).map(drop).map_err(refusal)
        }
        Notice::Revocation(revocation) => {
            let issuer = &revocation.unverified().issuer;
            if issuer != peer {
                return Err((CloseCode::SENDER_MISMATCH, format!("the revocation is issued by {issuer}, not {peer}")));
            }
            state.keep_revocation(revocation).map(drop).map_err(refusal)
        }
    }
}

fn refusal(e: NodeError) -> (CloseCode, String) {
    match e.close_code() {
        CloseCode::INTERNAL_ERROR => {
            // This node's own failure: the peer is not told its details.
            tracing::error!(error = %e, "cannot keep a notice");
            (CloseCode::INTERNAL_ERROR, "the node could not keep it; try again".to_owned())
        }
        code => (code, e.to_string()),
    }
}

/// Whether `grant` names `agency` as its grantee or one of its senders.
fn concerns(grant: &Grant, agency: &AgencyId) -> bool {
    &grant.grantee == agency || grant.senders.iter().any(|s| s == agency)
}

/// The agencies other than `local` that a grant concerns: its grantee and the senders it names.
pub(crate) fn grant_parties(grant: &Grant, local: &AgencyId) -> Vec<AgencyId> {
    let mut parties: Vec<AgencyId> = std::iter::once(&grant.grantee).chain(grant.senders.iter()).cloned().collect();
    parties.sort();
    parties.dedup();
    parties.retain(|a| a != local);
    parties
}

/// The agencies other than this node's a revocation of `revoked` concerns:
/// the parties of every grant this node holds whose chain contains it.
pub(crate) fn revocation_parties(state: &NodeState, revoked: &GrantId) -> Result<Vec<AgencyId>, NodeError> {
    let mut parties = Vec::new();
    for (_, chain) in state.store.grants()? {
        if let Some(position) = chain.iter().position(|g| grant_id(g) == *revoked) {
            for g in chain.iter().take(position + 1) {
                parties.extend(grant_parties(g.unverified(), &state.agency));
            }
        }
    }
    parties.sort();
    parties.dedup();
    Ok(parties)
}
