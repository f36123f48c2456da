//! Redis 7 functions: libraries that FUNCTION LOAD runs once (`#!lua name=<library>` on the
//! first line), whose code registers functions with `redis.register_function`, later called by
//! FCALL. They share the scripts' interpreter with globals of their own (see `env`): while a
//! library loads its code sees only the library API, and its functions then see what scripts
//! see, without KEYS and ARGV.

use crate::commands::CmdError;
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// The flags `redis.register_function` accepts.
pub const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A registered function.
#[derive(Clone)]
pub struct Registered {
    pub name: String,
    /// The library's key in the registry (its name in lower case).
    pub library: String,
    pub callback: Function,
    pub flags: Vec<&'static str>,
    pub description: Option<String>,
}

impl Registered {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

pub struct Library {
    pub name: String,
    pub code: Bytes,
    /// Its functions' keys, in registration order.
    pub functions: Vec<String>,
}

/// Every library and function, by lower-case name (Redis matches both case-insensitively).
#[derive(Default)]
pub struct Registry {
    pub libraries: BTreeMap<String, Library>,
    pub functions: HashMap<String, Registered>,
}

impl Registry {
    pub fn remove_library(&mut self, key: &str) -> Option<Library> {
        let library = self.libraries.remove(key)?;
        for function in &library.functions {
            self.functions.remove(function);
        }
        Some(library)
    }

    /// Adds a library whose functions were registered; refused when one of them belongs to
    /// another library (the library it replaces was removed first).
    pub fn install(
        &mut self,
        library: Library,
        registered: Vec<Registered>,
    ) -> Result<(), CmdError> {
        for function in &registered {
            if self
                .functions
                .contains_key(&function.name.to_ascii_lowercase())
            {
                return Err(CmdError::err(format!(
                    "Function {} already exists",
                    function.name
                )));
            }
        }
        for function in registered {
            self.functions
                .insert(function.name.to_ascii_lowercase(), function);
        }
        self.libraries
            .insert(library.name.to_ascii_lowercase(), library);
        Ok(())
    }
}

/// What a library's first line says: its engine and name; and the code after that line.
pub struct Metadata<'a> {
    pub name: String,
    pub body: &'a [u8],
}

const NAME_RULE: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads `#!<engine> name=<name>` (Redis's `functionExtractLibMetaData`).
pub fn metadata(code: &[u8]) -> Result<Metadata<'_>, CmdError> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err(CmdError::err("Missing library metadata"));
    };
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    // The first line stays a (blank) line, so errors name the lines of the code as given.
    let body = rest.get(line_end..).unwrap_or_default();
    let line = String::from_utf8_lossy(&rest[..line_end]);
    // The engine is what stands before the first space, even nothing.
    let (engine, options) = line.split_once(' ').unwrap_or((&line, ""));
    let parts = options.split(' ').filter(|p| !p.is_empty());
    let mut name = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(_) if name.is_some() => {
                return Err(CmdError::err(
                    "Invalid metadata value, name argument was given multiple times",
                ))
            }
            Some(value) => {
                let unquoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                name = Some(unquoted.to_string())
            }
            None => {
                return Err(CmdError::err(format!(
                    "Invalid metadata value given: {part}"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(CmdError::err("Library name was not given"));
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::err(format!("Engine '{engine}' not found")));
    }
    if !valid_name(&name) {
        return Err(CmdError::err(NAME_RULE));
    }
    Ok(Metadata { name, body })
}

thread_local! {
    /// The functions registered so far by the library loading on this thread; None when no
    /// library is loading (a function that kept `redis.register_function` cannot use it).
    static PENDING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// Starts collecting registrations for a library being loaded.
pub fn begin_registrations() {
    PENDING.with(|p| *p.borrow_mut() = Some(Vec::new()));
}

/// The functions registered since [`begin_registrations`].
pub fn end_registrations() -> Vec<Registered> {
    PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default()
}

fn fail<T>(message: &str) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(message.to_string()))
}

fn read_flags(value: Value) -> mlua::Result<Vec<&'static str>> {
    let Value::Table(table) = value else {
        return fail(
            "flags argument to redis.register_function must be a table representing function flags",
        );
    };
    let mut flags = Vec::new();
    for value in table.sequence_values::<Value>() {
        let flag = match value? {
            Value::String(s) => s.to_string_lossy(),
            _ => return fail("unknown flag given"),
        };
        match FLAGS.iter().find(|f| **f == flag) {
            Some(known) => flags.push(*known),
            None => return fail("unknown flag given"),
        }
    }
    Ok(flags)
}

