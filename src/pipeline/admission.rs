//! A receiver's door to its pipelines: hands a decoded payload to every pipeline of its signal,
//! or refuses it whole, and counts items received, accepted and refused.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;

use super::batch::{Batch, Signal};
use super::fanout::FanoutError;
use super::inline::{run_chain, Outcome};
use super::receipt::{AckLevel, Receipt, Receipts};
use super::Routes;
use crate::model::names;

/// What a receiver hands over: the decoded payload, or only walked with its items left in the
/// bytes it came in.
pub use super::batch::Body as Received;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no {0} pipeline takes data from this receiver")]
    NoPipeline(Signal),
    #[error("the pipeline queue is full; retry later")]
    Full,
    #[error("the agent is shutting down; retry later")]
    Closed,
    #[error("the agent is at its memory limit; retry later")]
    MemoryLimit,
    /// A processor refuses whole requests that hold an invalid item (`on_invalid: reject_request`).
    #[error("the request holds invalid items: {0}")]
    Invalid(String),
    /// `ack: on_queue` or `on_delivery`: the items were not queued or delivered in time, or
    /// some were lost on the way; a retry may duplicate what did arrive.
    #[error("the items were not {0} in time; retry")]
    NotAcknowledged(&'static str),
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoPipeline(_) => "no_pipeline",
            Refusal::Full => "queue_full",
            Refusal::Closed => "shutting_down",
            Refusal::MemoryLimit => "memory_limit",
            Refusal::Invalid(_) => "invalid",
            Refusal::NotAcknowledged(_) => "not_acknowledged",
        }
    }
}

impl From<FanoutError> for Refusal {
    fn from(e: FanoutError) -> Refusal {
        match e {
            FanoutError::Full => Refusal::Full,
            FanoutError::Closed => Refusal::Closed,
        }
    }
}

/// What happened to an accepted request: how many items the pipelines refused as invalid,
/// and the first reasons, for the client's `partial_success`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub rejected: usize,
    pub reasons: Vec<String>,
}

struct SignalCounters {
    received: Counter,
    accepted: Counter,
    refused: Counter,
}

/// When a receiver answers its client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// Once every pipeline's first queue took the request (in memory).
    #[default]
    OnAccept,
    /// Once every exporter's disk queue wrote it; where an exporter has none, once delivered.
    OnQueue,
    /// Once every exporter delivered it (Kafka acknowledged it, or it was dead-lettered).
    OnDelivery,
}

impl AckMode {
    fn level(self) -> Option<AckLevel> {
        match self {
            AckMode::OnAccept => None,
            AckMode::OnQueue => Some(AckLevel::Queued),
            AckMode::OnDelivery => Some(AckLevel::Delivered),
        }
    }
}

