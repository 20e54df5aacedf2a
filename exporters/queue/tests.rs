use std::io::Write;
use std::path::{Path, PathBuf};

use bytesize::ByteSize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::pipeline::batch::Batch;
use crate::pipeline::exporter_input::{Intake, Outcomes};
use crate::pipeline::receipt::{AckLevel, Receipt, Receipts};
use crate::pipeline::stage_input::SharedInput;
use crate::processors::test_data::{span, traces};

fn directory(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tributary-queue-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn config(directory: &Path) -> SendingQueueConfig {
    SendingQueueConfig {
        storage: Storage::Disk,
        directory: Some(directory.to_path_buf()),
        segment_size: ByteSize::kib(4),
        max_size: ByteSize::mib(1),
        fsync: FsyncPolicy::Never,
        ..Default::default()
    }
}

fn id() -> ComponentId {
    ComponentId::parse("kafka/test").unwrap()
}

fn batch(name: &str) -> Batch {
    traces(None, vec![span(name, 1); 20])
}

fn names(batch: &mut Batch) -> String {
    match batch.payload() {
        crate::pipeline::batch::Payload::Traces(request) => {
            request.resource_spans[0].scope_spans[0].spans[0]
                .name
                .clone()
        }
        _ => unreachable!(),
    }
}

fn segments(directory: &Path) -> usize {
    std::fs::read_dir(directory)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

/// Runs the queue with `sent` as input; the "exporter" settles what `settle` says, in order.
async fn run_queue(
    config: &SendingQueueConfig,
    sent: Vec<Batch>,
    settle: impl Fn(usize) -> bool,
) -> Vec<String> {
    run_queue_limited(config, sent, settle, segment::MAX_RECORD_BODY).await
}

/// As `run_queue`, with records limited to `max_record_body` bytes.
async fn run_queue_limited(
    config: &SendingQueueConfig,
    sent: Vec<Batch>,
    settle: impl Fn(usize) -> bool,
    max_record_body: u32,
) -> Vec<String> {
    let outcomes = Outcomes::new("kafka/test");
    let (queue, acked) = DiskQueue::open(config, &id(), outcomes.clone()).unwrap();
    let queue = queue.with_max_record_body(max_record_body);
    let (input, queue_input) = mpsc::channel(8);
    let (to_exporter, mut exporter) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let intake = Intake::take(&SharedInput::new(queue_input), outcomes, stop.clone(), true).await;
    let task = tokio::spawn(queue.run(acked, intake, to_exporter));
    for batch in sent {
        input.send(batch).await.unwrap();
    }
    drop(input);
    let mut seen = Vec::new();
    for index in 0.. {
        let idle = std::time::Duration::from_millis(300);
        let Ok(Some(mut batch)) = tokio::time::timeout(idle, exporter.recv()).await else {
            break;
        };
        seen.push(names(&mut batch));
        let receipts = std::mem::take(&mut batch.context.receipts);
        if settle(index) {
            receipts.settle();
        } else {
            std::mem::forget(receipts);
        }
    }
    // The queue ends on its own once everything is settled; else it stops at the "deadline".
    let mut task = task;
    if tokio::time::timeout(std::time::Duration::from_millis(500), &mut task)
        .await
        .is_err()
    {
        stop.cancel();
        task.await.unwrap();
    }
    seen
}

#[tokio::test]
async fn batches_pass_in_order_and_delivered_segments_are_deleted() {
    let directory = directory("order");
    let config = config(&directory);
    let sent: Vec<Batch> = (0..30).map(|i| batch(&format!("b{i}"))).collect();
    let seen = run_queue(&config, sent, |_| true).await;
    let expected: Vec<String> = (0..30).map(|i| format!("b{i}")).collect();
    assert_eq!(seen, expected);
    assert!(segments(&directory) <= 1, "only the active segment is left");
}

#[tokio::test]
async fn what_was_not_settled_is_delivered_again_after_a_restart() {
    let directory = directory("restart");
    let config = config(&directory);
    let sent: Vec<Batch> = (0..30).map(|i| batch(&format!("b{i}"))).collect();
    // The first run settles the first ten only (an agent killed mid-delivery).
    let first = run_queue(&config, sent, |index| index < 10).await;
    assert_eq!(first.len(), 30);
    let second = run_queue(&config, Vec::new(), |_| true).await;
    assert!(
        second.len() >= 20,
        "the unsettled twenty come back: {second:?}"
    );
    assert_eq!(second.last().map(String::as_str), Some("b29"));
    assert!(
        !second.contains(&"b0".to_string()),
        "settled before the restart"
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_the_rest_recovers() {
    let directory = directory("torn");
    let config = config(&directory);
    let sent: Vec<Batch> = (0..3).map(|i| batch(&format!("b{i}"))).collect();
    run_queue(&config, sent, |_| false).await;
    let last = std::fs::read_dir(&directory)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    let recovered = run_queue(&config, Vec::new(), |_| true).await;
    assert_eq!(recovered, vec!["b0", "b1", "b2"]);
}

#[tokio::test]
async fn on_queue_receipts_settle_once_written_and_delivery_receipts_once_delivered() {
    let directory = directory("receipts");
    let config = config(&directory);
    let (queued, queued_done) = Receipt::channel(AckLevel::Queued);
    let (delivered, delivered_done) = Receipt::channel(AckLevel::Delivered);
    let mut first = batch("queued");
    first.context.receipts = Receipts::one(queued);
    let mut second = batch("delivered");
    second.context.receipts = Receipts::one(delivered);
    let seen = run_queue(&config, vec![first, second], |index| index == 1).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(
        queued_done.await,
        Ok(true),
        "written is enough for on_queue"
    );
    assert_eq!(delivered_done.await, Ok(true));
}

#[tokio::test]
async fn a_batch_over_the_record_limit_is_refused_not_written_and_the_rest_pass() {
    let directory = directory("too-large");
    let config = config(&directory);
    let small_len = segment::encode(0, &batch("small"), u32::MAX)
        .unwrap()
        .unwrap()
        .len() as u32;
    // Room for a small batch (names differ by a few bytes); 200 spans are far over it.
    let limit = small_len + 16;
    let (refused, refused_done) = Receipt::channel(AckLevel::Queued);
    let mut large = traces(None, vec![span("large", 1); 200]);
    large.context.receipts = Receipts::one(refused);
    let sent = vec![batch("before"), large, batch("after")];
    let seen = run_queue_limited(&config, sent, |_| true, limit).await;
    assert_eq!(
        seen,
        vec!["before", "after"],
        "the large batch never reached the exporter"
    );
    assert_eq!(
        refused_done.await,
        Ok(false),
        "its sender hears it was refused"
    );
    for entry in std::fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "seg") {
            let scanned = segment::scan(&path).unwrap();
            assert!(!scanned.torn, "nothing unreadable was written");
        }
    }
    let refused = segment::encode(7, &traces(None, vec![span("large", 1); 200]), limit);
    let Err(error) = refused else {
        panic!("expected the encoder to refuse the batch");
    };
    assert_eq!((error.items, error.limit), (200, limit));
    assert!(error.bytes > u64::from(limit));
    assert!(error.to_string().contains("encodes to"), "{error}");
}

#[test]
fn a_disk_queue_needs_room_for_a_segment() {
    let directory = directory("validate");
    let mut config = config(&directory);
    config.max_size = ByteSize::kib(1);
    let errors = config.validate();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].to_string().contains("sending_queue.max_size"));
}

#[tokio::test]
async fn a_directory_holds_one_queue_at_a_time_and_is_free_once_it_closes() {
    let directory = directory("lock");
    let config = config(&directory);
    let (first, _acked) = DiskQueue::open(&config, &id(), Outcomes::new("kafka/test")).unwrap();
    let pid = std::fs::read_to_string(directory.join(LOCK_FILE)).unwrap();
    assert_eq!(pid.trim(), std::process::id().to_string());
    let second = DiskQueue::open(
        &config,
        &ComponentId::parse("file/other").unwrap(),
        Outcomes::new("file/other"),
    );
    assert!(
        matches!(second, Err(QueueError::HeldHere { .. })),
        "{:?}",
        second.err()
    );
    // A reload opens the queue again while the previous instance closes: it waits for it.
    let closing = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(first);
    });
    let reopened = DiskQueue::open_when_free(&config, &id(), Outcomes::new("kafka/test")).await;
    assert!(reopened.is_ok(), "{:?}", reopened.err());
    closing.await.unwrap();
}
