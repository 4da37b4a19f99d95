//! The node's configuration file, `tally.toml` (written commented by `tally init`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tally_wire::{AgencyId, DataCategory, IdentityPublicKey};

use crate::NodeError;
use crate::files::read_toml;

/// The configuration file's name inside a node directory.
pub const CONFIG_FILE: &str = "tally.toml";

/// A node's configuration. Relative paths are relative to the node directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This agency's id in the directory.
    pub agency: AgencyId,
    /// The UDP address the QUIC listener binds.
    pub listen: SocketAddr,
    /// The signed federation directory.
    pub directory: PathBuf,
    /// The federation operator's public key (hex), which must sign the directory.
    pub operator_key: Option<IdentityPublicKey>,
    /// A loopback TCP address for the local API (with the bearer token in
    /// `api.token`), beside its Unix socket; none if absent. `metrics` is
    /// its former name.
    #[serde(default, alias = "metrics")]
    pub api: Option<SocketAddr>,
    /// How often the retention sweeper runs, e.g. `"10s"`.
    #[serde(default = "default_sweep", with = "humantime_serde_str")]
    pub sweep_interval: Duration,
    /// Added to the system clock for every policy and retention decision (tests and drills only).
    #[serde(default)]
    pub clock_offset_secs: i64,
    /// What the node serves to pull requests.
    #[serde(default, rename = "pull")]
    pub pull_sources: Vec<PullSource>,
    /// Transport timeouts; the defaults are spec/transport.md's.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// What this node takes from its peers at most: the bounds that keep a
    /// hostile but legitimate member from growing its memory, files and disk.
    #[serde(default)]
    pub limits: Limits,
    /// How unfinished sends are offered again.
    #[serde(default)]
    pub retry: crate::retry::RetryPolicy,
    /// How this node signs the receipts it issues.
    #[serde(default)]
    pub receipts: Receipts,
    /// The TLS key exchanges of its QUIC connections.
    #[serde(default)]
    pub tls: Tls,
}

/// The TLS key exchanges of the node's QUIC connections (`[tls]`;
/// spec/transport.md, "Key exchange").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// `hybrid-preferred` (the default: X25519MLKEM768, falling back to
    /// X25519 for a peer without it), `hybrid-required` (a peer that does
    /// not offer X25519MLKEM768 cannot connect, either way), or `classical`
    /// (X25519 only).
    pub key_exchange: KeyExchangeSetting,
}

/// The `key_exchange` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyExchangeSetting {
    /// X25519MLKEM768 preferred, X25519 accepted.
    #[default]
    HybridPreferred,
    /// X25519MLKEM768 only.
    HybridRequired,
    /// X25519 only.
    Classical,
}

impl From<KeyExchangeSetting> for tally_transport::KeyExchange {
    fn from(s: KeyExchangeSetting) -> Self {
        match s {
            KeyExchangeSetting::HybridPreferred => Self::HybridPreferred,
            KeyExchangeSetting::HybridRequired => Self::HybridRequired,
            KeyExchangeSetting::Classical => Self::Classical,
        }
    }
}

/// How receipts are signed (`[receipts]`; spec/receipts.md, "Two ways to sign").
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receipts {
    /// `"batched"` (the default): receipts are logged unsigned and the one
    /// checkpoint signed for their group commit stands for their
    /// signatures. `"individual"`: each receipt is also signed on its own.
    pub signing: Signing,
}

/// The two ways to sign receipts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signing {
    /// One checkpoint signature per group commit.
    #[default]
    Batched,
    /// A signature per receipt, besides the checkpoint's.
    Individual,
}

