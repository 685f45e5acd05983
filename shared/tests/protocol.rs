//! Round trips of every message through the codec and through frames; the handshake rules.

use proptest::prelude::*;
use serde::Serialize;
use shared::frame::{FrameReader, encode_frame};
use shared::{
    Batch, CodecError, HandshakeError, Hello, MAGIC, Mode, NumberError, PROTOCOL_VERSION,
    ProtocolError, ProtocolErrorKind, Request, RequestId, Response, Split, TextBatch, TextError,
    TextFormat, codec, read_frame, write_frame,
};

/// u128 values weighted towards the varint size boundaries.
fn number() -> impl Strategy<Value = u128> {
    prop_oneof![
        0u128..300,
        (0u32..=128).prop_map(|b| if b == 128 { u128::MAX } else { 1u128 << b }),
        any::<u64>().prop_map(u128::from),
        any::<u128>(),
    ]
}

fn id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Primes), Just(Mode::Divisors)]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            id(),
            mode(),
            prop::collection::vec(number(), 0..64),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(id, mode, numbers, divisor_cap)| Request::Batch(Batch {
                id,
                mode,
                numbers,
                divisor_cap
            })),
        id().prop_map(|id| Request::Ping { id }),
        (
            id(),
            mode(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(any::<u64>()),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(id, mode, json, nul, divisor_cap, text)| Request::Text(
                TextBatch {
                    id,
                    mode,
                    format: if json {
                        TextFormat::Json
                    } else {
                        TextFormat::Plain
                    },
                    split: if nul { Split::Nul } else { Split::Whitespace },
                    divisor_cap,
                    text,
                }
            )),
    ]
}

