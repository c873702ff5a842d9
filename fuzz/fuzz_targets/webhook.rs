//! What every webhook fuzz target checks: any bytes posted to a sender's route are parsed
//! into alerts or refused with an error, never a panic, and every alert returned is within
//! the store's limits (identifiers of at most 256 bytes, no NUL in stored text).

use triaged::domain::AlertSource;
use triaged::intake::{Delivery, parse};

pub fn parse_and_check(source: AlertSource, body: &[u8]) {
    let delivery = Delivery {
        body,
        header_delivery_id: Some("fuzz-delivery"),
        received_at: chrono::DateTime::from_timestamp(1_795_227_000, 0).unwrap(),
        keep_raw: false,
    };
    if let Ok(alerts) = parse(source, &delivery) {
        for alert in alerts {
            assert!(alert.delivery_id.len() <= 256 && alert.dedup_key.len() <= 256);
            assert!(!alert.title.contains('\0'));
            assert!(!alert.message.unwrap_or_default().contains('\0'));
        }
    }
}
