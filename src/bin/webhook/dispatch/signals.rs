//! SIGINT and SIGTERM: the first asks the worker to stop gracefully, the second ends the
//! process at once (the default action, restored by the first).
//!
//! The crate's `cli` feature does not build tokio's `signal` module, so the handler is
//! installed with the C library's `signal(2)`, which POSIX lists as async-signal-safe; the
//! handler only stores the signal's number, which an async task polls.

use std::time::Duration;

/// How often the waiting task looks for a signal.
const POLL: Duration = Duration::from_millis(50);

/// A signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop(i32);

impl Stop {
    /// `SIGINT`, `SIGTERM`, or the number.
    pub(crate) fn name(self) -> String {
        match self.0 {
            imp::SIGINT => "SIGINT".into(),
            imp::SIGTERM => "SIGTERM".into(),
            other => format!("signal {other}"),
        }
    }
}

/// Starts listening for SIGINT and SIGTERM.
pub(crate) fn install() {
    imp::install();
}

/// Waits until SIGINT or SIGTERM arrives (after [`install`]).
pub(crate) async fn stop() -> Stop {
    loop {
        if let Some(signal) = imp::received() {
            return Stop(signal);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    use std::sync::atomic::{AtomicI32, Ordering};

    // The same numbers on Linux, the BSDs and macOS.
    pub(super) const SIGINT: i32 = 2;
    pub(super) const SIGTERM: i32 = 15;
    const SIG_DFL: usize = 0;

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    unsafe extern "C" {
        /// `sighandler_t signal(int signum, sighandler_t handler)`, from the C library that
        /// std links on every Unix.
        fn signal(signum: i32, handler: usize) -> usize;
    }

    extern "C" fn on_signal(signum: i32) {
        RECEIVED.store(signum, Ordering::SeqCst);
        // SAFETY: `signal` is async-signal-safe (POSIX.1-2008, 2.4.3); SIG_DFL is a valid
        // disposition. The next SIGINT or SIGTERM ends the process as if unhandled.
        unsafe {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
        }
    }

    pub(super) fn install() {
        let handler = on_signal as extern "C" fn(i32) as usize;
        // SAFETY: `on_signal` is an `extern "C" fn(int)` that only does async-signal-safe
        // things (an atomic store and `signal`).
        unsafe {
            signal(SIGINT, handler);
            signal(SIGTERM, handler);
        }
    }

    pub(super) fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            signum => Some(signum),
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) const SIGINT: i32 = 2;
    pub(super) const SIGTERM: i32 = 15;

    pub(super) fn install() {}

    pub(super) fn received() -> Option<i32> {
        None
    }
}
