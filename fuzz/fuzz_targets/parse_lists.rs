#![no_main]
//! `Scheme::parse` for the presets whose signature header is a list with the timestamp inside
//! (Paddle, PagerDuty, Calendly, WorkOS, Mux): never a panic, and what it returns is in the
//! headers; what `sign` writes, `parse` reads back.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::{ListSubject, fuzz_parse_list, list_subjects};

static SUBJECTS: LazyLock<Vec<ListSubject>> = LazyLock::new(list_subjects);

fuzz_target!(|data: &[u8]| fuzz_parse_list(&SUBJECTS, data));
