//! The connection commands a proxy answers as a shard server does: HELLO's reply, client names
//! and CLIENT SETINFO's checks.

use super::{is, Args, CmdError, REDIS_VERSION};
use crate::resp::{Protocol, Reply};

/// Printable ASCII without spaces, as Redis accepts for client and library names.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// Redis's check of a name given by CLIENT SETNAME or HELLO SETNAME.
pub fn check_client_name(name: &[u8]) -> Result<(), CmdError> {
    match valid_client_name(name) {
        true => Ok(()),
        false => Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        )),
    }
}

/// HELLO's description of the server, in the connection's protocol.
pub fn hello_reply(out: &mut Reply, client_id: u64, mode: &str) {
    let proto = if out.proto == Protocol::Resp3 { 3 } else { 2 };
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(client_id as i64);
    out.bulk(b"mode");
    out.bulk(mode.as_bytes());
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

/// What CLIENT SETINFO sets.
pub enum LibraryAttribute {
    Name,
    Version,
}

/// The attribute `CLIENT SETINFO attribute value` sets, after Redis's checks of both.
pub fn library_attribute(args: &Args) -> Result<LibraryAttribute, CmdError> {
    let [_, _, attribute, value] = args else {
        return Err(CmdError::err(
            "wrong number of arguments for 'client|setinfo' command",
        ));
    };
    let (attribute, word) = if is(attribute, "lib-name") {
        (LibraryAttribute::Name, "lib-name")
    } else if is(attribute, "lib-ver") {
        (LibraryAttribute::Version, "lib-ver")
    } else {
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(attribute)
        )));
    };
    if !valid_client_name(value) {
        return Err(CmdError::err(format!(
            "{word} cannot contain spaces, newlines or special characters."
        )));
    }
    Ok(attribute)
}
