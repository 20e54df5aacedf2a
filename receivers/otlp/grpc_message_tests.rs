use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

use super::*;

/// Yields its chunks, then stays pending forever: a client that stops sending.
struct Chunks {
    chunks: Vec<Bytes>,
    then_hold: bool,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            return if self.then_hold {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        Poll::Ready(Some(Ok(Frame::data(self.chunks.remove(0)))))
    }
}

fn framed(message: &[u8], declared: u32) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&declared.to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

fn split(bytes: &[u8], size: usize) -> Vec<Bytes> {
    bytes.chunks(size).map(Bytes::copy_from_slice).collect()
}

#[tokio::test]
async fn a_message_in_pieces_is_read_whole_and_replayed_as_sent() {
    let sent = framed(b"hello, otlp", 11);
    let body = Chunks {
        chunks: split(&sent, 3),
        then_hold: false,
    };
    let replayed = read_first_message(body, 1024, || false).await.unwrap();
    let collected = replayed.collect().await.unwrap().to_bytes();
    assert_eq!(collected, sent);
}

#[tokio::test]
async fn the_read_stops_at_the_whole_message_and_the_rest_follows_from_the_body() {
    let first = framed(b"one", 3);
    let second = framed(b"two", 3);
    let body = Chunks {
        chunks: vec![Bytes::from(first.clone()), Bytes::from(second.clone())],
        then_hold: false,
    };
    let mut replayed = read_first_message(body, 1024, || false).await.unwrap();
    assert_eq!(replayed.read.as_deref(), Some(&first[..]));
    let mut rest = Vec::new();
    while let Some(frame) = replayed.frame().await {
        rest.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert_eq!(rest, [first, second].concat());
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_message_arrives() {
    // Only the header was sent; the body then holds, as an attacker's would.
    let body = Chunks {
        chunks: vec![Bytes::from(framed(b"", 20 << 20))],
        then_hold: true,
    };
    let error = read_first_message(body, 4 << 20, || false)
        .await
        .err()
        .expect("refused");
    assert_eq!(
        error,
        MessageError::TooLarge {
            declared: 20 << 20,
            limit: 4 << 20
        }
    );
}

#[test]
fn a_partial_message_holds_what_arrived_not_what_it_declared() {
    let mut buffer = MessageBuffer::new(32 << 20);
    for chunk in split(&framed(&[7u8; 4096], 20 << 20), 1000) {
        buffer.push(chunk).unwrap();
    }
    assert!(!buffer.is_whole());
    assert!(buffer.capacity() <= 16 * 1024, "{}", buffer.capacity());
}

#[tokio::test]
async fn the_buffer_grows_with_the_bytes_received() {
    let message = vec![1u8; 100_000];
    let sent = framed(&message, message.len() as u32);
    let body = Chunks {
        chunks: split(&sent, 16 * 1024),
        then_hold: false,
    };
    let replayed = read_first_message(body, 32 << 20, || false).await.unwrap();
    let read = replayed.read.unwrap();
    assert_eq!(read.len(), sent.len());
}

#[tokio::test]
async fn the_memory_limit_stops_a_read_under_way() {
    let over = AtomicBool::new(false);
    let sent = framed(&[0u8; 10], 1000);
    let body = Chunks {
        chunks: split(&sent, 5),
        then_hold: true,
    };
    let reading = read_first_message(body, 4096, || over.swap(true, Ordering::Relaxed));
    assert_eq!(reading.await.err(), Some(MessageError::MemoryLimit));
}

#[tokio::test]
async fn a_body_that_ends_early_is_handed_on_for_tonic_to_report() {
    let sent = framed(b"shor", 100);
    let body = Chunks {
        chunks: vec![Bytes::from(sent.clone())],
        then_hold: false,
    };
    let replayed = read_first_message(body, 1024, || false).await.unwrap();
    assert!(!replayed.is_end_stream());
    assert_eq!(replayed.collect().await.unwrap().to_bytes(), sent);
}
