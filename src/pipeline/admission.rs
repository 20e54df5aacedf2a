//! A receiver's door to its pipelines: hands a decoded payload to every pipeline of its signal,
//! or refuses it whole, and counts items received, accepted and refused.

use std::sync::Arc;

use metrics::Counter;

use super::batch::{Batch, Payload, Signal};
use super::fanout::FanoutError;
use super::Routes;
use crate::telemetry::names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no {0} pipeline takes data from this receiver")]
    NoPipeline(Signal),
    #[error("the pipeline queue is full; retry later")]
    Full,
    #[error("the agent is shutting down; retry later")]
    Closed,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NoPipeline(_) => "no_pipeline",
            Refusal::Full => "queue_full",
            Refusal::Closed => "shutting_down",
        }
    }
}

struct SignalCounters {
    received: Counter,
    accepted: Counter,
    refused: Counter,
}

pub struct Admission {
    receiver: Arc<str>,
    transport: &'static str,
    routes: Routes,
    counters: [SignalCounters; 3],
}

impl Admission {
    pub fn new(receiver: Arc<str>, transport: &'static str, routes: Routes) -> Admission {
        let counters = Signal::ALL.map(|signal| {
            let labels = [
                ("receiver", receiver.to_string()),
                ("signal", signal.as_str().to_string()),
                ("transport", transport.to_string()),
            ];
            SignalCounters {
                received: metrics::counter!(names::RECEIVER_RECEIVED, &labels),
                accepted: metrics::counter!(names::RECEIVER_ACCEPTED, &labels),
                refused: metrics::counter!(names::RECEIVER_REFUSED, &labels),
            }
        });
        Admission {
            receiver,
            transport,
            routes,
            counters,
        }
    }

    fn counters(&self, signal: Signal) -> &SignalCounters {
        &self.counters[signal as usize]
    }

    /// All or nothing: the batch reaches every pipeline of its signal or none.
    pub fn admit(&self, payload: Payload) -> Result<(), Refusal> {
        let signal = payload.signal();
        let batch = Batch::new(payload, self.receiver.clone());
        let items = batch.items() as u64;
        let counters = self.counters(signal);
        counters.received.increment(items);
        if items == 0 {
            return Ok(());
        }
        let outcome = match self.routes.get(signal) {
            None => Err(Refusal::NoPipeline(signal)),
            Some(route) => route.try_send(batch).map_err(|e| match e {
                FanoutError::Full => Refusal::Full,
                FanoutError::Closed => Refusal::Closed,
            }),
        };
        match outcome {
            Ok(()) => counters.accepted.increment(items),
            Err(refusal) => {
                counters.refused.increment(items);
                self.refused_request(signal, refusal.reason());
            }
        }
        outcome
    }

    /// Requests refused before their items could be counted (bad encoding, bad auth, ...).
    pub fn refused_request(&self, signal: Signal, reason: &'static str) {
        metrics::counter!(
            names::RECEIVER_REFUSED_REQUESTS,
            "receiver" => self.receiver.to_string(),
            "signal" => signal.as_str(),
            "transport" => self.transport,
            "reason" => reason,
        )
        .increment(1);
    }

    pub fn receiver(&self) -> &str {
        &self.receiver
    }
}
