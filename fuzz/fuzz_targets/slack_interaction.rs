//! Any signed form body posted to `/slack/interactions`: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triaged::intake::slack::parse_interaction;

fuzz_target!(|body: &[u8]| {
    let _ = parse_interaction(body);
});
