//! Reads a topic from its beginning to its end as of the start and reports what the agent
//! delivered: records, items, distinct items and duplicates (by the load generator's send
//! sequence and the item's id) and the end-to-end latency from the send stamp to the record's
//! timestamp (the broker's append time on a topic made by `create-topic`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, Timestamp, TopicPartitionList};
use tributary::pipeline::batch::Signal;

use crate::slim;

#[derive(Default, serde::Serialize)]
pub struct Counts {
    records: u64,
    record_bytes: u64,
    items: u64,
    distinct_items: u64,
    duplicates: u64,
    /// Items in a resource group without the load generator's stamps.
    unstamped_items: u64,
    undecodable_records: u64,
    timestamp_type: &'static str,
    e2e_latency_ms: Percentiles,
}

#[derive(Default, serde::Serialize)]
pub struct Percentiles {
    p50: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p999: f64,
    max: f64,
}

pub fn count(brokers: &str, topic: &str, signal: Signal, wait: Duration) -> Result<Counts, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tributary-kafka-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "104857600")
        .create()
        .map_err(|e| format!("a Kafka consumer for {brokers}: {e}"))?;
    let ends = partition_ends(&consumer, topic, wait)?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0;
    for &(partition, low, high) in &ends {
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(|e| e.to_string())?;
            remaining += 1;
        }
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    let mut latencies: Vec<(f64, u64)> = Vec::new();
    let deadline = Instant::now() + wait;
    let mut done = HashSet::new();
    while done.len() < remaining {
        if Instant::now() > deadline {
            return Err(format!(
                "{topic}: read {} records in {wait:?} and did not reach the end of every partition",
                counts.records
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.map_err(|e| format!("reading {topic}: {e}"))?;
        let high = ends
            .iter()
            .find(|(partition, _, _)| *partition == message.partition())
            .map_or(0, |(_, _, high)| *high);
        if message.offset() + 1 >= high {
            done.insert(message.partition());
        }
        if message.offset() >= high {
            continue;
        }
        counts.records += 1;
        let payload = message.payload().unwrap_or_default();
        counts.record_bytes += (payload.len() + message.key().map_or(0, <[u8]>::len)) as u64;
        let (millis, kind) = match message.timestamp() {
            Timestamp::LogAppendTime(ms) => (Some(ms), "log_append_time"),
            Timestamp::CreateTime(ms) => (Some(ms), "create_time"),
            Timestamp::NotAvailable => (None, "none"),
        };
        counts.timestamp_type = kind;
        let Ok(groups) = slim::groups(signal, payload) else {
            counts.undecodable_records += 1;
            continue;
        };
        for group in groups {
            let items = group.item_keys.len() as u64;
            counts.items += items;
            let Some(sequence) = group.sequence else {
                counts.unstamped_items += items;
                continue;
            };
            for key in group.item_keys {
                if !seen.insert((sequence, key)) {
                    counts.duplicates += 1;
                }
            }
            if let (Some(sent), Some(ms)) = (group.sent_unix_nano, millis) {
                latencies.push((ms as f64 - sent as f64 / 1e6, items));
            }
        }
    }
    counts.distinct_items = seen.len() as u64;
    counts.e2e_latency_ms = percentiles(latencies);
    Ok(counts)
}

/// (partition, low, high) watermarks of every partition, once the topic exists.
fn partition_ends(
    consumer: &BaseConsumer,
    topic: &str,
    wait: Duration,
) -> Result<Vec<(i32, i64, i64)>, String> {
    let deadline = Instant::now() + wait;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| format!("metadata of {topic}: {e}"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !partitions.is_empty() {
            return partitions
                .into_iter()
                .map(|partition| {
                    let (low, high) = consumer
                        .fetch_watermarks(topic, partition, Duration::from_secs(5))
                        .map_err(|e| format!("watermarks of {topic}/{partition}: {e}"))?;
                    Ok((partition, low, high))
                })
                .collect();
        }
        if Instant::now() > deadline {
            return Err(format!("topic {topic} does not exist on the broker"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Percentiles of values weighted by a count.
fn percentiles(mut weighted: Vec<(f64, u64)>) -> Percentiles {
    weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = weighted.iter().map(|(_, n)| n).sum();
    let at = |p: f64| {
        let rank = (total as f64 * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (value, n) in &weighted {
            seen += n;
            if seen >= rank {
                return *value;
            }
        }
        0.0
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: weighted.last().map_or(0.0, |(value, _)| *value),
    }
}
