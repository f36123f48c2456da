//! Request parsing with Redis's own rules and error texts (networking.c): a request is either a
//! multibulk array of bulk strings or an inline line as typed in telnet.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Longest inline request, or unterminated count line, Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;

/// The limits a peer can push against.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`: the largest bulk string accepted.
    pub max_bulk_len: usize,
    /// The largest number of arguments in one multibulk request.
    pub max_multibulk_len: usize,
    /// Before AUTH on a server with a password, Redis accepts only tiny requests, so an
    /// unauthenticated peer cannot make it allocate.
    pub unauthenticated: bool,
}

/// Request size limits before authentication (Redis's own).
const UNAUTH_MAX_MULTIBULK: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16384;

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            unauthenticated: false,
        }
    }
}

/// A malformed request. The connection answers `-ERR Protocol error: <text>` and closes.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> Self {
        ProtocolError(text.into())
    }
}

/// A connection's first buffer: most requests fit, and ten thousand idle connections stay
/// small.
const FIRST_READ: usize = 1024;

/// What a busy connection reads at once; Redis reads 16 KB at a time (PROTO_IOBUF_LEN).
const READ_CHUNK: usize = 16 * 1024;

/// Less free room than this, and the buffer grows before the next read.
const MIN_READ: usize = 512;

/// An empty buffer larger than this is given back after a big request, so an idle connection
/// holds no more than a fresh one.
const KEEP_IDLE_CAPACITY: usize = 64 * 1024;

/// Gives a connection's input buffer room for its next read. It starts small and grows when
/// what it holds leaves too little room: to a chunk for pipelined requests, then geometrically
/// (by what it holds) as a long value arrives, which keeps copying linear. Memory is only ever
/// taken for bytes already received, never on a header's say-so.
pub fn make_read_room(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > KEEP_IDLE_CAPACITY {
        *buf = BytesMut::new();
    }
    if buf.capacity() == 0 {
        buf.reserve(FIRST_READ);
    } else if buf.capacity() - buf.len() < MIN_READ {
        buf.reserve(buf.len().max(READ_CHUNK));
    }
}

/// A multibulk request whose header has been read but whose arguments have not all arrived.
#[derive(Default)]
struct Partial {
    remaining: usize,
    args: Vec<Bytes>,
    /// The arguments' bytes so far.
    bytes: usize,
}

/// Incremental request parser; keeps the progress of a half-received multibulk so a request
/// arriving over many reads is scanned once.
#[derive(Default)]
pub struct RequestParser {
    partial: Option<Partial>,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of a half-received request already taken off the input: with what is still in
    /// the input buffer, what `client-query-buffer-limit` bounds.
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |partial| partial.bytes)
    }

    /// Takes the next complete request off the front of `buf`. `Ok(None)` means more bytes are
    /// needed. Empty requests (blank inline lines, `*0`) are skipped.
    pub fn next_request(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParseLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.partial.is_none() {
                if buf.is_empty() {
                    return Ok(None);
                }
                if buf[0] != b'*' {
                    match parse_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                let Some(count) = read_count_line(buf, b'*', limits.max_multibulk_len)? else {
                    return Ok(None);
                };
                if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                if count <= 0 {
                    continue;
                }
                let count = count as usize;
                self.partial = Some(Partial {
                    remaining: count,
                    args: Vec::with_capacity(count.min(1024)),
                    bytes: 0,
                });
            }
            let partial = self.partial.as_mut().expect("partial set above");
            while partial.remaining > 0 {
                match read_bulk(buf, limits)? {
                    None => return Ok(None),
                    Some(arg) => {
                        partial.bytes += arg.len();
                        partial.args.push(arg);
                        partial.remaining -= 1;
                    }
                }
            }
            let done = self.partial.take().expect("partial set above");
            return Ok(Some(done.args));
        }
    }
}

/// Reads `<prefix><integer>\r\n` for a multibulk count. Returns the count, with the line consumed.
fn read_count_line(
    buf: &mut BytesMut,
    prefix: u8,
    max: usize,
) -> Result<Option<i64>, ProtocolError> {
    let Some(cr) = memchr(b'\r', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big mbulk count string"));
        }
        return Ok(None);
    };
    if buf.len() < cr + 2 {
        return Ok(None);
    }
    debug_assert_eq!(buf[0], prefix);
    let value = parse_i64(&buf[1..cr]);
    match value {
        Some(n) if n <= max as i64 && n <= i32::MAX as i64 => {
            buf.advance(cr + 2);
            Ok(Some(n))
        }
        _ => Err(ProtocolError::new("invalid multibulk length")),
    }
}