/// Resource limits (`[limits]`); sizes are bytes, or strings such as `"10GiB"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Received data is kept at most this long, whatever a grant allows (default 10 years).
    #[serde(with = "humantime_serde_str")]
    pub max_retention: Duration,
    /// Bytes of received payloads kept for one sending agency (default 64 GiB).
    #[serde(with = "size")]
    pub max_storage_per_sender: u64,
    /// Grant chains kept whose leaf one agency issued (default 1000).
    pub max_grants_per_issuer: usize,
    /// Signed refusals per peer per minute; beyond them offers are closed without a signature (default 60).
    pub refusals_per_minute: u32,
    /// Payload files being written or served at once, over all peers
    /// (default 256; at most half the process's descriptors beyond 128).
    pub max_open_payloads: usize,
    /// The same for one peer (default 64; at most a quarter of the total).
    pub max_open_payloads_per_peer: usize,
    /// QUIC connections one peer may have open to this node (default 4).
    pub max_connections_per_peer: usize,
    /// Frame bytes buffered for one connection (default 16 MiB).
    #[serde(with = "size")]
    pub connection_memory: u64,
    /// Frame bytes buffered for all connections (default 256 MiB).
    #[serde(with = "size")]
    pub transport_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let transport = tally_transport::TransportConfig::default();
        Self {
            max_retention: Duration::from_secs(10 * 365 * 86_400),
            max_storage_per_sender: 64 << 30,
            max_grants_per_issuer: 1000,
            refusals_per_minute: 60,
            max_open_payloads: 256,
            max_open_payloads_per_peer: 64,
            max_connections_per_peer: transport.max_connections_per_peer,
            connection_memory: transport.connection_memory as u64,
            transport_memory: transport.endpoint_memory as u64,
        }
    }
}

/// Sizes: an integer of bytes, or a string with a binary unit (`"512KiB"`, `"16MiB"`, `"10GiB"`, `"1TiB"`).
mod size {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*n)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Size::deserialize(d)? {
            Size::Bytes(n) => Ok(n),
            Size::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a size; write bytes, or a number with KiB, MiB, GiB or TiB (\"16MiB\")"
                ))
            }),
        }
    }

    pub(super) fn parse(text: &str) -> Option<u64> {
        let text = text.trim();
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let shift = match unit.trim() {
            "" | "B" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            "TiB" => 40,
            _ => return None,
        };
        number.parse::<u64>().ok()?.checked_mul(1 << shift)
    }
}

/// Transport timeouts (`[timeouts]`), as durations such as `"30s"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// How long a silent peer is awaited within an exchange (default 30 s).
    #[serde(default, with = "optional_duration")]
    pub exchange_idle: Option<Duration>,
    /// How long a connection may carry no traffic before it is closed (default 60 s).
    #[serde(default, with = "optional_duration")]
    pub connection_idle: Option<Duration>,
    /// How often an idle connection is pinged (default 15 s).
    #[serde(default, with = "optional_duration")]
    pub keep_alive: Option<Duration>,
    /// How long a handshake with one endpoint of a peer may take before
    /// the next endpoint it lists is tried (default 10 s).
    #[serde(default, with = "optional_duration")]
    pub connect: Option<Duration>,
}

impl NodeConfig {
    /// The policy's clock: the system clock plus `clock_offset_secs`.
    pub fn now(&self) -> tally_wire::Timestamp {
        let offset = Duration::from_secs(self.clock_offset_secs.unsigned_abs());
        let now = std::time::SystemTime::now();
        let shifted = if self.clock_offset_secs >= 0 { now + offset } else { now - offset };
        tally_wire::Timestamp::from_system_time(shifted)
    }

    /// The transport configuration of these timeouts and limits.
    pub fn transport(&self) -> tally_transport::TransportConfig {
        let mut c = self.timeouts.transport();
        c.max_connections_per_peer = self.limits.max_connections_per_peer;
        c.connection_memory = usize::try_from(self.limits.connection_memory).unwrap_or(usize::MAX);
        c.endpoint_memory = usize::try_from(self.limits.transport_memory).unwrap_or(usize::MAX);
        c.key_exchange = self.tls.key_exchange.into();
        c
    }
}

impl Timeouts {
    /// The transport configuration with these timeouts.
    pub fn transport(&self) -> tally_transport::TransportConfig {
        let mut c = tally_transport::TransportConfig::default();
        if let Some(d) = self.exchange_idle {
            c.exchange.idle_timeout = d;
        }
        if let Some(d) = self.connection_idle {
            c.connection_idle_timeout = d;
        }
        if let Some(d) = self.keep_alive {
            c.keep_alive = d;
        }
        if let Some(d) = self.connect {
            c.connect_timeout = d;
        }
        c
    }
}

mod optional_duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::humantime_serde_str::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::humantime_serde_str::deserialize(d).map(Some)
    }
}

/// A source of data for pull requests of one data category.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSource {
    /// The data category it serves.
    pub category: DataCategory,
    /// A directory whose files are served: the query names one file, or is empty for all of them.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// A command run with the query on its standard input; its standard output is the one packet served.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

fn default_sweep() -> Duration {
    Duration::from_secs(10)
}

