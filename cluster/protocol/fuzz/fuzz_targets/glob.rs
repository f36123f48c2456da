//! The glob matcher behind KEYS, SCAN MATCH, PSUBSCRIBE and ACL key patterns, with patterns a
//! client chooses: no panic, and it finishes (libFuzzer's timeout catches a pattern that makes
//! it backtrack without end, as Redis once did with many `*`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotcache_protocol::glob::matches;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (pattern, text) = rest.split_at((split as usize).min(rest.len()));
    let exact = matches(pattern, text, false);
    let nocase = matches(pattern, text, true);
    // A pattern without special characters matches only itself.
    if !pattern.iter().any(|b| b"*?[\\".contains(b)) {
        assert_eq!(exact, pattern == text);
        assert_eq!(nocase, pattern.eq_ignore_ascii_case(text));
    }
});
