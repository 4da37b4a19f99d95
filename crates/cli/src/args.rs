//! Arguments several commands share.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, Purpose};

/// The node a command drives.
#[derive(Args, Clone)]
pub(crate) struct NodeDir {
    /// The node directory (made by `tally init`).
    #[arg(long, env = "TALLY_DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
}

/// The flow a send or a pull request is for.
#[derive(Args, Clone)]
pub(crate) struct FlowArgs {
    /// The other agency: the recipient of a send, the responder of a request.
    #[arg(long)]
    pub(crate) to: AgencyId,
    /// The grant id (hex, or a unique prefix of it).
    #[arg(long)]
    pub(crate) grant: IdPrefix,
    /// The purpose.
    #[arg(long)]
    pub(crate) purpose: Purpose,
    /// The data category.
    #[arg(long)]
    pub(crate) category: DataCategory,
}

impl FlowArgs {
    /// The send's options, with the payload's media type and the grant the prefix names.
    pub(crate) fn send(self, grant: GrantId, content_type: ContentType) -> tally_node::SendOptions {
        let Self { to, grant: _, purpose, category } = self;
        tally_node::SendOptions { to, grant, purpose, category, content_type }
    }
}

/// A packet or grant id in hex, or a unique prefix of one (at least 4
/// digits), as git takes a prefix of a commit id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdPrefix(String);

impl IdPrefix {
    /// The prefix, in lowercase hex.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for IdPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        if lower.len() < 4 || lower.len() > 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{s}`: give an id in hex, or a prefix of at least 4 hex digits"));
        }
        Ok(Self(lower))
    }
}

/// What offline verification trusts.
#[derive(Args, Clone)]
pub(crate) struct Trust {
    /// The signed federation directory.
    #[arg(long)]
    pub(crate) directory: PathBuf,
    /// The operator's public key (hex), or a file holding it.
    #[arg(long)]
    pub(crate) operator_key: String,
}

/// How `tally serve` logs.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// JSON lines.
    Json,
}

/// An audit report's format.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Text.
    Text,
    /// JSON.
    Json,
    /// A self-contained HTML page.
    Html,
}
