#![no_main]
//! `Scheme::parse` for the discord scheme: never a panic, and what it returns is in the headers.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::{Subject, discord, fuzz_parse};

static SUBJECT: LazyLock<Subject> = LazyLock::new(discord);

fuzz_target!(|data: &[u8]| fuzz_parse(&SUBJECT, data));
