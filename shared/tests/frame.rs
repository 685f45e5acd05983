//! Framing: round trips, truncation at every byte, oversized headers, arbitrary bytes.

use std::io::{self, Read};

use proptest::prelude::*;
use shared::frame::{
    FrameReader, FrameWriter, HEADER_LEN, encode_frame, encode_frame_into, read_body,
};
use shared::{
    CodecError, FrameError, MAX_FRAME_LEN, Request, RequestId, Response, read_frame, write_frame,
};

/// A reader that counts the bytes it hands out, returns at most `step` per call and
/// interleaves `Interrupted` errors.
struct Stingy<'a> {
    data: &'a [u8],
    step: usize,
    handed_out: usize,
    interrupt_next: bool,
}

impl<'a> Stingy<'a> {
    fn new(data: &'a [u8], step: usize) -> Self {
        Self {
            data,
            step,
            handed_out: 0,
            interrupt_next: true,
        }
    }
}

impl Read for Stingy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt_next = !self.interrupt_next;
        if !self.interrupt_next {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.handed_out += n;
        Ok(n)
    }
}

fn frames(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in bodies {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

proptest! {
    /// Raw bodies of any content come back intact, one by one, even through a reader that
    /// returns a byte or two at a time and is interrupted between reads.
    #[test]
    fn raw_frames_round_trip(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..10),
        step in 1usize..7,
    ) {
        let wire = frames(&bodies);
        let mut r = Stingy::new(&wire, step);
        let mut buf = Vec::new();
        for b in &bodies {
            prop_assert!(read_body(&mut r, &mut buf).unwrap());
            prop_assert_eq!(&buf, b);
        }
        prop_assert!(!read_body(&mut r, &mut buf).unwrap());
    }

    /// Cutting a stream of frames anywhere: at a frame boundary it ends cleanly; inside a
    /// header it is TruncatedHeader with the right count; inside a body TruncatedBody.
    #[test]
    fn truncated_streams_give_the_precise_error(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
        cut_seed in any::<usize>(),
    ) {
        let wire = frames(&bodies);
        let cut = cut_seed % (wire.len() + 1);
        let mut r = &wire[..cut];
        let mut buf = Vec::new();
        let mut at = 0; // start of the current frame in `wire`
        for b in &bodies {
            let end = at + HEADER_LEN + b.len();
            let res = read_body(&mut r, &mut buf);
            if cut == at {
                prop_assert!(!res.unwrap());
                return Ok(());
            } else if cut < at + HEADER_LEN {
                let ok = matches!(res, Err(FrameError::TruncatedHeader { got }) if got == cut - at);
                prop_assert!(ok, "expected TruncatedHeader({}), got {:?}", cut - at, res);
                return Ok(());
            } else if cut < end {
                let want = (b.len() as u32, cut - at - HEADER_LEN);
                match res {
                    Err(FrameError::TruncatedBody { expected, got }) => prop_assert_eq!((expected, got), want),
                    other => prop_assert!(false, "expected TruncatedBody, got {:?}", other),
                }
                return Ok(());
            }
            prop_assert!(res.unwrap());
            at = end;
        }
        prop_assert!(!read_body(&mut r, &mut buf).unwrap());
    }

    /// Arbitrary bytes never panic the decoder, and a header claiming more than the maximum
    /// is refused after reading exactly the 4 header bytes (nothing of the claimed size is
    /// read, so nothing of it was allocated).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for step in [1, 64] {
            let mut r = Stingy::new(&bytes, step);
            let res = read_frame::<Request, _>(&mut r);
            if bytes.len() >= HEADER_LEN {
                let len = u32::from_le_bytes(bytes[..4].try_into().unwrap());
                if len > MAX_FRAME_LEN {
                    let ok = matches!(res, Err(FrameError::Oversized { .. }));
                    prop_assert!(ok, "expected Oversized, got {:?}", res);
                    prop_assert_eq!(r.handed_out, HEADER_LEN);
                }
            }
            let mut r = FrameReader::new(&bytes[..]);
            // Keep reading until the stream ends or errors: each step must terminate.
            for _ in 0..=bytes.len() {
                match r.read::<Response>() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = shared::Hello::from_body(&bytes);
            let _ = shared::codec::decode::<Request>(&bytes);
            let _ = shared::codec::decode::<Response>(&bytes);
        }
    }

    /// Arbitrary bodies inside well-formed frames: decoding fails cleanly or succeeds, and a
    /// success re-encodes to the same bytes (the encoding is canonical).
    #[test]
    fn arbitrary_bodies_decode_canonically_or_fail(body in prop::collection::vec(any::<u8>(), 0..120)) {
        let wire = frames(std::slice::from_ref(&body));
        match read_frame::<Response, _>(&mut &wire[..]) {
            Ok(Some(msg)) => prop_assert_eq!(shared::codec::encode(&msg).unwrap(), body),
            Ok(None) => prop_assert!(false, "a complete frame is not EOF"),
            Err(e) => prop_assert!(matches!(e, FrameError::Undecodable { .. }), "{:?}", e),
        }
    }
}

