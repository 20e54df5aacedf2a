//! A batch's records handed to librdkafka on the thread that encoded them: librdkafka copies
//! each record in, which for a batch of 8192 spans takes milliseconds that would otherwise hold
//! the runtime's worker, where the receivers answer their clients.

use std::sync::Arc;

use rdkafka::message::OwnedHeaders;
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::FutureRecord;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::encode::OutRecord;
use super::exporter::MAX_IN_FLIGHT_KIB;

/// Records librdkafka took, each with its share of the in-flight bound and its delivery, and
/// those left for the exporter task to wait for room (in order: once one waits, the rest wait
/// behind it).
pub struct FirstSends {
    pub sent: Vec<(OutRecord, OwnedSemaphorePermit, DeliveryFuture)>,
    pub unsent: Vec<OutRecord>,
}

/// Hands records over while the in-flight bound and librdkafka's queue have room, and the
/// shutdown deadline has not passed (the exporter task counts what is left then).
pub fn send_while_room(
    producer: &super::Producer,
    in_flight_kib: &Arc<Semaphore>,
    deadline_passed: &CancellationToken,
    records: Vec<OutRecord>,
) -> FirstSends {
    let mut sends = FirstSends {
        sent: Vec::with_capacity(records.len()),
        unsent: Vec::new(),
    };
    let mut records = records.into_iter();
    for record in records.by_ref() {
        if deadline_passed.is_cancelled() {
            sends.unsent.push(record);
            break;
        }
        let Ok(permit) = in_flight_kib
            .clone()
            .try_acquire_many_owned(kib_of(&record))
        else {
            sends.unsent.push(record);
            break;
        };
        match producer.send_result(future_record(&record, record.owned_headers())) {
            Ok(delivery) => sends.sent.push((record, permit, delivery)),
            Err(_) => {
                // Queue full or refused at once: the exporter task's attempt says which.
                sends.unsent.push(record);
                break;
            }
        }
    }
    sends.unsent.extend(records);
    sends
}

/// The record's share of the in-flight bound.
pub fn kib_of(record: &OutRecord) -> u32 {
    u32::try_from(record.value.len() / 1024 + 1)
        .unwrap_or(u32::MAX)
        .min(MAX_IN_FLIGHT_KIB)
}

pub fn future_record(out: &OutRecord, headers: OwnedHeaders) -> FutureRecord<'_, [u8], [u8]> {
    let record = FutureRecord::<[u8], [u8]>::to(&out.topic)
        .payload(&out.value)
        .headers(headers);
    match &out.key {
        Some(key) => record.key(key.as_bytes()),
        None => record,
    }
}