/// Reads one `$<len>\r\n<bytes>\r\n`, consuming it only when complete.
fn read_bulk(buf: &mut BytesMut, limits: &ParseLimits) -> Result<Option<Bytes>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let Some(cr) = memchr(b'\r', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big bulk count string"));
        }
        return Ok(None);
    };
    if buf[0] != b'$' {
        return Err(ProtocolError(format!(
            "expected '$', got '{}'",
            buf[0] as char
        )));
    }
    let len = match parse_i64(&buf[1..cr]) {
        Some(n) if limits.unauthenticated && n > UNAUTH_MAX_BULK => {
            return Err(ProtocolError::new("unauthenticated bulk length"))
        }
        Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len as u64 => n as usize,
        _ => return Err(ProtocolError::new("invalid bulk length")),
    };
    let header = cr + 2;
    if buf.len() < header + len + 2 {
        // No room is made here on the strength of the declared length: the buffer grows as
        // the bytes arrive (`make_read_room`), so a header alone costs nothing.
        return Ok(None);
    }
    buf.advance(header);
    let arg = buf.split_to(len).freeze();
    buf.advance(2);
    Ok(Some(arg))
}

/// Parses one inline line, splitting arguments as Redis's `sdssplitargs` does.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    match split_args(&line[..end]) {
        Some(args) => Ok(Some(args.into_iter().map(Bytes::from).collect())),
        None => Err(ProtocolError::new("unbalanced quotes in request")),
    }
}

/// `sdssplitargs`: whitespace-separated words, with "double quotes" (C escapes and `\xHH`) and
/// 'single quotes' (only `\'`). A closing quote must be followed by a space or the end.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    current.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    c => current.push(c),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Strict decimal integer as Redis's `string2ll`: optional '-', no '+', no spaces, no leading
/// zeros, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut value: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if negative {
        if value > i64::MAX as u64 + 1 {
            None
        } else {
            Some((value as i64).wrapping_neg())
        }
    } else {
        i64::try_from(value).ok()
    }
}

/// Parses a float argument as Redis's `getDoubleFromObject` (`strtod`, no NaN, no spaces).
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let value = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ if lower.contains("inf") || lower.contains("nan") => return None,
        _ => text.parse::<f64>().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parser.next_request(&mut buf, &ParseLimits::default())? {
            out.push(args.iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline_mix() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nSET b \"x y\\n\"\r\n\r\n*0\r\nPING\n")
            .unwrap();
        assert_eq!(
            got,
            vec![
                vec![b"GET".to_vec(), b"a".to_vec()],
                vec![b"SET".to_vec(), b"b".to_vec(), b"x y\n".to_vec()],
                vec![b"PING".to_vec()],
            ]
        );
    }

    #[test]
    fn byte_by_byte_arrival() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\nworld\r\nfoo\r\n";
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(args) = parser
                .next_request(&mut buf, &ParseLimits::default())
                .unwrap()
            {
                got = Some(args);
            }
        }
        let args = got.unwrap();
        assert_eq!(args[2].as_ref(), b"world\r\nfoo");
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_errors_match_redis() {
        let err = |input: &[u8]| parse_all(input).unwrap_err().to_string();
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*99999999999\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n+x\r\n"),
            "Protocol error: expected '$', got '+'"
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\n$999999999999\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"SET \"a\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&vec![b'a'; INLINE_MAX + 1]),
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn unauthenticated_peers_get_small_limits() {
        let limits = ParseLimits {
            unauthenticated: true,
            ..ParseLimits::default()
        };
        let parse = |input: &[u8]| {
            RequestParser::new()
                .next_request(&mut BytesMut::from(input), &limits)
                .map(|r| r.is_some())
        };
        assert_eq!(parse(b"*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n"), Ok(true));
        assert_eq!(
            parse(b"*11\r\n").unwrap_err().to_string(),
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            parse(b"*1\r\n$16385\r\n").unwrap_err().to_string(),
            "Protocol error: unauthenticated bulk length"
        );
    }

    #[test]
    fn split_args_quotes() {
        assert_eq!(
            split_args(b"set 'it\\'s' \"\\x41\\tb\"").unwrap(),
            vec![b"set".to_vec(), b"it's".to_vec(), b"A\tb".to_vec()]
        );
        assert!(split_args(b"\"abc\"def").is_none());
        assert!(split_args(b"'abc").is_none());
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }
}
