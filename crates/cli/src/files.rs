//! Files the command reads and writes, and the node it talks to.

use std::io::Write;
use std::path::{Path, PathBuf};

use tally_grant::VerifiedDirectory;
use tally_node::api::Client;
use tally_wire::IdentityPublicKey;

use crate::args::Trust;
use crate::failure::{Failure, file_error, usage};

/// The async runtime the API client and the node run on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::failure::failed(format!("cannot start: {e}")))
}

/// Runs one call to the node in `dir` through its local API.
pub(crate) fn call<T, F>(dir: &Path, f: impl FnOnce(Client) -> F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, tally_node::api::ClientError>>,
{
    Ok(runtime()?.block_on(f(Client::new(dir)))?)
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(file_error(path))
}

pub(crate) fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| crate::failure::failed(format!("{}: not UTF-8 text", path.display())))
}

/// Opens a file readable by its owner only (grants, receipts, logs and
/// plaintexts are the agency's business until it hands them over).
pub(crate) fn create_private(path: &Path) -> Result<std::fs::File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(file_error(path))
}

/// Writes a file readable by its owner only.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    create_private(path)?.write_all(bytes).map_err(file_error(path))
}

pub(crate) fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

pub(crate) fn operator_key(text: &str) -> Result<IdentityPublicKey, Failure> {
    let text = if Path::new(text).is_file() { read_text(Path::new(text))? } else { text.to_owned() };
    text.trim().parse().map_err(|e| usage(format!("--operator-key: {e}; give the hex key or the operator.pub file")))
}

pub(crate) fn load_directory(trust: &Trust) -> Result<VerifiedDirectory, Failure> {
    Ok(tally_node::load_directory(&trust.directory, &operator_key(&trust.operator_key)?)?)
}

/// Lowercase hex from the node's answers.
pub(crate) fn unhex(text: &str) -> Result<Vec<u8>, Failure> {
    tally_node::hex::decode(text).ok_or_else(|| crate::failure::failed("the node answered with malformed hex"))
}

/// The one id among `candidates` that starts with `prefix`: as git resolves
/// a commit prefix. No match, or several, is a usage error that lists them.
pub(crate) fn unique<T: std::fmt::Display + Copy + PartialEq>(
    what: &str,
    prefix: &crate::args::IdPrefix,
    candidates: impl IntoIterator<Item = T>,
) -> Result<T, Failure> {
    let mut matches: Vec<T> = Vec::new();
    for c in candidates {
        if c.to_string().starts_with(prefix.as_str()) && !matches.contains(&c) {
            matches.push(c);
        }
    }
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(usage(format!("no {what} on this node starts with `{}`", prefix.as_str()))),
        many => {
            let list: Vec<String> = many.iter().map(|m| format!("  {m}")).collect();
            Err(usage(format!(
                "`{}` is ambiguous: {} {what}s start with it; give more digits:\n{}",
                prefix.as_str(),
                many.len(),
                list.join("\n")
            )))
        }
    }
}

/// The grant whose id starts with `prefix`, among those the node holds.
pub(crate) fn resolve_grant(dir: &Path, prefix: &crate::args::IdPrefix) -> Result<tally_wire::GrantId, Failure> {
    if let Ok(id) = prefix.as_str().parse::<tally_wire::GrantId>() {
        return Ok(id);
    }
    let grants = call(dir, |c| async move { c.grants().await })?;
    unique("grant", prefix, grants.iter().map(|g| g.grant))
}

/// The packet whose id starts with `prefix`, among those in the node's
/// inbox, its receipts and its unfinished sends.
pub(crate) fn resolve_packet(dir: &Path, prefix: &crate::args::IdPrefix) -> Result<tally_wire::PacketId, Failure> {
    if prefix.as_str().len() == 32
        && let Ok(id) = prefix.as_str().parse::<tally_wire::PacketId>()
    {
        return Ok(id);
    }
    let (inbox, receipts, status) =
        call(dir, |c| async move { Ok((c.inbox().await?, c.receipts().await?, c.status().await?)) })?;
    let ids = inbox
        .iter()
        .map(|p| p.packet)
        .chain(receipts.iter().map(|r| r.receipt.packet))
        .chain(status.sends.iter().map(|s| s.packet));
    unique("packet", prefix, ids)
}

#[cfg(test)]
mod tests {
    use super::unique;

    #[test]
    fn a_unique_prefix_names_its_id_and_an_ambiguous_one_lists_the_candidates() {
        let ids = ["abcd1234", "abcd9999", "ffff0000"];
        let prefix = |p: &str| p.parse::<crate::args::IdPrefix>().expect("a prefix");
        assert_eq!(unique("packet", &prefix("ffff"), ids).ok(), Some("ffff0000"));
        assert_eq!(unique("packet", &prefix("ABCD1"), ids).ok(), Some("abcd1234"), "either case");
        let ambiguous = unique("packet", &prefix("abcd"), ids).expect_err("two match");
        assert!(ambiguous.message.contains("2 packets start with it") && ambiguous.message.contains("abcd9999"));
        let none = unique("grant", &prefix("0000"), ids).expect_err("none match");
        assert!(none.message.contains("no grant on this node starts with `0000`"));
        assert!("abc".parse::<crate::args::IdPrefix>().is_err(), "at least 4 digits");
        assert!("abcz".parse::<crate::args::IdPrefix>().is_err(), "hex only");
    }
}