#[test]
fn a_4_gib_length_prefix_is_oversized_at_once() {
    let wire = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    let mut r = Stingy::new(&wire, 100);
    let err = read_frame::<Request, _>(&mut r).unwrap_err();
    assert!(matches!(
        err,
        FrameError::Oversized {
            len: u32::MAX,
            max: MAX_FRAME_LEN,
            header: [0xff, 0xff, 0xff, 0xff]
        }
    ));
    assert_eq!(r.handed_out, HEADER_LEN, "read past the header");
    assert!(err.is_malformed());
}

#[test]
fn text_on_the_wire_is_reported_as_oversized_with_the_text() {
    let err = read_frame::<Response, _>(&mut &b"this is not a frame\n"[..]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FrameError::Oversized { .. }), "{err:?}");
    assert!(msg.contains("\"this\""), "{msg}");
}

#[test]
fn the_largest_allowed_frame_is_read_and_one_more_byte_is_not() {
    let mut wire = MAX_FRAME_LEN.to_le_bytes().to_vec();
    wire.resize(HEADER_LEN + MAX_FRAME_LEN as usize, 7);
    let mut buf = Vec::new();
    assert!(read_body(&mut &wire[..], &mut buf).unwrap());
    assert_eq!(buf.len(), MAX_FRAME_LEN as usize);
    let over = (MAX_FRAME_LEN + 1).to_le_bytes();
    assert!(matches!(
        read_body(&mut &over[..], &mut buf),
        Err(FrameError::Oversized { .. })
    ));
}

#[test]
fn a_lying_length_inside_the_limit_costs_only_what_arrives() {
    // 10 MiB claimed, 5 bytes delivered: a truncated body, not a 10 MiB read or a hang.
    let mut wire = (10u32 << 20).to_le_bytes().to_vec();
    wire.extend_from_slice(b"12345");
    let mut buf = Vec::new();
    match read_body(&mut &wire[..], &mut buf) {
        Err(FrameError::TruncatedBody { expected, got }) => {
            assert_eq!((expected, got), (10 << 20, 5))
        }
        other => panic!("expected TruncatedBody, got {other:?}"),
    }
    assert!(buf.capacity() <= 1 << 20, "capacity {}", buf.capacity());
}

#[test]
fn an_empty_body_is_undecodable_not_eof() {
    let wire = 0u32.to_le_bytes();
    let err = read_frame::<Request, _>(&mut &wire[..]).unwrap_err();
    assert!(
        matches!(err, FrameError::Undecodable { len: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn trailing_bytes_inside_a_frame_are_undecodable() {
    let mut body = shared::codec::encode(&Request::Ping { id: RequestId(5) }).unwrap();
    body.push(0);
    let wire = frames(&[body]);
    match read_frame::<Request, _>(&mut &wire[..]) {
        Err(FrameError::Undecodable {
            source: CodecError::TrailingBytes { extra: 1, .. },
            ..
        }) => {}
        other => panic!("expected trailing-bytes error, got {other:?}"),
    }
}

#[test]
fn a_message_too_large_for_a_frame_is_refused_before_writing() {
    // 1.1 M divisors of 17 bytes each: about 18.7 MB > 16 MiB.
    let big = Response::Divisors {
        id: RequestId(1),
        index: 0,
        divisors: vec![u128::MAX; 1_100_000],
        last: true,
    };
    let mut out = b"keep".to_vec();
    let err = encode_frame_into(&big, &mut out).unwrap_err();
    assert!(
        matches!(err, FrameError::TooLargeToSend { max: MAX_FRAME_LEN, len } if len > MAX_FRAME_LEN as usize)
    );
    assert_eq!(out, b"keep", "the buffer is left as it was");
    let mut sink = Vec::new();
    assert!(write_frame(&mut sink, &big).is_err());
    assert!(sink.is_empty());
}

#[test]
fn frame_writer_and_reader_reuse_buffers() {
    let mut w = FrameWriter::new(Vec::new());
    for i in 0..100u64 {
        w.write(&Response::Pong { id: RequestId(i) }).unwrap();
    }
    w.flush().unwrap();
    let wire = w.into_inner();
    assert_eq!(
        &wire[..HEADER_LEN + 2],
        &encode_frame(&Response::Pong { id: RequestId(0) }).unwrap()[..]
    );
    let mut r = FrameReader::new(&wire[..]);
    for i in 0..100u64 {
        assert_eq!(
            r.read::<Response>().unwrap(),
            Some(Response::Pong { id: RequestId(i) })
        );
    }
    assert_eq!(r.read::<Response>().unwrap(), None);
}

#[test]
fn io_errors_are_io_not_eof() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let err = read_frame::<Request, _>(&mut Broken).unwrap_err();
    assert!(matches!(err, FrameError::Io(_)));
    assert!(!err.is_malformed());
}
