//! A log as an agency exports it for an auditor (spec/receipts.md, "Exports").

use serde::{Deserialize, Serialize};
use tally_wire::AgencyId;

/// A log exported for an auditor: every entry and a checkpoint over them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogExport {
    /// Always [`LOG_EXPORT_FORMAT`].
    pub format: String,
    /// The agency whose log it is.
    pub agency: AgencyId,
    /// The signed checkpoint note covering exactly these entries.
    pub checkpoint: String,
    /// Each entry's encoding, lowercase hex.
    pub entries: Vec<String>,
}

/// The format line of a log export.
pub const LOG_EXPORT_FORMAT: &str = "tally-log-export/1";
