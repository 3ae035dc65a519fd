//! NATS and MQTT: sources that turn broker messages into events, and targets that publish
//! to a broker. (Being written.)

use std::sync::Arc;

pub struct Brokers {}

impl Brokers {
    pub fn new() -> Arc<Brokers> {
        Arc::new(Brokers {})
    }
}
