//! A peer's signed rejection as a sentence with the next step, the code beside it.

use std::path::Path;

use tally_node::api::Client;
use tally_wire::GrantId;

/// `outcome` (`rejected: GRANT_REVOKED`) as what happened and what to do,
/// with the reason code; for a revoked grant, when and by whom, if this
/// node holds the revocation.
pub(crate) fn rejection(dir: &Path, outcome: &str, grant: &GrantId) -> String {
    let code = outcome.strip_prefix("rejected: ").unwrap_or(outcome);
    let next = match code {
        "GRANT_REVOKED" => {
            let by = revoked(dir, grant).unwrap_or_else(|| "revoked".to_owned());
            format!("the grant {grant} is {by}; ask the grantor for a new grant")
        }
        "GRANT_EXPIRED" => format!("the grant {grant} has expired; ask the grantor for a new grant"),
        "GRANT_NOT_YET_VALID" => format!("the grant {grant} is not valid yet; send once its not_before has passed"),
        "QUOTA_EXHAUSTED" => format!("a quota of grant {grant} is used up (see `tally grant list`); ask the grantor for a new grant"),
        "RATE_LIMITED" => "the grant's rate limit is reached for now; send again later".to_owned(),
        "PURPOSE_NOT_COVERED" | "CATEGORY_NOT_COVERED" => {
            format!("the purpose or category is not one grant {grant} names; check them against `tally grant list`")
        }
        "DIRECTION_NOT_GRANTED" => format!("grant {grant} does not allow this direction (push or pull)"),
        "WRONG_SENDER" | "WRONG_RECIPIENT" => format!("grant {grant} does not name these agencies as sender and grantee"),
        "UNKNOWN_GRANT" | "BAD_GRANT_SIGNATURE" | "UNKNOWN_ISSUER_KEY" | "INVALID_GRANT" | "WIDENED_DELEGATION"
        | "NOT_CONTROLLER" | "CHAIN_TOO_LONG" => {
            format!("the peer does not accept grant {grant}'s chain; check it with `tally grant show`, and that both nodes use the newest directory")
        }
        "UNREGISTERED_PURPOSE" => {
            "the purpose is not registered in the peer's directory; ask the operator to register it, or fetch the newest directory".to_owned()
        }
        "STORAGE_LIMIT" => "the peer stores no more from this agency; ask its operator".to_owned(),
        "TEMPORARILY_UNAVAILABLE" => "the peer cannot take it now; send again later".to_owned(),
        "INVALID_QUERY" => {
            "the query is not one the peer serves: name one file of its pull source, without `/` or `..`".to_owned()
        }
        "UNKNOWN_RECIPIENT_KEY" => "the peer does not hold the KEM key the directory lists; fetch the newest directory".to_owned(),
        _ => "the peer refused it".to_owned(),
    };
    format!("{next} ({code})")
}

/// "revoked by X from T (reason, erase)" if this node holds the revocation.
fn revoked(dir: &Path, grant: &GrantId) -> Option<String> {
    let runtime = crate::files::runtime().ok()?;
    let grants = runtime.block_on(Client::new(dir).grants()).ok()?;
    let r = grants.into_iter().find(|g| g.grant == *grant)?.status.revocation?;
    let erase = if r.erase { ", received data to be erased" } else { "" };
    Some(format!("revoked by {} from {} ({}{erase})", r.by, r.effective_at, r.reason))
}
