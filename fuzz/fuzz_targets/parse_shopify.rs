#![no_main]
//! `Scheme::parse` for the shopify scheme: never a panic, and what it returns is in the headers.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::{Subject, fuzz_parse, shopify};

static SUBJECT: LazyLock<Subject> = LazyLock::new(shopify);

fuzz_target!(|data: &[u8]| fuzz_parse(&SUBJECT, data));
