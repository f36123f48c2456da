//! Lua scripting as Redis 7.0 runs it: Lua 5.1 (through mlua), one interpreter per server,
//! scripts cached by SHA1 and run atomically under the keyspace lock, `redis.call` and
//! `redis.pcall` executing commands in place, errors carrying Redis's texts, and SCRIPT KILL
//! stopping a runaway script once it has run past `busy-reply-threshold`.

mod convert;
mod env;

use crate::client::Client;
use crate::commands::{CmdError, Ctx, Table};
use crate::engine::Keyspace;
use crate::resp::{Protocol, Reply};
use crate::state::Server;
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table as LuaTable, Value};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The SHA1 of a script body, in lower-case hex as EVALSHA names it.
pub fn sha1_hex(body: &[u8]) -> String {
    Sha1::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a running script is doing, visible to connections that must not wait on it.
#[derive(Default)]
struct Running {
    since: Mutex<Option<Instant>>,
    kill: AtomicBool,
    wrote: AtomicBool,
}

/// SCRIPT KILL's outcomes.
pub enum Kill {
    Killed,
    NotBusy,
    Unkillable,
}

pub struct Scripts {
    lua: Mutex<Lua>,
    cache: Mutex<HashMap<String, Function>>,
    running: Arc<Running>,
}

/// A script run: what it may do and what it is given.
pub struct Invocation<'a> {
    pub sha: &'a str,
    pub keys: &'a [Bytes],
    pub argv: &'a [Bytes],
    pub read_only: bool,
}

impl Scripts {
    pub fn new() -> Scripts {
        let running = Arc::new(Running::default());
        let lua = env::create(running.clone()).unwrap_or_else(|err| {
            tracing::error!("the Lua environment could not be set up: {err}");
            Lua::new()
        });
        Scripts {
            lua: Mutex::new(lua),
            cache: Mutex::new(HashMap::new()),
            running,
        }
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha)
            .is_ok_and(|sha| self.cache.lock().contains_key(&sha.to_ascii_lowercase()))
    }

    pub fn flush(&self) {
        self.cache.lock().clear();
    }

    /// Compiles and caches a body; returns its SHA1, or Redis's compile error.
    pub fn load(&self, body: &[u8]) -> Result<String, CmdError> {
        let sha = sha1_hex(body);
        if self.cache.lock().contains_key(&sha) {
            return Ok(sha);
        }
        let lua = self.lua.lock();
        let function = env::compile(&lua, body).map_err(|message| {
            CmdError::err(format!("Error compiling script (new function): {message}"))
        })?;
        self.cache.lock().insert(sha.clone(), function);
        Ok(sha)
    }

    /// Whether a script is running at all.
    pub fn is_running(&self) -> bool {
        self.running.since.lock().is_some()
    }

    /// Whether a script has run past `threshold_ms` (then others get BUSY).
    pub fn is_busy(&self, threshold_ms: u64) -> bool {
        self.running
            .since
            .lock()
            .is_some_and(|since| since.elapsed().as_millis() as u64 >= threshold_ms)
    }

    /// SCRIPT KILL: stops the running script unless it already wrote.
    pub fn kill(&self) -> Kill {
        if !self.is_running() {
            Kill::NotBusy
        } else if self.running.wrote.load(Ordering::Acquire) {
            Kill::Unkillable
        } else {
            self.running.kill.store(true, Ordering::Release);
            Kill::Killed
        }
    }

    /// Runs a cached script for the client of `ctx`, replying to it.
    pub fn run(&self, ctx: &mut Ctx, call: &Invocation) -> Result<(), CmdError> {
        let function = self.cache.lock().get(call.sha).cloned().ok_or_else(|| {
            CmdError::Other("NOSCRIPT No matching script. Please use EVAL.".into())
        })?;
        // The script holds the keyspace lock for as long as it runs; hand this worker's other
        // connections to another thread meanwhile, so SCRIPT KILL can reach us.
        let result = block_in_place(|| {
            let lua = self.lua.lock();
            if self.running.kill.swap(false, Ordering::AcqRel) {
                env::watch_for_kill(&lua, self.running.clone())
                    .map_err(|err| CmdError::err(format!("Error running script: {err}")))?;
            }
            self.running.wrote.store(false, Ordering::Release);
            *self.running.since.lock() = Some(Instant::now());
            execute(&lua, function, ctx, call, &self.running)
        });
        *self.running.since.lock() = None;
        result
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}

fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// What `redis.call` needs while a script runs.
struct CallContext<'a> {
    server: &'a Server,
    client: Client,
    ks: &'a mut Keyspace,
    now: i64,
    read_only: bool,
    running: &'a Running,
}

fn execute(
    lua: &Lua,
    function: Function,
    ctx: &mut Ctx,
    call: &Invocation,
    running: &Running,
) -> Result<(), CmdError> {
    let internal = |err: mlua::Error| CmdError::err(format!("Error running script: {err}"));
    let globals = lua.globals();
    let to_table = |items: &[Bytes]| -> mlua::Result<LuaTable> {
        let table = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            table.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(table)
    };
    globals
        .raw_set("KEYS", to_table(call.keys).map_err(internal)?)
        .map_err(internal)?;
    globals
        .raw_set("ARGV", to_table(call.argv).map_err(internal)?)
        .map_err(internal)?;
    let mut script_client = Client::new(ctx.client.info.clone(), true);
    script_client.select(ctx.client.db);
    script_client.in_script = true;
    let state = RefCell::new(CallContext {
        server: ctx.server,
        client: script_client,
        ks: &mut *ctx.ks,
        now: ctx.now,
        read_only: call.read_only,
        running,
    });
    let outcome: mlua::Result<(bool, Value)> = lua.scope(|scope| {
        // `redis.call` raises what `redis.pcall` returns as an error table.
        let call = scope.create_function(|lua, args: MultiValue| {
            match redis_call(lua, &mut state.borrow_mut(), args)? {
                Err(message) => Err(mlua::Error::external(convert::ScriptError(message))),
                Ok(reply) => Ok(reply),
            }
        })?;
        let pcall = scope.create_function(|lua, args: MultiValue| {
            match redis_call(lua, &mut state.borrow_mut(), args)? {
                Err(message) => convert::error_table(lua, &message),
                Ok(reply) => Ok(reply),
            }
        })?;
        let redis: LuaTable = lua.named_registry_value(env::REDIS)?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        let handler: Function = lua.named_registry_value(env::ERROR_HANDLER)?;
        let xpcall: Function = globals.raw_get("xpcall")?;
        let result = xpcall.call((function, handler));
        redis.raw_set("call", Value::Nil)?;
        redis.raw_set("pcall", Value::Nil)?;
        result
    });
    let (ok, value) = outcome.map_err(internal)?;
    if ok {
        convert::lua_to_reply(ctx.out, &value, 0);
        return Ok(());
    }
    Err(CmdError::Other(convert::error_message(&value, call.sha)))
}

/// One `redis.call`/`redis.pcall`: runs the command and returns its reply as Lua values, or
/// the error reply's text.
fn redis_call(
    lua: &Lua,
    state: &mut CallContext,
    args: MultiValue,
) -> mlua::Result<Result<Value, String>> {
    let fail = |_: &Lua, message: &str| Ok(Err(message.to_string()));
    if args.is_empty() {
        return fail(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in args {
        match convert::lua_to_arg(&arg) {
            Some(bytes) => argv.push(bytes),
            None => {
                return fail(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    let table = Table::get();
    let Ok(resolved) = table.resolve(&argv) else {
        return fail(lua, "ERR Unknown Redis command called from script");
    };
    let spec = resolved.spec;
    if !spec.arity_ok(argv.len()) {
        return fail(
            lua,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    if spec.has_flag("noscript") {
        return fail(lua, "ERR This Redis command is not allowed from script");
    }
    if spec.has_flag("write") {
        if state.read_only {
            return fail(
                lua,
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        state.running.wrote.store(true, Ordering::Release);
    }
    let Some(handler) = spec.handler else {
        return fail(lua, "ERR Unknown Redis command called from script");
    };
    let mut out = Reply::new(Protocol::Resp2);
    let result = {
        let mut ctx = Ctx {
            server: state.server,
            client: &mut state.client,
            ks: &mut *state.ks,
            out: &mut out,
            now: state.now,
        };
        handler(&mut ctx, &argv)
    };
    if let Err(err) = result {
        state.ks.log.discard_substitute();
        return fail(lua, &err.to_string());
    }
    if spec.has_flag("write") {
        state.ks.log.effect(&argv);
    }
    if let Some(message) = out.buf.strip_prefix(b"-") {
        let text = String::from_utf8_lossy(message);
        return fail(lua, text.trim_end_matches("\r\n"));
    }
    convert::reply_to_lua(lua, &out.buf).map(Ok)
}