fn protocol_error() -> impl Strategy<Value = ProtocolError> {
    (
        prop_oneof![
            Just(ProtocolErrorKind::MalformedFrame),
            Just(ProtocolErrorKind::UnexpectedMessage),
            Just(ProtocolErrorKind::Handshake),
        ],
        ".{0,40}",
    )
        .prop_map(|(kind, message)| ProtocolError { kind, message })
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (
            id(),
            any::<u32>(),
            prop::collection::vec(prop::collection::vec(number(), 0..8), 0..16)
        )
            .prop_map(|(id, first, factors)| Response::Factors { id, first, factors }),
        (
            id(),
            any::<u32>(),
            prop::collection::vec(number(), 0..64),
            any::<bool>()
        )
            .prop_map(|(id, index, divisors, last)| Response::Divisors {
                id,
                index,
                divisors,
                last
            }),
        (id(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(id, index, count, cap)| {
            Response::NumberFailed {
                id,
                index,
                error: NumberError::DivisorCapExceeded { count, cap },
            }
        }),
        id().prop_map(|id| Response::BatchDone { id }),
        id().prop_map(|id| Response::Pong { id }),
        protocol_error().prop_map(Response::Error),
        (id(), any::<u32>()).prop_map(|(id, index)| Response::Working { id, index }),
        (
            id(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec((any::<u32>(), ".{0,20}"), 0..4)
        )
            .prop_map(|(id, done, bad, text, errors)| Response::Text {
                id,
                done,
                bad,
                text,
                errors: errors
                    .into_iter()
                    .map(|(at, message)| TextError { at, message })
                    .collect(),
            }),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (".{0,30}", any::<u32>()).prop_map(|(software, pid)| Hello {
        pid,
        ..Hello::new(software)
    })
}

proptest! {
    #[test]
    fn requests_round_trip(msg in request()) {
        let body = codec::encode(&msg).unwrap();
        prop_assert_eq!(codec::decode::<Request>(&body).unwrap(), msg.clone());
        let frame = encode_frame(&msg).unwrap();
        prop_assert_eq!(read_frame::<Request, _>(&mut &frame[..]).unwrap(), Some(msg));
    }

    #[test]
    fn responses_round_trip(msg in response()) {
        let body = codec::encode(&msg).unwrap();
        prop_assert_eq!(codec::decode::<Response>(&body).unwrap(), msg.clone());
        let frame = encode_frame(&msg).unwrap();
        prop_assert_eq!(read_frame::<Response, _>(&mut &frame[..]).unwrap(), Some(msg));
    }

    #[test]
    fn hellos_round_trip_and_pass_the_check(msg in hello()) {
        let body = codec::encode(&msg).unwrap();
        prop_assert_eq!(Hello::from_body(&body).unwrap(), msg);
    }

    #[test]
    fn a_stream_of_responses_reads_back_in_order_then_ends_cleanly(
        msgs in prop::collection::vec(response(), 0..20)
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            write_frame(&mut wire, m).unwrap();
        }
        let mut r = FrameReader::new(&wire[..]);
        for m in &msgs {
            prop_assert_eq!(r.read::<Response>().unwrap(), Some(m.clone()));
        }
        prop_assert_eq!(r.read::<Response>().unwrap(), None);
    }

    /// Any single trailing byte after a valid message is refused, not ignored.
    #[test]
    fn trailing_bytes_are_rejected(msg in request(), extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let mut body = codec::encode(&msg).unwrap();
        let used = body.len();
        body.extend_from_slice(&extra);
        prop_assert_eq!(
            codec::decode::<Request>(&body),
            Err(CodecError::TrailingBytes { used, extra: extra.len() })
        );
    }
}

#[test]
fn u128_edge_values_round_trip_in_every_position() {
    let edges = [
        0,
        1,
        250,
        251,
        u128::from(u16::MAX),
        u128::from(u32::MAX),
        u128::from(u64::MAX),
        u128::from(u64::MAX) + 1,
        u128::MAX - 1,
        u128::MAX,
    ];
    let req = Request::Batch(Batch {
        id: RequestId(u64::MAX),
        mode: Mode::Divisors,
        numbers: edges.to_vec(),
        divisor_cap: Some(u64::MAX),
    });
    assert_eq!(
        codec::decode::<Request>(&codec::encode(&req).unwrap()),
        Ok(req)
    );
    let resp = Response::Factors {
        id: RequestId(0),
        first: u32::MAX,
        factors: edges.iter().map(|&e| vec![e, e]).collect(),
    };
    assert_eq!(
        codec::decode::<Response>(&codec::encode(&resp).unwrap()),
        Ok(resp)
    );
}

#[test]
fn small_numbers_encode_compactly() {
    // The pool ships millions of small numbers: one byte each below 251.
    let req = Request::Batch(Batch {
        id: RequestId(1),
        mode: Mode::Primes,
        numbers: vec![7; 1000],
        divisor_cap: None,
    });
    let len = codec::encode(&req).unwrap().len();
    assert!(len < 1020, "1000 small numbers took {len} bytes");
}

#[test]
fn a_hello_with_another_version_is_refused_naming_both_versions() {
    let theirs = Hello {
        protocol_version: PROTOCOL_VERSION + 41,
        ..Hello::new("worker 7.0.0")
    };
    let err = Hello::from_body(&codec::encode(&theirs).unwrap()).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: PROTOCOL_VERSION + 41,
            peer_software: Some("worker 7.0.0".into()),
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("speaks version {}", PROTOCOL_VERSION + 41)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{msg}"
    );
    assert!(msg.contains("worker 7.0.0"), "{msg}");
}

