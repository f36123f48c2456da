//! What a leader reads from its replication port: requests framed under the pre-AUTH limits
//! a peer has until it shows the secret, then under the default ones, each decoded into a
//! replication message. Nothing a peer sends may panic either step, and every message decoded
//! must encode back to one that decodes the same.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use slotcache_protocol::resp::parse::{ParseLimits, RequestParser};
use slotcache_server::replication::wire::Message;

fuzz_target!(|data: &[u8]| {
    for unauthenticated in [true, false] {
        let limits = ParseLimits {
            unauthenticated,
            ..ParseLimits::default()
        };
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(data);
        while let Ok(Some(fields)) = parser.next_request(&mut buf, &limits) {
            let Ok(message) = Message::decode(fields) else {
                continue;
            };
            let mut again = BytesMut::from(&message.encode()[..]);
            let fields = RequestParser::new()
                .next_request(&mut again, &ParseLimits::default())
                .expect("an encoded message parses")
                .expect("an encoded message is whole");
            let decoded = Message::decode(fields).expect("an encoded message decodes");
            assert_eq!(message, decoded);
        }
    }
});
