use super::*;
use crate::pipeline::batch::{Payload, Signal};

fn batch() -> Batch {
    Batch::new(Payload::empty(Signal::Logs), "test".into())
}

#[tokio::test]
async fn every_consumer_gets_the_batch() {
    let (tx1, mut rx1) = mpsc::channel(1);
    let (tx2, mut rx2) = mpsc::channel(1);
    let fanout = Fanout::new(vec![tx1, tx2]);
    fanout.send(batch()).await.unwrap();
    assert_eq!(rx1.recv().await.unwrap(), batch());
    assert_eq!(rx2.recv().await.unwrap(), batch());
}

#[test]
fn try_send_refuses_all_when_any_consumer_is_full() {
    let (tx1, mut rx1) = mpsc::channel(2);
    let (tx2, mut rx2) = mpsc::channel(1);
    let fanout = Fanout::new(vec![tx1, tx2]);
    fanout.try_send(batch()).unwrap();
    assert_eq!(fanout.try_send(batch()), Err(FanoutError::Full));
    assert!(rx1.try_recv().is_ok());
    assert!(rx1.try_recv().is_err(), "the refused batch reached no one");
    assert!(rx2.try_recv().is_ok());
}

#[test]
fn try_send_reports_a_closed_consumer() {
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    assert_eq!(
        Fanout::new(vec![tx]).try_send(batch()),
        Err(FanoutError::Closed)
    );
}
