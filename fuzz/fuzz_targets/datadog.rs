//! Any bytes posted to the datadog webhook (see `webhook.rs` for what is checked).
#![no_main]

mod webhook;

use libfuzzer_sys::fuzz_target;
use triaged::domain::AlertSource;

fuzz_target!(|body: &[u8]| webhook::parse_and_check(AlertSource::Datadog, body));
