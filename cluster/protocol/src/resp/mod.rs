//! The RESP wire format as a Redis server speaks it: request parsing (multibulk and inline)
//! and reply encoding for RESP2 and RESP3.

pub mod frame;
pub mod parse;
pub mod reply;
pub mod request;

pub use parse::{make_read_room, ParseLimits, ProtocolError, RequestParser};
pub use reply::{Protocol, Reply};
