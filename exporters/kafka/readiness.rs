//! Polls the brokers so that `/ready` tells whether this exporter can deliver; the producer
//! itself keeps buffering either way.

use std::time::Duration;

use rdkafka::producer::Producer as _;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Health;

const POLL_INTERVAL: Duration = Duration::from_secs(5);
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

pub fn watch(
    producer: super::Producer,
    component: String,
    brokers: String,
    health: Health,
    stop: CancellationToken,
) {
    health.set_not_ready(&component, format!("connecting to {brokers}"));
    tokio::spawn(async move {
        let mut was_ready = None;
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let client = producer.clone();
            let answer = tokio::task::spawn_blocking(move || {
                client
                    .client()
                    .fetch_metadata(None, METADATA_TIMEOUT)
                    .map(|metadata| metadata.brokers().len())
            })
            .await;
            // A reload may have cleared the health table while the check was in flight.
            if stop.is_cancelled() {
                return;
            }
            match answer {
                Ok(Ok(broker_count)) => {
                    if was_ready != Some(true) {
                        tracing::info!(exporter = %component, %brokers, broker_count, "Kafka is reachable");
                    }
                    health.set_ready(&component);
                    was_ready = Some(true);
                }
                Ok(Err(e)) => {
                    if was_ready != Some(false) {
                        tracing::warn!(exporter = %component, %brokers, error = %e, "Kafka is unreachable; holding data in the producer queue until it answers");
                    }
                    health.set_not_ready(
                        &component,
                        format!("Kafka at {brokers} is unreachable: {e}"),
                    );
                    was_ready = Some(false);
                }
                Err(e) => {
                    tracing::error!(exporter = %component, error = %e, "the broker check panicked")
                }
            }
        }
    });
}
