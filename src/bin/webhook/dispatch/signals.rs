//! SIGINT and SIGTERM: the first asks the worker to stop gracefully, the second ends the
//! process at once.

use std::sync::{Mutex, PoisonError};

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// A signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop(i32);

impl Stop {
    /// `SIGINT` or `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self.0 {
            SIGINT => "SIGINT",
            _ => "SIGTERM",
        }
    }
}

#[cfg(unix)]
static LISTENERS: Mutex<Option<(Signal, Signal)>> = Mutex::new(None);

/// Starts listening for SIGINT and SIGTERM, so that one arriving before [`stop`] is awaited is
/// not lost (within a tokio runtime).
pub(crate) fn install() {
    #[cfg(unix)]
    if let (Ok(interrupt), Ok(terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        *LISTENERS.lock().unwrap_or_else(PoisonError::into_inner) = Some((interrupt, terminate));
    }
}

/// Waits until SIGINT or SIGTERM arrives (after [`install`]); from then on the next one ends
/// the process.
pub(crate) async fn stop() -> Stop {
    #[cfg(unix)]
    {
        let listeners = LISTENERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((mut interrupt, mut terminate)) = listeners else {
            return std::future::pending().await;
        };
        let first = tokio::select! {
            _ = interrupt.recv() => Stop(SIGINT),
            _ = terminate.recv() => Stop(SIGTERM),
        };
        tokio::spawn(async move {
            let second = tokio::select! {
                _ = interrupt.recv() => SIGINT,
                _ = terminate.recv() => SIGTERM,
            };
            // As the default action would: the shell's convention for death by a signal.
            std::process::exit(128 + second);
        });
        first
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Stop(SIGINT)
    }
}
