//! The request parser as a client drives it: bytes arriving in pieces of any size, under the
//! default limits and under the pre-AUTH ones. It must never panic, never hand back more
//! than it was given, and reach the same requests however the input is cut.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use slotcache_protocol::resp::parse::{ParseLimits, RequestParser};

/// Every request in `input`, fed `piece` bytes at a time, and how parsing ended.
fn parse(input: &[u8], piece: usize, limits: &ParseLimits) -> (Vec<Vec<bytes::Bytes>>, bool) {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next_request(&mut buf, limits) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty());
                    requests.push(args);
                }
                Ok(None) => break,
                Err(_) => return (requests, false),
            }
        }
    }
    (requests, true)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    for limits in [
        ParseLimits::default(),
        ParseLimits {
            unauthenticated: true,
            ..ParseLimits::default()
        },
        ParseLimits {
            max_bulk_len: 64,
            max_multibulk_len: 8,
            unauthenticated: false,
        },
    ] {
        let whole = parse(input, input.len(), &limits);
        let pieces = parse(input, cut as usize % 17 + 1, &limits);
        let total: usize = whole.0.iter().flatten().map(|arg| arg.len()).sum();
        assert!(total <= input.len());
        // Cut into pieces, a stream yields the same requests; an error may come earlier in
        // the pieces only where a whole-buffer parse would also have failed.
        if whole.1 && pieces.1 {
            assert_eq!(whole.0, pieces.0);
        }
    }
});
