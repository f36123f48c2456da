//! The proxy's reply framer, which finds where each backend reply ends without decoding it:
//! no panic or overflow on any input, a frame never longer than the buffer, and the same
//! answer whether the buffer arrives whole or grows a piece at a time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotcache_protocol::resp::frame::{frame_len, Framer};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let whole = frame_len(input);
    if let Ok(Some(len)) = whole {
        assert!(len <= input.len());
    }
    let mut framer = Framer::default();
    let step = cut as usize % 13 + 1;
    let mut seen = 0;
    let grown = loop {
        seen = (seen + step).min(input.len());
        match framer.scan(&input[..seen]) {
            Ok(None) if seen < input.len() => continue,
            other => break other,
        }
    };
    assert_eq!(whole, grown);
});