/// The named form: `redis.register_function{function_name=, callback=, flags=, description=}`.
fn read_named(table: Table) -> mlua::Result<(String, Function, Vec<&'static str>, Option<String>)> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, Vec::new(), None);
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let Value::String(key) = key else {
            return fail("named argument key given to redis.register_function is not a string");
        };
        match &*key.to_string_lossy() {
            "function_name" => {
                match value {
                    Value::String(s) => name = Some(s.to_string_lossy()),
                    _ => return fail(
                        "function_name argument given to redis.register_function must be a string",
                    ),
                }
            }
            "description" => {
                match value {
                    Value::String(s) => description = Some(s.to_string_lossy()),
                    _ => return fail(
                        "description argument given to redis.register_function must be a string",
                    ),
                }
            }
            "callback" => match value {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return fail(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "flags" => flags = read_flags(value)?,
            _ => return fail("unknown argument given to redis.register_function"),
        }
    }
    let Some(name) = name else {
        return fail("redis.register_function must get a function name argument");
    };
    let Some(callback) = callback else {
        return fail("redis.register_function must get a callback argument");
    };
    Ok((name, callback, flags, description))
}

/// `redis.register_function`, in the library API only.
pub fn register_function(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if PENDING.with(|p| p.borrow().is_none()) {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let mut args = args.into_iter();
    let (name, callback, flags, description) = match (args.next(), args.next(), args.next()) {
        (Some(Value::Table(table)), None, None) => read_named(table)?,
        (Some(_), None, None) => {
            return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
        }
        (Some(name), Some(callback), None) => {
            let Value::String(name) = name else {
                return fail("first argument to redis.register_function must be a string");
            };
            let Value::Function(callback) = callback else {
                return fail("second argument to redis.register_function must be a function");
            };
            (name.to_string_lossy(), callback, Vec::new(), None)
        }
        _ => return fail("wrong number of arguments to redis.register_function"),
    };
    // Redis 7.0 answers a bad function name with its library-name text.
    if !valid_name(&name) {
        return fail(NAME_RULE);
    }
    PENDING.with(|p| {
        let mut pending = p.borrow_mut();
        let Some(pending) = pending.as_mut() else {
            return fail("redis.register_function can only be called on FUNCTION LOAD command");
        };
        if pending.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
            return fail("Function already exists in the library");
        }
        pending.push(Registered {
            name,
            library: String::new(),
            callback,
            flags,
            description,
        });
        Ok(())
    })
}

/// FUNCTION DUMP's payload: a tag, a version, each library's code with its length, and a
/// checksum of all that.
const DUMP_TAG: &[u8] = b"SCFN\x01";

pub fn dump(registry: &Registry) -> Vec<u8> {
    let mut payload = DUMP_TAG.to_vec();
    for library in registry.libraries.values() {
        payload.extend_from_slice(&(library.code.len() as u32).to_le_bytes());
        payload.extend_from_slice(&library.code);
    }
    let sum = checksum(&payload);
    payload.extend_from_slice(&sum);
    payload
}

fn checksum(bytes: &[u8]) -> [u8; 8] {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(bytes);
    let mut sum = [0; 8];
    sum.copy_from_slice(&digest[..8]);
    sum
}

/// The libraries' codes in a FUNCTION DUMP payload.
pub fn undump(payload: &[u8]) -> Result<Vec<Bytes>, CmdError> {
    let wrong = || CmdError::err("DUMP payload version or checksum are wrong");
    let split = payload.len().checked_sub(8).ok_or_else(wrong)?;
    let (body, sum) = payload.split_at(split);
    if !body.starts_with(DUMP_TAG) || checksum(body) != sum {
        return Err(wrong());
    }
    let mut rest = &body[DUMP_TAG.len()..];
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let len = rest.get(..4).ok_or_else(wrong)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let code = rest.get(4..4 + len).ok_or_else(wrong)?;
        codes.push(Bytes::copy_from_slice(code));
        rest = &rest[4 + len..];
    }
    Ok(codes)
}
