//! Metric names, in one place so that dashboards and tests agree with the code.

pub const RECEIVER_RECEIVED: &str = "tributary_receiver_received_items_total";
pub const RECEIVER_ACCEPTED: &str = "tributary_receiver_accepted_items_total";
pub const RECEIVER_REFUSED: &str = "tributary_receiver_refused_items_total";
pub const RECEIVER_REFUSED_REQUESTS: &str = "tributary_receiver_refused_requests_total";
pub const PROCESSOR_RECEIVED: &str = "tributary_processor_received_items_total";
/// Labelled by `outcome`: passed, dropped, dead_lettered, refused, undrained, failed.
pub const PROCESSOR_ITEMS: &str = "tributary_processor_items_total";
pub const BATCH_SIZE: &str = "tributary_processor_batch_send_size_items";
pub const EXPORTER_RECEIVED: &str = "tributary_exporter_received_items_total";
pub const EXPORTER_SENT: &str = "tributary_exporter_sent_items_total";
pub const EXPORTER_FAILED: &str = "tributary_exporter_failed_items_total";
pub const EXPORTER_UNDRAINED: &str = "tributary_exporter_undrained_items_total";
pub const EXPORTER_DEAD_LETTERED: &str = "tributary_exporter_dead_lettered_items_total";
/// Labelled by `kind` and `component`: each panic or unexpected exit of a component's task.
pub const COMPONENT_FAILURES: &str = "tributary_component_failures_total";
pub const RESIDENT_BYTES: &str = "tributary_process_resident_memory_bytes";
pub const KAFKA_DELIVERY_SECONDS: &str = "tributary_exporter_kafka_delivery_latency_seconds";
/// Items in an exporter's disk queue not yet settled by the exporter.
pub const QUEUE_ITEMS: &str = "tributary_queue_items";
pub const QUEUE_BYTES: &str = "tributary_queue_size_bytes";
/// Items an earlier run left in a disk queue, delivered after the restart.
pub const QUEUE_RECOVERED: &str = "tributary_queue_recovered_items_total";
/// Records cut short by a crash (never acknowledged as queued) or unreadable.
pub const QUEUE_TORN_RECORDS: &str = "tributary_queue_torn_records_total";
pub const QUEUE_WRITE_ERRORS: &str = "tributary_queue_write_errors_total";
/// Records the Kafka receiver could not read (a header key that is not UTF-8, a value that does
/// not decode, a timestamp out of range): each went to the dead letter, and consumption went on.
pub const RECEIVER_KAFKA_POISON_RECORDS: &str = "tributary_receiver_kafka_poison_records_total";
/// OTLP/HTTP connections closed at accept because `max_connections` were open.
pub const RECEIVER_HTTP_CONNECTIONS_REFUSED: &str =
    "tributary_receiver_http_connections_refused_total";