pub struct Admission {
    receiver: Arc<str>,
    transport: &'static str,
    routes: Routes,
    counters: [SignalCounters; 3],
    ack: AckMode,
    ack_timeout: Duration,
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
            ack: AckMode::OnAccept,
            ack_timeout: Duration::ZERO,
        }
    }

    pub fn with_ack(mut self, ack: AckMode, timeout: Duration) -> Admission {
        self.ack = ack;
        self.ack_timeout = timeout;
        self
    }

    /// A refusal that is already certain before a request is read and decoded: the memory limit
    /// is reached, or a pipeline for `signal` has no room (a hint; `admit` still decides).
    pub fn refuses_now(&self, signal: Signal) -> Option<Refusal> {
        if super::memory::over_limit() {
            return Some(Refusal::MemoryLimit);
        }
        let routes = self.routes.load();
        routes
            .get(signal)?
            .iter()
            .any(|entry| entry.next.is_full())
            .then_some(Refusal::Full)
    }

    /// As `admit`, then waits as long as the ack mode says before the client may hear "done".
    pub async fn admit_acknowledged(
        &self,
        received: impl Into<Received>,
    ) -> Result<Admitted, Refusal> {
        let received = received.into();
        let Some(level) = self.ack.level() else {
            return self.admit(received);
        };
        let (receipt, acknowledged) = Receipt::channel(level);
        let signal = received.signal();
        let admitted = self.admit_with(received, Receipts::one(receipt))?;
        let what = match level {
            AckLevel::Queued => "queued",
            AckLevel::Delivered => "delivered",
        };
        match tokio::time::timeout(self.ack_timeout, acknowledged).await {
            Ok(Ok(true)) => Ok(admitted),
            _ => {
                self.refused_request(signal, Refusal::NotAcknowledged(what).reason());
                Err(Refusal::NotAcknowledged(what))
            }
        }
    }

    fn counters(&self, signal: Signal) -> &SignalCounters {
        &self.counters[signal as usize]
    }

    /// All or nothing: the batch reaches every pipeline of its signal or none. Room is
    /// reserved in every pipeline's first queue and dead-letter queue before any processing,
    /// so that a refused request leaves no trace a retry would duplicate.
    pub fn admit(&self, received: impl Into<Received>) -> Result<Admitted, Refusal> {
        self.admit_with(received, Receipts::default())
    }

    /// As `admit`, with receipts for the batch to carry (a Kafka receiver commits by them).
    pub fn admit_with(
        &self,
        received: impl Into<Received>,
        receipts: Receipts,
    ) -> Result<Admitted, Refusal> {
        let mut batch = Batch::received(received.into(), self.receiver.clone());
        let signal = batch.signal();
        batch.context.receipts = receipts;
        let items = batch.items() as u64;
        let counters = self.counters(signal);
        counters.received.increment(items);
        if items == 0 {
            batch.context.receipts.settle();
            return Ok(Admitted::default());
        }
        match self.route(batch) {
            Ok((admitted, pipelines)) => {
                counters.accepted.increment(items);
                self.routes.ledger().received(items as usize * pipelines);
                Ok(admitted)
            }
            Err(refusal) => {
                counters.refused.increment(items);
                let ledger = self.routes.ledger();
                ledger.received(items as usize);
                ledger.exited(super::ledger::Exit::Refused, items as usize);
                self.refused_request(signal, refusal.reason());
                Err(refusal)
            }
        }
    }

    /// What was admitted, and into how many pipelines.
    fn route(&self, batch: Batch) -> Result<(Admitted, usize), Refusal> {
        if super::memory::over_limit() {
            return Err(Refusal::MemoryLimit);
        }
        let signal = batch.signal();
        let routes = self.routes.load();
        let entries = routes.get(signal).ok_or(Refusal::NoPipeline(signal))?;
        let mut reserved = Vec::with_capacity(entries.len());
        for entry in entries {
            reserved.push((entry.next.try_reserve()?, entry.dead_letter.try_reserve()?));
        }
        let template = batch.clone_context_only();
        let mut results = Vec::with_capacity(entries.len());
        let mut remaining = Some(batch);
        for (index, entry) in entries.iter().enumerate() {
            let input = if index + 1 == entries.len() {
                remaining.take()
            } else {
                remaining.clone()
            };
            let mut outcome = Outcome::default();
            let passed = input.and_then(|b| run_chain(&entry.inline, b, &mut outcome));
            if let Some(reason) = outcome.reject_request.take() {
                return Err(Refusal::Invalid(reason));
            }
            results.push((passed, outcome));
        }
        let mut admitted = Admitted::default();
        for (((next, dead_letter), (passed, mut outcome)), entry) in
            reserved.into_iter().zip(results).zip(entries)
        {
            if let Some(mut passed) = passed {
                passed.context.dead_letter = entry.dead_letter_route.clone();
                next.send(passed);
            }
            if let Some(letters) = outcome.take_dead_letters(&template) {
                dead_letter.send(letters);
            }
            // Pipelines judge the same items; the client hears of the strictest.
            admitted.rejected = admitted.rejected.max(outcome.rejected);
            for reason in outcome.reasons {
                if admitted.reasons.len() < 3 && !admitted.reasons.contains(&reason) {
                    admitted.reasons.push(reason);
                }
            }
        }
        Ok((admitted, entries.len()))
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
