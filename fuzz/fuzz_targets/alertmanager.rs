//! Any bytes posted to the alertmanager webhook: the parser answers alerts or an error, never panics,
//! and every alert it answers is within the store's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triaged::domain::AlertSource;
use triaged::intake::{Delivery, parse};

fuzz_target!(|body: &[u8]| {
    let delivery = Delivery {
        body,
        header_delivery_id: Some("fuzz-delivery"),
        received_at: chrono::DateTime::from_timestamp(1_795_227_000, 0).unwrap(),
        keep_raw: false,
    };
    if let Ok(alerts) = parse(AlertSource::Alertmanager, &delivery) {
        for alert in alerts {
            assert!(alert.delivery_id.len() <= 256 && alert.dedup_key.len() <= 256);
            assert!(!alert.title.contains('\0'));
            assert!(!alert.message.unwrap_or_default().contains('\0'));
        }
    }
});
