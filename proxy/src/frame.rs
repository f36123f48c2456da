//! Reply framing: where one complete RESP2/RESP3 reply ends in a buffer, so a backend's replies
//! are forwarded as the bytes they arrived in, without being decoded and encoded again.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed reply from a shard server")]
pub struct BadFrame;

/// The length of the first complete reply in `buf`; None when more bytes are needed. Nested
/// aggregates are walked with an explicit count of elements still due, never recursion, so a
/// hostile depth cannot overflow the stack.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, BadFrame> {
    let mut at = 0;
    let mut due: u64 = 1;
    while due > 0 {
        let Some(line_end) = find_crlf(buf, at) else {
            return Ok(None);
        };
        let kind = buf[at];
        let line = &buf[at + 1..line_end];
        at = line_end + 2;
        due -= 1;
        match kind {
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let len = number(line)?;
                if len >= 0 {
                    let end = at + len as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    at = end;
                }
            }
            b'*' | b'~' | b'>' => due += number(line)?.max(0) as u64,
            b'%' | b'|' => due += 2 * number(line)?.max(0) as u64,
            _ => return Err(BadFrame),
        }
    }
    Ok(Some(at))
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
        assert_eq!(frame_len(b"$abc\r\n"), Err(BadFrame));
    }
}