pub(crate) mod humantime_serde_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{e}; write a duration such as \"10s\" or \"5min\"")))
    }
}

impl NodeConfig {
    /// Reads `tally.toml` from the node directory `dir`.
    pub fn load(dir: &Path) -> Result<Self, NodeError> {
        let path = dir.join(CONFIG_FILE);
        let config: Self = read_toml(&path)?;
        for source in &config.pull_sources {
            if source.directory.is_some() == source.command.is_some() {
                return Err(NodeError::Malformed {
                    path,
                    message: format!(
                        "pull source for `{}`: give exactly one of `directory` or `command`",
                        source.category
                    ),
                });
            }
        }
        Ok(config)
    }

    /// The commented file `tally init` writes.
    pub(crate) fn render(&self) -> String {
        let operator = match &self.operator_key {
            Some(k) => format!("operator_key = \"{}\"", k.to_hex()),
            None => "# operator_key = \"…64 hex digits from `tally federation init`…\"   (required to serve)".into(),
        };
        format!(
            r#"# Tally node configuration (written by `tally init`; see the README's configuration reference).
# Relative paths are relative to this file's directory.

# This agency's id in the federation directory.
agency = "{agency}"

# The UDP address the QUIC listener binds; one of the directory's endpoints for this agency must reach it.
listen = "{listen}"

# The signed federation directory (from the operator's `tally federation publish`).
# The node refuses a directory with a lower serial than the newest it has seen,
# and picks up a newer file at this path while it runs.
directory = "{directory}"

# The federation operator's public key: the directory must be signed by it.
{operator}

# The local API (GET /health, GET /metrics, /v1/...) on this loopback TCP address too, beside
# api.sock; every request needs `Authorization: Bearer` with the token in api.token (made at start).
# api = "127.0.0.1:9464"

# How often received data past its retention is destroyed (crypto-shredding).
sweep_interval = "10s"

# What this node serves to pull requests, per data category: the files of a directory
# (the query names one file, or is empty for all), or a command that reads the query
# on its standard input and writes the answer on its standard output.
# [[pull]]
# category = "income.annual"
# directory = "served/income"
#
# [[pull]]
# category = "income.monthly"
# command = ["/usr/local/bin/lookup-income", "--json"]

# Transport timeouts (defaults: spec/transport.md).
# [timeouts]
# exchange_idle = "30s"      # a silent peer within an exchange
# connection_idle = "60s"    # a connection with no traffic (a dead peer is noticed after this)
# keep_alive = "15s"
# connect = "10s"            # a handshake with one endpoint of a peer, before its next endpoint is tried

# The TLS key exchange of QUIC connections (spec/transport.md, "Key exchange").
# [tls]
# key_exchange = "hybrid-preferred"   # X25519MLKEM768 (post-quantum), else X25519; "hybrid-required" refuses
#                                     # a peer without X25519MLKEM768; "classical" offers X25519 only

# How this node signs the receipts it issues (spec/receipts.md, "Two ways to sign").
# [receipts]
# signing = "batched"      # one checkpoint signature per group commit; "individual" also signs each receipt

# What this node takes from its peers at most (the defaults are shown).
# [limits]
# max_retention = "3650days"           # received data is kept at most this long, whatever a grant allows
# max_storage_per_sender = "64GiB"     # payload bytes kept for one sending agency
# max_grants_per_issuer = 1000         # grant chains kept whose leaf one agency issued
# refusals_per_minute = 60             # signed refusals per peer; beyond, offers are closed unsigned
# max_open_payloads = 256              # payload files being written or served at once
# max_open_payloads_per_peer = 64      # (at most a quarter of the total)
# max_connections_per_peer = 4         # QUIC connections one peer may hold to this node
# connection_memory = "16MiB"          # frame bytes buffered per connection
# transport_memory = "256MiB"          # frame bytes buffered for all connections
"#,
            agency = self.agency,
            listen = self.listen,
            directory = self.directory.display(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::size::parse;

    #[test]
    fn sizes_parse_with_binary_units_and_nothing_else() {
        assert_eq!(parse("16MiB"), Some(16 << 20));
        assert_eq!(parse("10 GiB"), Some(10 << 30));
        assert_eq!(parse("4096"), Some(4096));
        assert_eq!(parse("1TiB"), Some(1 << 40));
        for bad in ["", "MiB", "16MB", "-1", "1.5GiB", "99999999999999TiB"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
