//! `tally federation`: the operator's tools, on files alone.

use std::path::PathBuf;

use clap::Subcommand;
use tally_node::Federation;
use tally_wire::{AgencyId, DataCategory, Purpose};

use crate::failure::Failure;

#[derive(Subcommand)]
pub(crate) enum FederationCommand {
    /// Create the operator's root key and empty registers.
    Init {
        /// The operator's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        name: String,
    },
    /// Add an agency from the export file its `tally init` wrote.
    AddAgency {
        #[arg(long)]
        dir: PathBuf,
        /// The agency's export file.
        export: PathBuf,
        /// Its roles: producer, consumer, auditor (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Replace an agency that is a member already (its keys, roles, endpoint).
        #[arg(long)]
        replace: bool,
    },
    /// Register a data category with the member agency that controls it
    /// (only the controller may issue a root grant for it).
    AddCategory {
        #[arg(long)]
        dir: PathBuf,
        /// The category (`income`; it covers `income.annual` unless that is registered too).
        category: DataCategory,
        /// The agency that controls data of this category.
        #[arg(long)]
        controller: AgencyId,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Register a purpose with its legal basis.
    AddPurpose {
        #[arg(long)]
        dir: PathBuf,
        /// The purpose (`social-security.eligibility`).
        purpose: Purpose,
        /// The legal basis.
        #[arg(long)]
        legal_basis: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Sign the registers as the directory with the next serial.
    Publish {
        #[arg(long)]
        dir: PathBuf,
        /// Where to write the signed directory.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn run(command: FederationCommand) -> Result<(), Failure> {
    match command {
        FederationCommand::Init { dir, name } => {
            let key = Federation::init(&dir, &name)?;
            println!("Created federation `{name}` in {}.", dir.display());
            println!("Operator public key (agencies put it in tally.toml as operator_key): {key}");
        }
        FederationCommand::AddAgency { dir, export, roles, replace } => {
            let (id, changes) = Federation::add_agency(&dir, &export, &roles, replace)?;
            if replace && !changes.is_empty() {
                println!("Replaced agency `{id}`: {}. Publish a new directory to make it known.", changes.join("; "));
            } else {
                println!("Added agency `{id}` ({}). Publish a new directory to make it known.", roles.join(", "));
            }
        }
        FederationCommand::AddCategory { dir, category, controller, description } => {
            Federation::add_category(&dir, &category, &controller, &description)?;
            println!(
                "Registered category `{category}`, controlled by `{controller}`. Publish a new directory to make it known."
            );
        }
        FederationCommand::AddPurpose { dir, purpose, legal_basis, description } => {
            Federation::add_purpose(&dir, &purpose, &legal_basis, &description)?;
            println!("Registered purpose `{purpose}`. Publish a new directory to make it known.");
        }
        FederationCommand::Publish { dir, out } => {
            let serial = Federation::publish(&dir, &out)?;
            println!("Published directory serial {serial} to {}.", out.display());
        }
    }
    Ok(())
}
