#![no_main]
//! `Timestamp::parse_as` and `TimestampFormat::format` in every format, and the layer's window
//! at extreme "now" values and tolerances: never a panic, and the answers computed apart.

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::timestamps::fuzz_timestamps;

fuzz_target!(|data: &[u8]| fuzz_timestamps(data));
