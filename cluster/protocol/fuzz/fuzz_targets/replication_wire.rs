//! What a leader reads from its replication port: messages framed under the pre-AUTH bound a
//! peer has until it shows the secret, then without it, each decoded from the bytes it came
//! in. Nothing a peer sends may panic; every message decoded must encode back to one that
//! decodes the same, and a record's kept bytes (a follower's backlog entry) must read back as
//! the same record.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use slotcache_server::replication::wire::{Message, Reader};

fuzz_target!(|data: &[u8]| {
    for unauthenticated in [true, false] {
        let mut reader = Reader::default();
        reader.unauthenticated = unauthenticated;
        let mut buf = BytesMut::from(data);
        while let Ok(Some(message)) = reader.next(&mut buf) {
            if let Message::Record(record) = &message {
                let kept = record.encoded.clone().expect("a record read keeps its bytes");
                let mut kept = BytesMut::from(&kept[..]);
                let read = Reader::default().next(&mut kept);
                assert_eq!(read, Ok(Some(message.clone())));
            }
            let mut again = BytesMut::from(&message.encode()[..]);
            let decoded = Reader::default()
                .next(&mut again)
                .expect("an encoded message decodes")
                .expect("an encoded message is whole");
            assert_eq!(message, decoded);
        }
    }
});