/// A future hello may grow fields; its stable prefix must still produce a version mismatch.
#[test]
fn a_future_hello_with_more_fields_still_reports_the_version_mismatch() {
    #[derive(Serialize)]
    struct FutureHello {
        magic: [u8; 4],
        protocol_version: u32,
        software: String,
        pid: u32,
        features: Vec<String>,
    }
    let future = FutureHello {
        magic: MAGIC,
        protocol_version: 2,
        software: "worker 2.0.0".into(),
        pid: 1,
        features: vec!["ecm".into()],
    };
    let body = codec::encode(&future).unwrap();
    match Hello::from_body(&body) {
        Err(HandshakeError::VersionMismatch { theirs: 2, .. }) if PROTOCOL_VERSION != 2 => {}
        Err(HandshakeError::Undecodable(_)) if PROTOCOL_VERSION == 2 => {}
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn a_non_hello_first_frame_is_not_a_hello() {
    let req = codec::encode(&Request::Ping { id: RequestId(3) }).unwrap();
    assert!(matches!(
        Hello::from_body(&req),
        Err(HandshakeError::NotAHello { .. })
    ));
    assert!(matches!(
        Hello::from_body(b"hello world\n"),
        Err(HandshakeError::NotAHello { .. })
    ));
    assert!(matches!(
        Hello::from_body(b""),
        Err(HandshakeError::NotAHello { .. })
    ));
}

#[test]
fn a_hello_with_the_right_prefix_but_a_bad_tail_is_undecodable() {
    let mut body = codec::encode(&Hello::new("x")).unwrap();
    body.truncate(body.len() - 1);
    assert!(matches!(
        Hello::from_body(&body),
        Err(HandshakeError::Undecodable(_))
    ));
}

/// bincode allocates a string's claimed length before reading it; the protocol must check
/// the claim against the bytes present instead of aborting on a 2^62-byte allocation.
#[test]
fn lying_string_and_vector_lengths_are_errors_not_aborts() {
    // Hello prefix (magic, version) then a string whose varint length claims 2^62 bytes.
    let mut body = MAGIC.to_vec();
    body.push(PROTOCOL_VERSION as u8);
    body.push(253); // varint marker: a u64 follows
    body.extend_from_slice(&(1u64 << 62).to_le_bytes());
    body.extend_from_slice(b"abc");
    assert!(matches!(
        Hello::from_body(&body),
        Err(HandshakeError::Undecodable(_))
    ));
    // The same through a version-mismatch path, which also reads the string.
    body[4] = (PROTOCOL_VERSION + 1) as u8;
    assert!(matches!(
        Hello::from_body(&body),
        Err(HandshakeError::VersionMismatch {
            peer_software: None,
            ..
        })
    ));
    // Response::Error's message claiming 1 GiB.
    let mut body = codec::encode(&Response::Error(ProtocolError {
        kind: ProtocolErrorKind::MalformedFrame,
        message: String::new(),
    }))
    .unwrap();
    body.pop(); // the empty string's length byte
    body.push(252); // varint marker: a u32 follows
    body.extend_from_slice(&(1u32 << 30).to_le_bytes());
    assert!(codec::decode::<Response>(&body).is_err());
    // A batch claiming 2^60 numbers.
    let mut body = codec::encode(&Request::Batch(Batch {
        id: RequestId(1),
        mode: Mode::Primes,
        numbers: vec![],
        divisor_cap: None,
    }))
    .unwrap();
    let empty_vec_at = body.len() - 2; // [.., len=0, cap None=0]
    assert_eq!(&body[empty_vec_at..], &[0, 0]);
    body.truncate(empty_vec_at);
    body.push(253);
    body.extend_from_slice(&(1u64 << 60).to_le_bytes());
    body.extend_from_slice(&[1, 2, 3]);
    assert!(codec::decode::<Request>(&body).is_err());
}

#[test]
fn mode_parses_and_prints() {
    for m in [Mode::Primes, Mode::Divisors] {
        assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
    }
    assert!("prime".parse::<Mode>().unwrap_err().contains("`prime`"));
}

#[test]
fn response_ids() {
    assert_eq!(
        Response::BatchDone { id: RequestId(9) }.id(),
        Some(RequestId(9))
    );
    assert_eq!(
        Response::Error(ProtocolError {
            kind: ProtocolErrorKind::Handshake,
            message: "x".into()
        })
        .id(),
        None
    );
}

/// Text travels as one byte string (a length and the raw bytes), not byte by byte.
#[test]
fn text_is_encoded_as_raw_bytes() {
    let text = vec![200u8; 1000];
    let req = Request::Text(TextBatch {
        id: RequestId(1),
        mode: Mode::Primes,
        format: TextFormat::Plain,
        split: Split::Whitespace,
        divisor_cap: None,
        text: text.clone(),
    });
    let body = codec::encode(&req).unwrap();
    assert!(body.len() < 1010, "{} bytes", body.len());
    assert!(body.windows(1000).any(|w| w == &text[..]));
}
