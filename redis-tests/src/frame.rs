//! RESP2/RESP3 reply frames as read off the wire, for exact comparison between servers.
//! Hand-written because the comparison needs what `redis-protocol` and the `redis` crate
//! merge: a null bulk is not a null array, and a double keeps its text (see the README).

use std::io::{self, BufRead};

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Double(String),
    Bool(bool),
    Verbatim(String, Vec<u8>),
    Push(Vec<Frame>),
}

impl Frame {
    pub fn bulk(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    /// A copy with array elements sorted, for replies whose order Redis leaves unspecified.
    pub fn sorted(&self) -> Frame {
        match self {
            Frame::Array(items) | Frame::Set(items) => {
                let mut items: Vec<Frame> = items.iter().map(Frame::sorted).collect();
                items.sort_by_key(|f| format!("{f:?}"));
                Frame::Array(items)
            }
            other => other.clone(),
        }
    }

    /// A compact, readable rendering for failure messages.
    pub fn display(&self) -> String {
        let list = |items: &[Frame]| {
            items
                .iter()
                .map(Frame::display)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Frame::Simple(s) => format!("+{s}"),
            Frame::Error(s) => format!("-{s}"),
            Frame::Int(n) => format!(":{n}"),
            Frame::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
            Frame::Null => "nil".into(),
            Frame::NullArray => "nil-array".into(),
            Frame::Array(items) => format!("[{}]", list(items)),
            Frame::Set(items) => format!("~[{}]", list(items)),
            Frame::Push(items) => format!(">[{}]", list(items)),
            Frame::Map(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.display(), v.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Frame::Double(d) => format!(",{d}"),
            Frame::Bool(b) => format!("#{b}"),
            Frame::Verbatim(f, b) => format!("={f}:{:?}", String::from_utf8_lossy(b)),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Frame::Int(n) => Some(*n),
            _ => None,
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    r.read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    if !buf.ends_with(b"\r\n") {
        return Err(bad("line without CRLF"));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|_| bad("non-UTF-8 line"))
}

fn blob<R: BufRead>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; len + 2];
    r.read_exact(&mut data)?;
    data.truncate(len);
    Ok(data)
}

fn count(text: &str) -> io::Result<i64> {
    text.parse().map_err(|_| bad("bad length"))
}

pub fn read_frame<R: BufRead>(r: &mut R) -> io::Result<Frame> {
    let header = line(r)?;
    let (kind, rest) = header.split_at(1);
    Ok(match kind {
        "+" => Frame::Simple(rest.into()),
        "-" => Frame::Error(rest.into()),
        ":" => Frame::Int(count(rest)?),
        "$" => match count(rest)? {
            -1 => Frame::Null,
            n => Frame::Bulk(blob(r, n as usize)?),
        },
        "*" | "~" | ">" => match count(rest)? {
            -1 => Frame::NullArray,
            n => {
                let items = (0..n)
                    .map(|_| read_frame(r))
                    .collect::<io::Result<Vec<_>>>()?;
                match kind {
                    "*" => Frame::Array(items),
                    "~" => Frame::Set(items),
                    _ => Frame::Push(items),
                }
            }
        },
        "%" => {
            let n = count(rest)?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                pairs.push((read_frame(r)?, read_frame(r)?));
            }
            Frame::Map(pairs)
        }
        "_" => Frame::Null,
        "," => Frame::Double(rest.into()),
        "#" => Frame::Bool(rest == "t"),
        "=" => {
            let data = blob(r, count(rest)? as usize)?;
            Frame::Verbatim(
                String::from_utf8_lossy(&data[..3]).into_owned(),
                data[4..].to_vec(),
            )
        }
        _ => return Err(bad("unknown frame type")),
    })
}
