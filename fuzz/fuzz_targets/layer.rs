#![no_main]
//! The whole layer, any scheme, arbitrary headers and bodies in arbitrary chunks.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_webhook_fuzz::{Layers, fuzz_layer};

static LAYERS: LazyLock<Layers> = LazyLock::new(Layers::new);

fuzz_target!(|data: &[u8]| fuzz_layer(&LAYERS, data));
