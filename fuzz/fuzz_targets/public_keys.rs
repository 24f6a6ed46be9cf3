#![no_main]
//! Public and private keys as text for Discord, SendGrid and Standard Webhooks: never a panic,
//! the known keys taken in every format, and a changed key never accepting their signatures.

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::keys::fuzz_keys;

fuzz_target!(|data: &[u8]| fuzz_keys(data));
