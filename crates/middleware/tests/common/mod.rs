//! Test helpers shared by the layer tests: a streaming response body fed
//! by a channel, as server-sent events or a download would be, and one
//! that can fail mid-stream.
#![allow(dead_code, reason = "each test file uses a part")]

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

/// A body whose frames arrive on a channel; it ends when the sender drops.
#[derive(Debug)]
pub(crate) struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A body whose frames (or a mid-stream error) arrive on a channel; it
/// ends when the sender drops.
#[derive(Debug)]
pub(crate) struct FallibleBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for FallibleBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

/// A streaming `http::Response` that can fail mid-stream, and its sender.
pub(crate) fn fallible_response() -> (
    http::Response<FallibleBody>,
    mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let (tx, rx) = mpsc::channel(8);
    (http::Response::new(FallibleBody(rx)), tx)
}

/// A streaming `http::Response` and the sender that feeds its body.
pub(crate) fn streaming_response() -> (http::Response<ChannelBody>, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(8);
    (http::Response::new(ChannelBody(rx)), tx)
}

/// Reads a body to its end; returns how many bytes it carried.
pub(crate) async fn read_to_end<B: Body + Unpin>(mut body: B) -> usize {
    let mut n = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.map(Frame::into_data)
            && let Ok(data) = data
        {
            n += bytes::Buf::remaining(&data);
        }
    }
    n
}
