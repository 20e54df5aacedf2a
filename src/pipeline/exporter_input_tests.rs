use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::pipeline::batch::{DeadLetter, DeadLetters, Payload, Signal};
use crate::pipeline::receipt::{AckLevel, Receipt, Receipts};
use crate::processors::test_data::{span, traces};
use crate::telemetry::test_metrics;

fn counter(name: &str, exporter: &str) -> u64 {
    test_metrics::counter(name, "exporter", exporter)
}

/// Ten spans with a receipt; the state is 0 pending, 1 settled, 2 failed.
fn watched() -> (Batch, Arc<AtomicUsize>) {
    let mut batch = traces(None, vec![span("s", 1); 10]);
    let state = Arc::new(AtomicUsize::new(0));
    let seen = state.clone();
    batch.context.receipts = Receipts::one(Receipt::new(AckLevel::Delivered, move |ok| {
        seen.store(if ok { 1 } else { 2 }, Ordering::SeqCst)
    }));
    (batch, state)
}

fn letters(count: usize) -> Batch {
    let letters = (0..count)
        .map(|_| DeadLetter::new(Payload::empty(Signal::Traces), "bad", "Invalid", "test", ""))
        .collect();
    Batch::new(
        Payload::DeadLetters(DeadLetters {
            signal: Signal::Traces,
            letters,
        }),
        "test".into(),
    )
}

#[tokio::test]
async fn at_the_deadline_what_is_left_in_the_input_is_undrained_and_its_receipts_fail() {
    test_metrics::install();
    let exporter = "harness/leftovers";
    let (sender, receiver) = mpsc::channel(8);
    let mut states = Vec::new();
    for _ in 0..3 {
        let (batch, state) = watched();
        sender.send(batch).await.unwrap();
        states.push(state);
    }
    sender.send(letters(2)).await.unwrap();
    let input = SharedInput::new(receiver);
    let deadline = CancellationToken::new();
    let outcomes = Outcomes::new(exporter);
    let mut intake = Intake::take(&input, outcomes.clone(), deadline.clone(), true).await;
    let mut first = intake.next().await.expect("a batch");
    outcomes.sent(first.items(), false);
    std::mem::take(&mut first.context.receipts).settle();
    deadline.cancel();
    assert!(
        intake.next().await.is_none(),
        "nothing is taken past the deadline"
    );
    drop(intake);

    assert_eq!(counter(names::EXPORTER_RECEIVED, exporter), 32);
    assert_eq!(counter(names::EXPORTER_SENT, exporter), 10);
    assert_eq!(counter(names::EXPORTER_UNDRAINED, exporter), 22);
    let states: Vec<usize> = states.iter().map(|s| s.load(Ordering::SeqCst)).collect();
    assert_eq!(states, [1, 2, 2]);
    assert!(input.is_finished(), "the input is closed and empty");
    assert!(sender.send(letters(1)).await.is_err(), "closed to senders");
}

#[tokio::test]
async fn an_incarnation_that_panics_fails_what_it_held_once_and_counts_nothing_after() {
    test_metrics::install();
    let exporter = "harness/panics";
    let (sender, receiver) = mpsc::channel(8);
    for _ in 0..2 {
        sender.send(watched().0).await.unwrap();
    }
    let input = SharedInput::new(receiver);
    let deadline = CancellationToken::new();
    let outcomes = Outcomes::new(exporter);
    let (run_input, run_outcomes, run_deadline) =
        (input.clone(), outcomes.clone(), deadline.clone());
    let task = tokio::spawn(run_incarnation(
        outcomes.clone(),
        deadline.clone(),
        async move {
            let mut intake = Intake::take(&run_input, run_outcomes, run_deadline, true).await;
            let _held = intake.next().await;
            let _also_held = intake.next().await;
            intake.outcomes().sent(4, false);
            panic!("on demand");
        },
    ));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(counter(names::EXPORTER_RECEIVED, exporter), 20);
    assert_eq!(counter(names::EXPORTER_SENT, exporter), 4);
    assert_eq!(counter(names::EXPORTER_FAILED, exporter), 16);
    // A delivery report arriving from a task the dead incarnation left behind.
    outcomes.sent(16, false);
    outcomes.failed(16, false);
    assert_eq!(counter(names::EXPORTER_SENT, exporter), 4);
    assert_eq!(counter(names::EXPORTER_FAILED, exporter), 16);
    // The input survived: the next incarnation takes it over.
    sender.send(watched().0).await.unwrap();
    let mut next = Intake::take(&input, Outcomes::new(exporter), deadline, true).await;
    assert_eq!(next.next().await.map(|b| b.items()), Some(10));
}

#[tokio::test]
async fn at_the_deadline_what_an_incarnation_still_holds_is_undrained() {
    test_metrics::install();
    let exporter = "harness/in-flight";
    let (sender, receiver) = mpsc::channel(8);
    sender.send(watched().0).await.unwrap();
    sender.send(letters(3)).await.unwrap();
    let input = SharedInput::new(receiver);
    let deadline = CancellationToken::new();
    let outcomes = Outcomes::new(exporter);
    let (run_input, run_outcomes, run_deadline) =
        (input.clone(), outcomes.clone(), deadline.clone());
    let (took, taken) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(run_incarnation(
        outcomes.clone(),
        deadline.clone(),
        async move {
            let mut intake = Intake::take(&run_input, run_outcomes, run_deadline, true).await;
            let held = (intake.next().await, intake.next().await);
            let _ = took.send(());
            // "In flight" until the deadline.
            intake.deadline_passed().cancelled().await;
            drop(held);
        },
    ));
    taken.await.unwrap();
    deadline.cancel();
    task.await.unwrap();
    assert_eq!(counter(names::EXPORTER_RECEIVED, exporter), 13);
    assert_eq!(counter(names::EXPORTER_UNDRAINED, exporter), 13);
    assert_eq!(counter(names::EXPORTER_FAILED, exporter), 0);
}

#[tokio::test]
async fn behind_a_disk_queue_batches_are_not_counted_in_twice() {
    test_metrics::install();
    let exporter = "harness/behind-queue";
    let (sender, receiver) = mpsc::channel(8);
    sender.send(watched().0).await.unwrap();
    let input = SharedInput::new(receiver);
    let deadline = CancellationToken::new();
    let outcomes = Outcomes::new(exporter);
    let mut intake = Intake::take(&input, outcomes.clone(), deadline.clone(), false).await;
    let batch = intake.next().await.expect("a batch");
    assert_eq!(batch.items(), 10);
    assert_eq!(counter(names::EXPORTER_RECEIVED, exporter), 0);
}
