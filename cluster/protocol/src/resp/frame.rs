//! Reply framing: where one complete RESP2/RESP3 reply ends in a buffer, so a backend's replies
//! are forwarded as the bytes they arrived in, without being decoded and encoded again.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed reply from a shard server")]
pub struct BadFrame;

/// The length of the first complete reply in `buf`; None when more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, BadFrame> {
    Framer::default().scan(buf)
}

/// Finds where a reply ends in a buffer that grows between calls, resuming where the last
/// call stopped, so a large reply arriving in many reads is scanned once, not once per read.
/// Nested aggregates are walked with a count of elements still due, never recursion, so a
/// hostile depth cannot overflow the stack.
#[derive(Default)]
pub struct Framer {
    /// Where the next element to check starts.
    at: usize,
    /// Elements still due; 0 before the reply's first element was seen.
    due: u64,
}

impl Framer {
    /// The length of the first reply in `buf` once it is complete (the framer is then ready
    /// for the next reply, in a buffer that starts after this one).
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, BadFrame> {
        if self.due == 0 {
            (self.at, self.due) = (0, 1);
        }
        while self.due > 0 {
            let Some(line_end) = find_crlf(buf, self.at) else {
                return Ok(None);
            };
            if line_end == self.at {
                // A line with no type byte (found by fuzzing: it used to panic).
                return Err(BadFrame);
            }
            let kind = buf[self.at];
            let line = &buf[self.at + 1..line_end];
            let mut next = line_end + 2;
            let mut due = self.due - 1;
            match kind {
                b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
                b'$' | b'!' | b'=' => {
                    let len = number(line)?;
                    if len >= 0 {
                        next += len as usize + 2;
                        if buf.len() < next {
                            return Ok(None);
                        }
                    }
                }
                b'*' | b'~' | b'>' => due += number(line)?.max(0) as u64,
                b'%' | b'|' => due += 2 * number(line)?.max(0) as u64,
                _ => return Err(BadFrame),
            }
            (self.at, self.due) = (next, due);
        }
        Ok(Some(self.at))
    }
}

/// The replies of a buffer holding several back to back.
pub fn frames(mut buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = frame_len(buf).ok()??;
        let (frame, rest) = buf.split_at(len);
        buf = rest;
        Some(frame)
    })
}

/// The elements of an aggregate reply (array, set, push), each a whole reply.
pub fn elements(frame: &[u8]) -> Option<Vec<&[u8]>> {
    if !matches!(frame.first(), Some(b'*' | b'~' | b'>')) {
        return None;
    }
    let header_end = find_crlf(frame, 0)?;
    let count = usize::try_from(number(&frame[1..header_end]).ok()?).ok()?;
    let mut rest = &frame[header_end + 2..];
    let mut found = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = frame_len(rest).ok()??;
        let (element, tail) = rest.split_at(len);
        found.push(element);
        rest = tail;
    }
    Some(found)
}

/// The content of a bulk or simple string reply.
pub fn text(frame: &[u8]) -> Option<&[u8]> {
    let header_end = find_crlf(frame, 0)?;
    match frame.first()? {
        b'+' => Some(&frame[1..header_end]),
        b'$' => frame.get(header_end + 2..frame.len().checked_sub(2)?),
        _ => None,
    }
}

/// The value of an integer reply.
pub fn integer(frame: &[u8]) -> Option<i64> {
    let line = frame.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(line).ok()?.parse().ok()
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

fn number(line: &[u8]) -> Result<i64, BadFrame> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n: &i64| *n >= -1 && *n <= 1 << 40)
        .ok_or(BadFrame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_and_partial_replies() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$3\r\nfoo\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"%1\r\n+k\r\n*2\r\n_\r\n#t\r\n",
            b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n",
            b"$4\r\na\r\nb\r\n",
        ];
        for case in cases {
            assert_eq!(frame_len(case), Ok(Some(case.len())), "{case:?}");
            let mut longer = case.to_vec();
            longer.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(frame_len(&longer), Ok(Some(case.len())));
            for cut in 0..case.len() {
                assert_eq!(frame_len(&case[..cut]), Ok(None), "{case:?} cut at {cut}");
            }
        }
        assert_eq!(frame_len(b"?x\r\n"), Err(BadFrame));
        // Resumed scans over a growing buffer agree with whole scans.
        let mut stream = Vec::new();
        for case in cases {
            stream.extend_from_slice(case);
        }
        let mut framer = Framer::default();
        let mut start = 0;
        let mut ends = Vec::new();
        for end in 0..=stream.len() {
            if let Some(len) = framer.scan(&stream[start..end]).unwrap() {
                start += len;
                ends.push(start);
            }
        }
        let expected: Vec<usize> = cases
            .iter()
            .scan(0, |total, case| {
                *total += case.len();
                Some(*total)
            })
            .collect();
        assert_eq!(ends, expected);
        assert_eq!(frame_len(b"$abc\r\n"), Err(BadFrame));
        // Found by fuzzing: a line without a type byte.
        assert_eq!(frame_len(b"\r\n\xf6"), Err(BadFrame));
        assert_eq!(frame_len(b"*1\r\n\r\n"), Err(BadFrame));
    }

    #[test]
    fn decoding_the_replies_the_proxy_merges() {
        let scan = b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n";
        let parts = elements(scan).unwrap();
        assert_eq!(text(parts[0]), Some(&b"17"[..]));
        let keys: Vec<_> = elements(parts[1]).unwrap().into_iter().map(text).collect();
        assert_eq!(keys, [Some(&b"a"[..]), Some(&b"bc"[..])]);
        assert_eq!(integer(b":-3\r\n"), Some(-3));
        assert_eq!(text(b"+OK\r\n"), Some(&b"OK"[..]));
        let replies: Vec<_> = frames(b"+OK\r\n:1\r\n$-1\r\n").collect();
        assert_eq!(replies, [&b"+OK\r\n"[..], b":1\r\n", b"$-1\r\n"]);
        assert_eq!(elements(b"*3\r\n:1\r\n"), None);
        assert_eq!(text(b"$-1\r\n"), None);
    }
}
