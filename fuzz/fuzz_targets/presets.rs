#![no_main]
//! Every preset in `scheme::PRESETS`: its parser on arbitrary headers, the layer on arbitrary
//! requests, and signed deliveries accepted whenever signing succeeds.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::presets::{Preset, fuzz_presets, presets};

static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(presets);

fuzz_target!(|data: &[u8]| fuzz_presets(&PRESETS, data));
