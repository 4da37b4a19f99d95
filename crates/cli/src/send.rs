//! `tally send` and `tally request`: the flows a node starts.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tally_node::api::{Client, PullOptions, PullResult, SendResult};
use tally_wire::ContentType;

use crate::args::FlowArgs;
use crate::failure::{Exit, Failure, file_error, usage};
use crate::files::{call, print_json, runtime};

/// `tally send`: streams the file (or standard input) to the node, which
/// seals it for the recipient and sends it.
pub(crate) fn send(
    dir: &Path,
    flow: FlowArgs,
    content_type: ContentType,
    file: &Path,
    json: bool,
) -> Result<(), Failure> {
    let options = flow.send(content_type);
    let to = options.to.clone();
    let runtime = runtime()?;
    let count = Arc::new(AtomicU64::new(0));
    let (answer, total) = if file == Path::new("-") {
        // Standard input is spooled to a private temporary file first (mode
        // 0600, removed when done): a packet states its length up front.
        let mut spool =
            tempfile::NamedTempFile::new().map_err(|e| crate::failure::failed(format!("a spool file: {e}")))?;
        std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut())
            .map_err(|e| crate::failure::failed(format!("standard input: {e}")))?;
        send_file(&runtime, dir, &options, spool.path(), None, &count)?
    } else {
        let path = std::fs::canonicalize(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
        if !path.is_file() {
            return Err(usage(format!("{}: not a regular file", file.display())));
        }
        send_file(&runtime, dir, &options, &path, Some(&path), &count)?
    };
    if json {
        print_json(&answer);
    }
    let r = &answer.receipt;
    if answer.result == SendResult::Delivered {
        if !json {
            println!(
                "Delivered {} to {to} ({total} bytes); receipt signed by {} at {}, logged.",
                r.packet, r.recipient, r.at
            );
        }
        return Ok(());
    }
    Err(Failure::new(
        Exit::Refused,
        format!(
            "{to} refused {}: {}; its signed rejection is in the log. Check the grant (tally grant list) and the purpose and category against it.",
            r.packet, r.outcome
        ),
    ))
}

fn send_file(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    options: &tally_node::SendOptions,
    path: &Path,
    source: Option<&Path>,
    count: &Arc<AtomicU64>,
) -> Result<(tally_node::api::SendAnswer, u64), Failure> {
    let total = std::fs::metadata(path).map_err(file_error(path))?.len();
    let bar = (std::io::stderr().is_terminal() && total >= 8 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let answer = runtime.block_on(async {
        let file = tokio::fs::File::open(path).await.map_err(file_error(path))?;
        let client = Client::new(dir);
        let sending = client.send(options, file, total, source, Arc::clone(count));
        tokio::pin!(sending);
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                answer = &mut sending => break answer.map_err(Failure::from),
                _ = ticker.tick() => if let Some(bar) = &bar { bar.set_position(count.load(Ordering::Relaxed)) },
            }
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok((answer?, total))
}

/// `tally request`: a pull; the answer lands in the inbox.
pub(crate) fn request(dir: &Path, flow: FlowArgs, query: String, json: bool) -> Result<(), Failure> {
    let FlowArgs { to, grant, purpose, category } = flow;
    let options = PullOptions { to: to.clone(), grant, purpose, category, query };
    let answer = call(dir, |c| async move { c.request_pull(&options).await })?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    if answer.result == PullResult::Refused {
        let outcome = answer.refusal.map(|r| r.outcome).unwrap_or_default();
        return Err(Failure::new(Exit::Refused, format!("{to} refused the request: {outcome}")));
    }
    println!("{to} answered with {} packet(s):", answer.packets.len());
    for p in answer.packets {
        println!("  {}  {}  ({})", p.packet, p.outcome, p.purpose);
    }
    Ok(())
}
