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
    /// The grant id (hex).
    #[arg(long)]
    pub(crate) grant: GrantId,
    /// The purpose.
    #[arg(long)]
    pub(crate) purpose: Purpose,
    /// The data category.
    #[arg(long)]
    pub(crate) category: DataCategory,
}

impl FlowArgs {
    /// The send's options, with the payload's media type.
    pub(crate) fn send(self, content_type: ContentType) -> tally_node::SendOptions {
        let Self { to, grant, purpose, category } = self;
        tally_node::SendOptions { to, grant, purpose, category, content_type }
    }
}

/// Text or JSON.
#[derive(Args, Clone)]
pub(crate) struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
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
