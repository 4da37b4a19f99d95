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

/// Decodes hex (either case); `None` if it is not hex.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}
