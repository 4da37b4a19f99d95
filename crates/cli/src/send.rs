//! `tally send` and `tally request`: the flows a node starts.
//!
//! A send has a send id (spec/api.md, "Sends"): given with `--send-id`, or
//! derived from the flow and the payload's digest, so that sending the
//! same file again attaches to the first send instead of delivering it
//! twice. A file is read by the node itself, which goes on with the send if
//! this command is interrupted; standard input is spooled and streamed, and
//! an interrupted stream cancels the send.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tally_node::api::{Client, ClientError, PullOptions, PullResult, SendAnswer, SendId, SendQuery, SendResult};
use tally_wire::ContentType;

use crate::args::FlowArgs;
use crate::failure::{Exit, Failure, failed, file_error, usage};
use crate::files::{call, print_json, resolve_grant, runtime};

/// `tally send`.
pub(crate) fn send(
    dir: &Path,
    flow: FlowArgs,
    content_type: ContentType,
    send_id: Option<SendId>,
    file: &Path,
    json: bool,
) -> Result<(), Failure> {
    let grant = resolve_grant(dir, &flow.grant)?;
    let options = flow.send(grant, content_type);
    let to = options.to.clone();
    // Standard input is spooled to a private temporary file first (mode
    // 0600, removed when done): a packet states its length up front.
    let (path, spool) = if file == Path::new("-") {
        let mut spool = tempfile::NamedTempFile::new().map_err(|e| failed(format!("a spool file: {e}")))?;
        std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut())
            .map_err(|e| failed(format!("standard input: {e}")))?;
        (spool.path().to_owned(), Some(spool))
    } else {
        let path = std::fs::canonicalize(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
        if !path.is_file() {
            return Err(usage(format!("{}: not a regular file", file.display())));
        }
        (path, None)
    };
    let send_id = match send_id {
        Some(id) => id,
        None => {
            let reader = std::fs::File::open(&path).map_err(file_error(&path))?;
            let digest = tally_envelope::digest_reader(tally_wire::label::PAYLOAD_DIGEST, reader)
                .map_err(|e| failed(format!("{}: {e}", file.display())))?;
            SendId::derive(&options, &digest)
        }
    };
    let source = spool.is_none().then(|| path.clone());
    let query = SendQuery { options, send_id: Some(send_id.clone()), source };
    let answer = match transfer(dir, &query, &path)? {
        Transfer::Answered(answer) => *answer,
        Transfer::Interrupted(message) => return Err(Failure::new(Exit::Interrupted, message)),
    };
    drop(spool);
    if json {
        print_json(&answer);
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let earlier = match answer.previously {
        Some(tally_node::api::Previously::Finished) => {
            format!(" This send (send id {send_id}) had finished before: nothing was sent again.")
        }
        Some(tally_node::api::Previously::Attached) => {
            format!(" This send (send id {send_id}) was unfinished: it went on, nothing new was sealed.")
        }
        None => String::new(),
    };
    match (answer.result, &answer.receipt) {
        (SendResult::Delivered, Some(r)) => {
            if !json {
                println!(
                    "Delivered {} to {to} ({size} bytes); receipt signed by {} at {}, logged.{earlier}",
                    r.packet, r.recipient, r.at
                );
            }
            Ok(())
        }
        (SendResult::Refused, Some(r)) => Err(Failure::new(
            Exit::Refused,
            format!(
                "{to} refused {}: {}.{earlier} Its signed rejection is in the log.",
                r.packet,
                crate::advice::rejection(dir, &r.outcome, &r.grant)
            ),
        )
        .answered(json)),
        _ => {
            let (endpoint, error, next) = match &answer.pending {
                Some(p) => (
                    p.endpoint.clone(),
                    p.error.clone(),
                    p.next_try.clone().map_or("when you run `tally resume`".to_owned(), |t| format!("at {t}")),
                ),
                None => (String::new(), "no receipt yet".into(), "by itself".into()),
            };
            Err(Failure::new(
                Exit::Pending,
                format!(
                    "could not deliver {} to {to} at {endpoint}: {error}. The send is kept (send id {send_id}) and the node offers it again {next}; follow it with `tally status`.",
                    answer.packet
                ),
            )
            .answered(json))
        }
    }
}

enum Transfer {
    Answered(Box<SendAnswer>),
    /// Ctrl-C: what became of the send.
    Interrupted(String),
}

/// Sends and waits for the answer, with a progress bar on a terminal;
/// on Ctrl-C, says whether the node goes on with the send or cancelled it.
fn transfer(dir: &Path, query: &SendQuery, path: &PathBuf) -> Result<Transfer, Failure> {
    let total = std::fs::metadata(path).map_err(file_error(path))?.len();
    let count = Arc::new(AtomicU64::new(0));
    let bar = (std::io::stderr().is_terminal() && total >= 8 << 20 && query.source.is_none()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let client = Client::new(dir);
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let sending = async {
            match &query.source {
                Some(_) => client.send_file(query).await,
                None => {
                    let file = tokio::fs::File::open(path).await.map_err(file_error(path))?;
                    client.send(query, file, total, Arc::clone(&count)).await
                }
            }
            .map_err(Failure::from)
        };
        tokio::pin!(sending);
        // One handler for the whole transfer: a signal between two ticks is not lost.
        let interrupt = tokio::signal::ctrl_c();
        tokio::pin!(interrupt);
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                answer = &mut sending => break answer.map(|a| Transfer::Answered(Box::new(a))),
                _ = &mut interrupt => break Ok(Transfer::Interrupted(String::new())),
                _ = ticker.tick() => if let Some(bar) = &bar { bar.set_position(count.load(Ordering::Relaxed)) },
            }
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Ok(Transfer::Interrupted(_)) = &result {
        // Stop the upload itself (its connection is a task of this runtime),
        // then ask the node what became of the send.
        runtime.shutdown_background();
        return Ok(Transfer::Interrupted(crate::files::runtime()?.block_on(interrupted(&client, query))));
    }
    result
}

/// What became of a send this command stopped waiting for.
async fn interrupted(client: &Client, query: &SendQuery) -> String {
    let Some(send_id) = &query.send_id else { return "interrupted".into() };
    let again = "run the same `tally send` again to wait for its receipt (it attaches to this send)";
    if query.source.is_some() {
        // The node records the send before it sends a byte; until then it may still be deciding.
        for _ in 0..30 {
            match client.send_state(send_id).await {
                Err(ClientError::Problem(p)) if p.status == 404 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => {
                    return format!(
                        "interrupted: the node goes on with the send in the background (send id {send_id}); follow it with `tally status`, or {again}"
                    );
                }
            }
        }
        return format!(
            "interrupted: the node had not recorded the send (send id {send_id}) yet; {again} to be sure it is sent, once"
        );
    }
    // A streamed payload: the node cancels the send once it sees the stream break off.
    for _ in 0..50 {
        match client.send_state(send_id).await {
            Err(ClientError::Problem(p)) if p.status == 404 => {
                return format!(
                    "interrupted: standard input cannot be read again, so the node cancelled the send (send id {send_id}); nothing of it is kept"
                );
            }
            Ok(answer) if answer.result != SendResult::Pending => {
                return format!(
                    "interrupted, but the send had finished ({:?}); see `tally receipts list`",
                    answer.result
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    format!(
        "interrupted after the whole payload had reached the node: it goes on with the send in the background (send id {send_id}); follow it with `tally status`"
    )
}

/// `tally request`: a pull; the answer lands in the inbox.
pub(crate) fn request(dir: &Path, flow: FlowArgs, query: String, json: bool) -> Result<(), Failure> {
    let grant = resolve_grant(dir, &flow.grant)?;
    let FlowArgs { to, grant: _, purpose, category } = flow;
    let options = PullOptions { to: to.clone(), grant, purpose, category, query };
    let answer = call(dir, |c| async move { c.request_pull(&options).await })?;
    if json {
        print_json(&answer);
    }
    if answer.result == PullResult::Refused {
        let message = match &answer.refusal {
            Some(r) => crate::advice::rejection(dir, &r.outcome, &r.grant),
            None => "refused".into(),
        };
        return Err(Failure::new(Exit::Refused, format!("{to} refused the request: {message}")).answered(json));
    }
    if answer.packets.is_empty() {
        if !json {
            println!(
                "{to} answered, but had nothing to serve for this query: no packet came. Check the query, and ask {to} whether its [[pull]] source for this category holds the data."
            );
        }
        return Ok(());
    }
    if !json {
        println!("{to} answered with {} packet(s), now in the inbox:", answer.packets.len());
        for p in answer.packets {
            println!("  {}  {}  ({})", p.packet, p.outcome, p.purpose);
        }
    }
    Ok(())
}
