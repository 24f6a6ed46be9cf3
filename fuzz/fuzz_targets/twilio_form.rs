#![no_main]
//! Twilio through the layer (any body, media type and query; signed deliveries accepted) and
//! `Scheme::sign` with any body, URL and media type.

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::twilio::fuzz_twilio;

fuzz_target!(|data: &[u8]| fuzz_twilio(data));
