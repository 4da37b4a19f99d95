//! Seals a file into a packet file, or opens one, in constant memory; the
//! peak-memory benchmark of the envelope issue.
//!
//! ```sh
//! cargo build --release -p tally-envelope --example packet_file
//! /usr/bin/time -v target/release/examples/packet_file seal payload.bin packet.tly
//! /usr/bin/time -v target/release/examples/packet_file open packet.tly payload.out
//! ```
//!
//! The keys are fixed demonstration keys derived from constant seeds: this
//! is a measuring tool, not a way to protect data.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, PacketSpec, read_packet, write_packet};
use tally_wire::{AgencyId, BoundedVec, ChunkSize, ContentType, DataCategory, GrantId, Purpose, SuiteId, Timestamp};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (mode, input, output) = match args.as_slice() {
        [_, mode, input, output] => (mode.as_str(), input, output),
        _ => {
            eprintln!("usage: packet_file seal|open INPUT OUTPUT");
            return ExitCode::FAILURE;
        }
    };
    match run(mode, input, output) {
        Ok(()) => {
            if let Some(peak) = peak_rss() {
                eprintln!("peak resident memory: {peak}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: &str, input: &str, output: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sender = IdentityKey::from_seed(&[1; 32]);
    let recipient = IdentityKey::from_seed(&[2; 32]);
    let kem = KemKey::from_bytes([3; 32]);
    let agency = AgencyId::new("social-security")?;
    let cert = kem.certify(&recipient, agency, Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX))?;
    let source = File::open(input).map_err(|e| format!("cannot open {input}: {e}"))?;
    let sink =
        BufWriter::with_capacity(1 << 16, File::create(output).map_err(|e| format!("cannot create {output}: {e}"))?);
    match mode {
        "seal" => {
            let spec = PacketSpec {
                suite: SuiteId::X25519_SHA256_AES256GCM,
                sender: AgencyId::new("tax-bureau")?,
                grant: GrantId([0; 32]),
                purpose: Purpose::new("social-security.eligibility")?,
                category: DataCategory::new("income.annual")?,
                content_type: ContentType::new("application/octet-stream")?,
                created_at: Timestamp::from_system_time(std::time::SystemTime::now()),
                payload_len: source.metadata()?.len(),
                chunk_size: ChunkSize::DEFAULT,
            };
            let sealed =
                write_packet(&sender, cert.unverified(), spec, BoundedVec::empty(), BufReader::new(source), sink)?;
            eprintln!("sealed packet {}", sealed.digests.packet_id);
        }
        "open" => {
            let verifier = IdentityVerifier::new(&sender.public_key())?;
            let opened = read_packet(&kem, |_| Ok(verifier), BufReader::new(source), sink)?;
            eprintln!("opened packet {}, {} bytes", opened.digests.packet_id, opened.header.payload_len);
        }
        other => return Err(format!("unknown mode {other:?}: use seal or open").into()),
    }
    Ok(())
}

/// The process's peak resident set size, from /proc/self/status (Linux).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().to_owned())
}
