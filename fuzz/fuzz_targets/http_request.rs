//! libFuzzer target `http_request`: one input through `autocapture_gates::hostile::targets`.
#![no_main]

use autocapture_gates::hostile::targets::{Target, fuzz_one};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_one(Target::HttpRequest, data));
