//! Group commit: one committer thread takes every commit waiting, writes
//! them in one redb write transaction and commits it (one fsync), and only
//! then answers each caller with its entries' indices.
//!
//! A commit whose writes fail must not take the others with it: when a
//! grouped transaction fails, each of its commits is tried again alone, so
//! only the one at fault (or all, if storage itself fails) gets the error.

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender};

use redb::{Database, ReadableTable, ReadableTableMetadata};
use tally_receipt::merkle::{leaf_hash, node_hash};
use tally_wire::Digest;

use crate::error::{Error, db};
use crate::tables::{ENTRIES, NODES, RECEIPTS};
use crate::tx::Tx;

/// Most entries one transaction takes from the queue.
const MAX_GROUP: usize = 4096;

/// How long the committer waits for more commits before it writes a group,
/// when the group before held more than one (writers are concurrent). A
/// group costs about the same whatever its size (one fsync, and the pages
/// of each table it touches: 30 to 40 of them for a node's exchange), so
/// under load fewer, larger groups cost less. A lone writer never waits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// A caller's writes to the node's tables. It may run twice (once in a
/// group, once alone after the group failed), each time in a transaction
/// that is either committed whole or dropped, so it must only write.
pub(crate) type Write = Box<dyn Fn(&mut Tx<'_>) -> Result<(), Error> + Send>;

/// Where a commit's answer goes: a thread that waits for it, a task that
/// awaits it, or no one.
pub(crate) enum Reply {
    /// A thread blocked on the answer.
    Thread(SyncSender<Result<Range<u64>, Error>>),
    /// A task awaiting the answer (woken by the committer itself, with no
    /// thread between them).
    Task(tokio::sync::oneshot::Sender<Result<Range<u64>, Error>>),
    /// No one waits ([`Store::commit_later`](crate::Store::commit_later)).
    Nobody,
}

impl Reply {
    fn send(self, answer: Result<Range<u64>, Error>) {
        // A caller that went away no longer needs the answer.
        match self {
            Self::Thread(s) => drop(s.send(answer)),
            Self::Task(s) => drop(s.send(answer)),
            Self::Nobody => {}
        }
    }
}

/// One commit waiting: the entries' encodings, the receipts among them
/// (offset in the batch, packet id, side), the writes, and where to answer.
pub(crate) struct Request {
    pub(crate) entries: Vec<Vec<u8>>,
    pub(crate) receipts: Vec<(usize, [u8; 16], u8)>,
    pub(crate) write: Option<Write>,
    pub(crate) reply: Reply,
}

/// What makes commits fail on purpose: a count of transactions to fail
/// (feature `failpoints`), or nothing.
#[cfg(feature = "failpoints")]
pub(crate) type Failpoint = std::sync::Arc<std::sync::atomic::AtomicUsize>;
/// What makes commits fail on purpose: nothing, without `failpoints`.
#[cfg(not(feature = "failpoints"))]
pub(crate) type Failpoint = ();

#[cfg(feature = "failpoints")]
fn injected(failpoint: &Failpoint) -> Result<(), Error> {
    use std::sync::atomic::Ordering;
    match failpoint.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
        Ok(_) => Err(Error::File {
            path: "tally.redb".into(),
            source: std::io::Error::new(std::io::ErrorKind::StorageFull, "an injected commit failure"),
        }),
        Err(_) => Ok(()),
    }
}

#[cfg(not(feature = "failpoints"))]
fn injected(_: &Failpoint) -> Result<(), Error> {
    Ok(())
}

pub(crate) fn commit_loop(database: &Database, requests: &Receiver<Request>, failpoint: &Failpoint) {
    let mut concurrent = false;
    while let Ok(first) = requests.recv() {
        let mut count = first.entries.len().max(1);
        let mut group = vec![first];
        let linger_until = concurrent.then(|| std::time::Instant::now() + LINGER);
        while count < MAX_GROUP {
            let next = match linger_until {
                Some(until) => requests.recv_timeout(until.saturating_duration_since(std::time::Instant::now())).ok(),
                None => requests.try_recv().ok(),
            };
            match next {
                Some(r) => {
                    count += r.entries.len().max(1);
                    group.push(r);
                }
                None => break,
            }
        }
        // Only commits someone waits for count as writers (not checkpoints handed over for later).
        concurrent = group.iter().filter(|r| !matches!(r.reply, Reply::Nobody)).count() > 1;
        match injected(failpoint).and_then(|()| write_group(database, &group)) {
            Ok(ranges) => {
                for (request, range) in group.into_iter().zip(ranges) {
                    request.reply.send(Ok(range));
                }
            }
            Err(e) if group.len() == 1 => {
                if let Some(request) = group.pop() {
                    request.reply.send(Err(e));
                }
            }
            Err(_) => {
                for request in group {
                    let alone =
                        injected(failpoint).and_then(|()| write_group(database, std::slice::from_ref(&request)));
                    request.reply.send(alone.map(|mut r| r.remove(0)));
                }
            }
        }
    }
}

/// Writes every commit of the group in one transaction and commits it.
fn write_group(database: &Database, group: &[Request]) -> Result<Vec<Range<u64>>, Error> {
    let tx = database.begin_write().map_err(db)?;
    let mut ranges = Vec::with_capacity(group.len());
    {
        let mut entries = tx.open_table(ENTRIES).map_err(db)?;
        let mut nodes = tx.open_table(NODES).map_err(db)?;
        let mut receipts = tx.open_table(RECEIPTS).map_err(db)?;
        let mut size = entries.len().map_err(db)?;
        for request in group {
            let start = size;
            for (offset, packet, side) in &request.receipts {
                receipts.insert((*packet, *side, start + *offset as u64), ()).map_err(db)?;
            }
            for e in &request.entries {
                entries.insert(size, e.as_slice()).map_err(db)?;
                // The leaf, and every perfect node it completes.
                let (mut level, mut index, mut hash) = (0u8, size, leaf_hash(e));
                nodes.insert((level, index), hash.0.as_slice()).map_err(db)?;
                while index % 2 == 1 {
                    let left = {
                        let guard = nodes.get((level, index - 1)).map_err(db)?;
                        let guard = guard.ok_or_else(|| Error::Inconsistent("a left Merkle node is missing".into()))?;
                        node_digest(guard.value())?
                    };
                    hash = node_hash(&left, &hash);
                    level += 1;
                    index /= 2;
                    nodes.insert((level, index), hash.0.as_slice()).map_err(db)?;
                }
                size += 1;
            }
            ranges.push(start..size);
        }
    }
    {
        let mut writes = Tx::new(&tx);
        for write in group.iter().filter_map(|r| r.write.as_ref()) {
            write(&mut writes)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(ranges)
}

/// A stored Merkle node.
pub(crate) fn node_digest(bytes: &[u8]) -> Result<Digest, Error> {
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| Error::Inconsistent("a stored Merkle node is not 32 bytes".into()))?;
    Ok(Digest(bytes))
}
