//! `tally federation`: the operator's tools, on files alone.

use std::path::PathBuf;

use clap::Subcommand;
use tally_node::Federation;
use tally_wire::{AgencyId, DataCategory, Directory, Purpose, Roles};

use crate::files::print_json;

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
        /// Replace an agency that is a member already (its keys, roles, endpoints).
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
    /// The registers: agencies with roles, endpoints and key fingerprints, purposes, categories.
    List {
        #[arg(long)]
        dir: PathBuf,
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

pub(crate) fn run(command: FederationCommand, json: bool) -> Result<(), Failure> {
    match command {
        FederationCommand::Init { dir, name } => {
            let key = Federation::init(&dir, &name)?;
            if json {
                print_json(&serde_json::json!({ "federation": name, "dir": dir, "operator_key": key.to_string() }));
                return Ok(());
            }
            println!("Created federation `{name}` in {}.", dir.display());
            println!("Operator public key (agencies put it in tally.toml as operator_key): {key}");
        }
        FederationCommand::AddAgency { dir, export, roles, replace } => {
            let (id, changes) = Federation::add_agency(&dir, &export, &roles, replace)?;
            if json {
                print_json(
                    &serde_json::json!({ "agency": id, "roles": roles, "replaced": replace, "changes": changes }),
                );
            } else if replace && !changes.is_empty() {
                println!("Replaced agency `{id}`: {}. Publish a new directory to make it known.", changes.join("; "));
            } else {
                println!("Added agency `{id}` ({}). Publish a new directory to make it known.", roles.join(", "));
            }
        }
        FederationCommand::AddCategory { dir, category, controller, description } => {
            Federation::add_category(&dir, &category, &controller, &description)?;
            if json {
                print_json(&serde_json::json!({ "category": category, "controller": controller }));
                return Ok(());
            }
            println!(
                "Registered category `{category}`, controlled by `{controller}`. Publish a new directory to make it known."
            );
        }
        FederationCommand::AddPurpose { dir, purpose, legal_basis, description } => {
            Federation::add_purpose(&dir, &purpose, &legal_basis, &description)?;
            if json {
                print_json(&serde_json::json!({ "purpose": purpose, "legal_basis": legal_basis }));
                return Ok(());
            }
            println!("Registered purpose `{purpose}`. Publish a new directory to make it known.");
        }
        FederationCommand::List { dir } => {
            let f = Federation::load(&dir)?;
            if json {
                print_json(&f);
                return Ok(());
            }
            println!("Federation `{}`, last published serial {}", f.name, f.serial);
            println!("{} agencies:", f.agencies.len());
            for m in &f.agencies {
                println!("  {} ({}): {}; {}", m.id, m.name, m.roles.join(", "), endpoints_text(&m.endpoints));
                println!(
                    "      identity key {}…, TLS key {}…, {} KEM key(s)",
                    short(&m.identity_key.to_hex()),
                    short(&m.tls_key.to_hex()),
                    m.kem_certificates.len()
                );
            }
            print_registers(
                f.purposes.iter().map(|p| (p.name.as_str(), p.legal_basis.as_str())),
                f.categories.iter().map(|c| (c.name.as_str(), c.controller.as_str())),
            );
        }
        FederationCommand::Publish { dir, out } => {
            let serial = Federation::publish(&dir, &out)?;
            if json {
                print_json(&serde_json::json!({ "serial": serial, "file": out }));
                return Ok(());
            }
            println!("Published directory serial {serial} to {}.", out.display());
        }
    }
    Ok(())
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}

fn print_registers<'a>(
    purposes: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    categories: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    println!("{} purposes:", purposes.len());
    for (name, basis) in purposes {
        println!("  {name}: legal basis {basis}");
    }
    println!("{} data categories:", categories.len());
    for (name, controller) in categories {
        println!("  {name}: controlled by {controller}");
    }
}

/// The names of the roles in `roles`.
fn role_names(roles: Roles) -> Vec<&'static str> {
    [(Roles::PRODUCER, "producer"), (Roles::CONSUMER, "consumer"), (Roles::AUDITOR, "auditor")]
        .into_iter()
        .filter(|(r, _)| roles.contains(*r))
        .map(|(_, n)| n)
        .collect()
}

/// `tally directory show`: a signed directory, as text or JSON.
pub(crate) fn show_directory(d: &Directory, json: bool) {
    if json {
        let agencies: Vec<_> = d
            .agencies
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id, "name": a.name.as_str(), "roles": role_names(a.roles), "endpoints": a.endpoints.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                    "identity_key": a.identity_key.to_hex(), "tls_key": a.tls_key.to_hex(),
                    "kem_keys": a.kem_keys.iter().map(|k| {
                        let c = k.unverified();
                        serde_json::json!({
                            "kem": c.public_key.kem().name(), "key_id": c.key_id.to_hex(),
                            "not_before": tally_grant::rfc3339(c.not_before), "not_after": tally_grant::rfc3339(c.not_after),
                        })
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let purposes: Vec<_> = d
            .purposes
            .iter()
            .map(|p| serde_json::json!({ "purpose": p.purpose, "legal_basis": p.legal_basis.as_str() }))
            .collect();
        let categories: Vec<_> = d
            .categories
            .iter()
            .map(|c| serde_json::json!({ "category": c.category, "controller": c.controller }))
            .collect();
        print_json(&serde_json::json!({
            "federation": d.federation.as_str(), "serial": d.serial, "issued_at": tally_grant::rfc3339(d.issued_at),
            "agencies": agencies, "purposes": purposes, "categories": categories,
        }));
        return;
    }
    println!(
        "Directory of `{}`, serial {}, issued {}",
        d.federation.as_str(),
        d.serial,
        tally_grant::rfc3339(d.issued_at)
    );
    println!("{} agencies:", d.agencies.len());
    for a in d.agencies.iter() {
        println!(
            "  {} ({}): {}; {}",
            a.id,
            a.name.as_str(),
            role_names(a.roles).join(", "),
            endpoints_text(&a.endpoints)
        );
        println!("      identity key {}…, TLS key {}…", short(&a.identity_key.to_hex()), short(&a.tls_key.to_hex()));
        for k in a.kem_keys.iter() {
            let c = k.unverified();
            let level = if c.public_key.kem() == tally_wire::Kem::XWing { ", post-quantum" } else { "" };
            println!(
                "      KEM key {}… ({}{level}), valid {} to {}",
                short(&c.key_id.to_hex()),
                c.public_key.kem(),
                tally_grant::rfc3339(c.not_before),
                tally_grant::rfc3339(c.not_after)
            );
        }
    }
    print_registers(
        d.purposes.iter().map(|p| (p.purpose.as_str(), p.legal_basis.as_str())),
        d.categories.iter().map(|c| (c.category.as_str(), c.controller.as_str())),
    );
}

/// `endpoint a:1`, or `endpoints a:1, b:2` for an agency with replicas.
fn endpoints_text(endpoints: &tally_wire::Endpoints) -> String {
    match endpoints.len() {
        1 => format!("endpoint {endpoints}"),
        _ => format!("endpoints {endpoints}"),
    }
}
