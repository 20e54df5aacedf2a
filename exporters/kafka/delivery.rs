//! What a delivery report means: delivered, worth producing again, or never going to pass.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// librdkafka reported success without an offset. It "implicitly acks" a record whose own
    /// request failed as soon as a later one on the partition succeeds, and a partition leader
    /// that has just been elected (a new topic, a broker restart) can accept the later one
    /// without the earlier: the record is then reported delivered and is not in the log
    /// (confluent-kafka-go#921, seen here on topics the exporter creates). Only an offset proves
    /// the write, so such a record is produced again: a possible duplicate, never a silent loss.
    #[error("Kafka acknowledged the record without an offset (partition {partition}); it may not be in the log")]
    Unconfirmed { partition: i32 },
}

impl DeliveryError {
    /// Errors that producing again cannot fix.
    pub fn is_permanent(&self) -> bool {
        use RDKafkaErrorCode::*;
        let DeliveryError::Kafka(error) = self else {
            return false;
        };
        matches!(
            error.rdkafka_error_code(),
            Some(
                UnknownTopicOrPartition
                    | UnknownTopic
                    | TopicAuthorizationFailed
                    | ClusterAuthorizationFailed
                    | MessageSizeTooLarge
                    | InvalidMessageSize
                    | MessageBatchTooLarge
                    | InvalidRecord
                    | InvalidTopic
                    | InvalidRequiredAcks
                    | PolicyViolation
            )
        )
    }

    /// The DLQ message's `error_type`.
    pub fn error_type(&self) -> &'static str {
        use RDKafkaErrorCode::*;
        let DeliveryError::Kafka(error) = self else {
            return "DeliveryUnconfirmed";
        };
        match error.rdkafka_error_code() {
            Some(UnknownTopicOrPartition | UnknownTopic | InvalidTopic) => "UnknownTopic",
            Some(TopicAuthorizationFailed | ClusterAuthorizationFailed) => "AuthorizationFailed",
            Some(MessageSizeTooLarge | InvalidMessageSize | MessageBatchTooLarge) => {
                "RecordTooLarge"
            }
            Some(MessageTimedOut) => "DeliveryTimedOut",
            _ => "KafkaDeliveryError",
        }
    }
}

/// Reads one delivery report. `offsets_expected` is false only with `acks=0`, where the broker
/// never answers and no report carries an offset.
pub fn outcome<Canceled>(
    report: Result<OwnedDeliveryResult, Canceled>,
    offsets_expected: bool,
) -> Result<Delivery, DeliveryError> {
    match report {
        Ok(Ok(delivered)) if offsets_expected && delivered.offset < 0 => {
            Err(DeliveryError::Unconfirmed {
                partition: delivered.partition,
            })
        }
        Ok(Ok(delivered)) => Ok(delivered),
        Ok(Err((error, _))) => Err(error.into()),
        Err(_) => Err(KafkaError::Canceled.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(offset: i64) -> Delivery {
        Delivery {
            partition: 2,
            offset,
            timestamp: rdkafka::Timestamp::NotAvailable,
        }
    }

    #[test]
    fn a_report_without_an_offset_is_not_a_delivery_when_the_broker_answers() {
        let error = outcome::<()>(Ok(Ok(delivered(-1001))), true).unwrap_err();
        assert!(matches!(error, DeliveryError::Unconfirmed { partition: 2 }));
        assert!(!error.is_permanent(), "it is produced again");
        assert_eq!(error.error_type(), "DeliveryUnconfirmed");
        assert!(
            outcome::<()>(Ok(Ok(delivered(-1001))), false).is_ok(),
            "acks=0"
        );
        assert_eq!(outcome::<()>(Ok(Ok(delivered(7))), true).unwrap().offset, 7);
        assert!(matches!(
            outcome(Err(()), true),
            Err(DeliveryError::Kafka(KafkaError::Canceled))
        ));
    }

    #[test]
    fn errors_that_another_try_cannot_fix_are_permanent() {
        let refused = |code| DeliveryError::from(KafkaError::MessageProduction(code));
        assert!(refused(RDKafkaErrorCode::MessageSizeTooLarge).is_permanent());
        assert_eq!(
            refused(RDKafkaErrorCode::UnknownTopicOrPartition).error_type(),
            "UnknownTopic"
        );
        assert!(!refused(RDKafkaErrorCode::MessageTimedOut).is_permanent());
        assert!(!DeliveryError::from(KafkaError::Canceled).is_permanent());
    }
}
