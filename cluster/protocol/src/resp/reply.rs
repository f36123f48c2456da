//! Reply encoding straight into the connection's output buffer. Types that only exist in RESP3
//! (maps, sets, doubles, booleans, nulls) degrade to their RESP2 shapes as Redis does.

use bytes::{BufMut, BytesMut};

/// The protocol a connection negotiated with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// An output buffer that knows which protocol to write.
pub struct Reply {
    pub buf: BytesMut,
    pub proto: Protocol,
}

impl Reply {
    /// An empty reply buffer. It takes memory only once written to, so an idle connection's
    /// costs nothing.
    pub fn new(proto: Protocol) -> Self {
        Reply {
            buf: BytesMut::new(),
            proto,
        }
    }

    fn line(&mut self, prefix: u8, text: &[u8]) {
        self.buf.reserve(text.len() + 3);
        self.buf.put_u8(prefix);
        self.buf.put_slice(text);
        self.buf.put_slice(b"\r\n");
    }

    fn header(&mut self, prefix: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.line(prefix, digits.format(n).as_bytes());
    }

    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, text: &str) {
        self.line(b'+', text.as_bytes());
    }

    /// An error line; `text` carries its own prefix (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, text: &str) {
        // Newlines would break the framing; Redis replaces them with spaces too.
        if text.contains(['\r', '\n']) {
            let clean = text.replace(['\r', '\n'], " ");
            self.line(b'-', clean.as_bytes());
        } else {
            self.line(b'-', text.as_bytes());
        }
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.reserve(data.len() + 2);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string, or the null bulk for `None`.
    pub fn bulk_or_null(&mut self, data: Option<&[u8]>) {
        match data {
            Some(data) => self.bulk(data),
            None => self.null(),
        }
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.bulk(digits.format(n).as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    /// The null array (`*-1` / `_`), as BLPOP's timeout or EXEC's abort.
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len as i64);
    }

    /// A map of `len` pairs: `%` in RESP3, a flat array of 2*len in RESP2.
    pub fn map(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', 2 * len as i64),
            Protocol::Resp3 => self.header(b'%', len as i64),
        }
    }

    /// An out-of-band push (pub/sub messages): `>` in RESP3, an array in RESP2.
    pub fn push(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', len as i64),
            Protocol::Resp3 => self.header(b'>', len as i64),
        }
    }

    /// A set: `~` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', len as i64),
            Protocol::Resp3 => self.header(b'~', len as i64),
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, formatted like Redis's `%.17g`.
    pub fn double(&mut self, value: f64) {
        self.double_text(&format_double(value));
    }

    /// A double formatted by the caller (as Redis's `addReplyHumanLongDouble` does): `,` in
    /// RESP3, a bulk string in RESP2.
    pub fn double_text(&mut self, text: &str) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// A verbatim string (`=` with a format in RESP3, a bulk string in RESP2), used by INFO.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header(b'=', (text.len() + 4) as i64);
                self.buf.put_slice(format.as_bytes());
                self.buf.put_u8(b':');
                self.buf.put_slice(text);
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    pub fn bulks<I, T>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.array(items.len());
        for item in items {
            self.bulk(item.as_ref());
        }
    }
}

/// Formats a double exactly as Redis 7.0 replies with one: C's `%.17g`, and `inf`/`-inf`/`nan`.
pub fn format_double(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if value.is_nan() {
        return "nan".into();
    }
    format_g(value, 17)
}

/// C's `%.{precision}g`.
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, value)).to_string()
    }
}

/// A double as Redis's human-friendly long double form (`%.17Lf`, trailing zeros dropped, no
/// `-0`), which GEOPOS and WITHCOORD reply with.
pub fn format_human(value: f64) -> String {
    match trim_fraction(&format!("{value:.17}")) {
        "-0" => "0".to_string(),
        text => text.to_string(),
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_redis() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(-2.0), "-2");
        assert_eq!(
            format_double(123456789012345678.0),
            "1.2345678901234568e+17"
        );
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r2 = Reply::new(Protocol::Resp2);
        r2.map(1);
        r2.null();
        r2.double(2.5);
        assert_eq!(&r2.buf[..], b"*2\r\n$-1\r\n$3\r\n2.5\r\n");
        let mut r3 = Reply::new(Protocol::Resp3);
        r3.map(1);
        r3.null();
        r3.double(2.5);
        assert_eq!(&r3.buf[..], b"%1\r\n_\r\n,2.5\r\n");
    }
}
