//! Requests as a client writes them: a RESP array of bulk strings. The proxy forwards requests
//! this way, and the replication stream frames its records the same way.

use bytes::{Bytes, BytesMut};

/// A request as one buffer.
pub fn encode(args: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(args));
    encode_into(&mut out, args);
    out.freeze()
}

/// Room for a request's encoding (an upper bound).
pub fn encoded_len(args: &[Bytes]) -> usize {
    16 + args.iter().map(|a| a.len() + 16).sum::<usize>()
}

/// Appends a request to `out`.
pub fn encode_into(out: &mut BytesMut, args: &[Bytes]) {
    put_array_header(out, args.len());
    for arg in args {
        put_bulk(out, arg);
    }
}

/// `*<len>\r\n`: an array of `len` elements follows.
pub fn put_array_header(out: &mut BytesMut, len: usize) {
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"*");
    out.extend_from_slice(digits.format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One bulk string.
pub fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"$");
    out.extend_from_slice(digits.format(data.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{ParseLimits, RequestParser};

    #[test]
    fn the_server_parses_what_is_encoded() {
        let args = [
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::new(),
        ];
        let encoded = encode(&args);
        assert_eq!(&encoded[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        assert!(encoded.len() <= encoded_len(&args));
        let mut buf = BytesMut::from(&encoded[..]);
        let parsed = RequestParser::new()
            .next_request(&mut buf, &ParseLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(parsed, args.to_vec());
    }
}
