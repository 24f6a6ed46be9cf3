//! Checkpoints off the writer's path.
//!
//! In WAL mode every commit appends pages to the WAL, and SQLite copies them back into the
//! database file (a checkpoint) on the committing connection once the WAL reaches 1 000 pages:
//! the writer stops to do it. Here a thread of the store's own does it instead, shortly after
//! writes, on its own connection. A passive checkpoint waits for no lock, so writes and reads
//! go on meanwhile (<https://www.sqlite.org/c3ref/wal_checkpoint_v2.html>).

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The pause after each checkpoint: the writes of that time are copied into the file in one
/// pass, each page once however often it changed.
const PAUSE: Duration = Duration::from_millis(100);

/// The WAL's size, in pages, at which the writer checkpoints itself: only if the checkpointer
/// falls that far behind.
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 10_000;

/// The checkpointing thread; dropping this ends it, and waits for it to close its connection.
pub(super) struct Checkpointer {
    written: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread, which checkpoints through `connection`.
    pub(super) fn start(connection: Connection) -> std::io::Result<Self> {
        let (written, writes) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("tower-webhook-sqlite-checkpoint".into())
            .spawn(move || checkpoint_after_writes(&connection, &writes))?;
        Ok(Self {
            written: Some(written),
            thread: Some(thread),
        })
    }

    /// Says that a write committed. Cheap: once a checkpoint is due, further writes only find
    /// the channel full.
    pub(super) fn written(&self) {
        if let Some(written) = &self.written {
            // Full: a checkpoint is already due. Disconnected: the thread is gone, and the
            // writer's own checkpoints still bound the WAL.
            let _ = written.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel wakes the thread at once, whether it waits for a write or
        // pauses; it finishes the checkpoint it may be in, and ends.
        self.written = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint_after_writes(connection: &Connection, writes: &Receiver<()>) {
    let mut due = writes.recv().is_ok();
    while due {
        // A checkpoint that fails (a full disk, say) is tried again after the next write.
        let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        // Writes during the pause make the next checkpoint due at its end.
        due = false;
        let until = Instant::now() + PAUSE;
        loop {
            match writes.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => due = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if !due {
            due = writes.recv().is_ok();
        }
    }
}
