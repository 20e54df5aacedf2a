//! Reads a unary call's gRPC message before tonic does. tonic reserves the length a message
//! declares as soon as it reads the 5-byte frame header, so 3000 streams that each declare
//! 20 MiB and send 4 KiB would cost 60 GB. Here the buffer grows only with the bytes that
//! arrive, a declared length over the limit is refused before any of the message is read, and
//! the memory limit is checked as the bytes come in. tonic then decodes what was read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// The compression flag (1 byte) and the message length (4 bytes, big-endian).
pub const FRAME_HEADER_LEN: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(
        "the gRPC message declares {declared} bytes, above the limit of {limit} bytes (max_recv_msg_size)"
    )]
    TooLarge { declared: u64, limit: usize },
    #[error("the agent is at its memory limit; retry later")]
    MemoryLimit,
    #[error("reading the request failed: {0}")]
    Read(String),
}

/// The start of a request body as read here (at least its first message, whole, unless the
/// body ended first), then the rest of it untouched.
pub struct Replayed<B> {
    read: Option<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Pin<Box<B>>>,
}

/// The bytes of the first message as they arrive. The buffer grows by doubling as chunks are
/// copied in: at most about twice what arrived, never what was declared. Copying (instead of
/// keeping the chunks) also lets h2 reuse its read buffers.
pub struct MessageBuffer {
    read: BytesMut,
    whole_at: Option<usize>,
    limit: usize,
}

impl MessageBuffer {
    pub fn new(limit: usize) -> MessageBuffer {
        MessageBuffer {
            read: BytesMut::new(),
            whole_at: None,
            limit,
        }
    }

    /// Refuses as soon as the frame header declares more than the limit.
    pub fn push(&mut self, mut data: impl Buf) -> Result<(), MessageError> {
        while data.has_remaining() {
            let chunk = data.chunk();
            self.read.extend_from_slice(chunk);
            let copied = chunk.len();
            data.advance(copied);
        }
        if self.whole_at.is_none() && self.read.len() >= FRAME_HEADER_LEN {
            let length = [self.read[1], self.read[2], self.read[3], self.read[4]];
            let declared = u64::from(u32::from_be_bytes(length));
            if declared > self.limit as u64 {
                return Err(MessageError::TooLarge {
                    declared,
                    limit: self.limit,
                });
            }
            self.whole_at = Some(FRAME_HEADER_LEN + declared as usize);
        }
        Ok(())
    }

    pub fn is_whole(&self) -> bool {
        self.whole_at.is_some_and(|at| self.read.len() >= at)
    }

    /// What the buffer holds in memory, used or not.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.read.capacity()
    }

    fn into_bytes(self) -> Bytes {
        self.read.freeze()
    }
}

/// Reads until the first message is whole. `over_memory` is asked after every chunk.
pub async fn read_first_message<B>(
    body: B,
    limit: usize,
    over_memory: impl Fn() -> bool,
) -> Result<Replayed<B>, MessageError>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    let mut body = Box::pin(body);
    let mut buffer = MessageBuffer::new(limit);
    let mut trailers = None;
    let mut ended = false;
    while !buffer.is_whole() {
        let Some(frame) = body.frame().await else {
            ended = true;
            break;
        };
        let frame = frame.map_err(|e| MessageError::Read(e.to_string()))?;
        match frame.into_data() {
            Ok(data) => buffer.push(data)?,
            Err(frame) => {
                // Trailers end the body; tonic reports a message cut short.
                trailers = frame.into_trailers().ok();
                ended = true;
                break;
            }
        }
        if over_memory() {
            return Err(MessageError::MemoryLimit);
        }
    }
    Ok(Replayed {
        read: Some(buffer.into_bytes()),
        trailers,
        rest: (!ended).then_some(body),
    })
}

impl<B> Body for Replayed<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(read) = this.read.take().filter(|r| !r.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(read))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        match rest.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                this.rest = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                Poll::Ready(Some(frame.map(|frame| {
                    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                })))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.as_ref().is_none_or(Bytes::is_empty)
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|rest| rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let read = self.read.as_ref().map_or(0, |r| r.len() as u64);
        let mut hint = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |rest| rest.size_hint());
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + read);
        }
        hint.set_lower(hint.lower() + read);
        hint
    }
}

#[cfg(test)]
#[path = "grpc_message_tests.rs"]
mod tests;
