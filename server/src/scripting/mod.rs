//! Lua scripting as Redis 7.0 runs it: Lua 5.1 (through mlua), one interpreter per server,
//! scripts cached by SHA1 and run atomically under the keyspace lock, `redis.call` and
//! `redis.pcall` executing commands in place, errors carrying Redis's texts, and SCRIPT KILL
//! stopping a runaway script once it has run past `busy-reply-threshold`.

mod convert;
mod env;
pub mod functions;
mod json;
mod msgpack;

use crate::client::Client;
use crate::commands::{CmdError, Ctx, Table};
use crate::partition::Keyspace;
use crate::state::Server;
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table as LuaTable, Value};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use slotcache_protocol::command::Flag;
use slotcache_protocol::command::OOM;
use slotcache_protocol::resp::{Protocol, Reply};
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
    /// The function running (FCALL), and the command that called it, for FUNCTION STATS.
    function: Mutex<Option<(String, Vec<Bytes>)>>,
    kill: AtomicBool,
    wrote: AtomicBool,
    /// While FUNCTION LOAD runs a library's code: when it must have finished.
    load_deadline: Mutex<Option<Instant>>,
}

impl Running {
    fn load_overdue(&self) -> bool {
        self.load_deadline
            .lock()
            .is_some_and(|deadline| Instant::now() > deadline)
    }
}

/// What `redis.call` raises for a name that is no command.
const UNKNOWN_FROM_SCRIPT: &str = "ERR Unknown Redis command called from script";

/// How long a library's code may run at FUNCTION LOAD, as Redis's load timeout.
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// SCRIPT KILL's outcomes.
pub enum Kill {
    Killed,
    NotBusy,
    Unkillable,
}

pub struct Scripts {
    lua: Mutex<Lua>,
    cache: Mutex<HashMap<String, Cached>>,
    pub functions: Mutex<functions::Registry>,
    running: Arc<Running>,
}

/// A compiled script, with the flags of its `#!lua flags=...` line (None without one: Redis's
/// backwards-compatible mode, where each command is checked as it runs).
#[derive(Clone)]
struct Cached {
    function: Function,
    flags: Option<Vec<&'static str>>,
}

/// The flags of a script's shebang line, and the body after it.
fn shebang(body: &[u8]) -> Result<(Option<Vec<&'static str>>, &[u8]), CmdError> {
    let Some(rest) = body.strip_prefix(b"#!") else {
        return Ok((None, body));
    };
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..line_end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != "lua" {
        return Err(CmdError::err(format!(
            "Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = Vec::new();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(CmdError::err(format!("Unknown lua shebang option: {part}")));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match functions::FLAGS.iter().find(|known| **known == flag) {
                Some(known) => flags.push(*known),
                None => {
                    return Err(CmdError::err(format!(
                        "Unexpected flag in script shebang: {flag}"
                    )))
                }
            }
        }
    }
    // The shebang line stays a (blank) line, so line numbers in errors match the body's.
    Ok((Some(flags), &rest[line_end..]))
}

/// FUNCTION RESTORE's policies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// What runs: a script (its globals KEYS and ARGV set) or a function (called with them).
struct Body<'a> {
    function: Function,
    /// The SHA1 of a script, the name of a function: errors end with it.
    name: &'a str,
    is_function: bool,
    keys: &'a [Bytes],
    argv: &'a [Bytes],
    read_only: bool,
    /// Commands that may use memory run even over `maxmemory`.
    allow_oom: bool,
}

/// Whether the server is over its `maxmemory` now.
fn over_maxmemory(server: &Server) -> bool {
    let limit = server.config.read().maxmemory as usize;
    limit > 0 && server.evictor.counted_memory() > limit
}

/// A script or function with flags that may write is refused under OOM unless it allows it.
fn refuse_under_oom(ctx: &Ctx, flags: &[&str]) -> Result<(), CmdError> {
    let exempt = flags.contains(&"no-writes") || flags.contains(&"allow-oom");
    if !exempt && over_maxmemory(ctx.server) {
        return Err(CmdError::Other(OOM.into()));
    }
    Ok(())
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
            functions: Mutex::new(functions::Registry::default()),
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

    /// How many scripts are cached (INFO's number_of_cached_scripts).
    pub fn cached(&self) -> usize {
        self.cache.lock().len()
    }

    /// Compiles and caches a body; returns its SHA1, or Redis's compile error.
    pub fn load(&self, body: &[u8]) -> Result<String, CmdError> {
        let sha = sha1_hex(body);
        if self.cache.lock().contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = shebang(body)?;
        let lua = self.interpreter();
        let function = env::compile(&lua, code).map_err(|message| {
            CmdError::err(format!("Error compiling script (new function): {message}"))
        })?;
        self.cache
            .lock()
            .insert(sha.clone(), Cached { function, flags });
        Ok(sha)
    }

    /// Whether a script call declares that it may write: by its shebang's flags (cached or
    /// not yet) or its function's; `None` for a script without flags, or one not known, whose
    /// command's own flags decide (CLIENT PAUSE WRITE holds such calls as Redis does).
    pub fn declared_writes(&self, args: &[Bytes]) -> Option<bool> {
        let command = args.first()?.to_ascii_lowercase();
        let named = args.get(1)?;
        let flags = match command.as_slice() {
            b"eval" | b"eval_ro" => match self.cache.lock().get(&sha1_hex(named)) {
                Some(cached) => cached.flags.clone(),
                None => shebang(named).ok()?.0,
            },
            b"evalsha" | b"evalsha_ro" => {
                let sha = std::str::from_utf8(named).ok()?.to_ascii_lowercase();
                self.cache.lock().get(&sha)?.flags.clone()
            }
            b"fcall" | b"fcall_ro" => {
                let name = String::from_utf8_lossy(named).to_ascii_lowercase();
                let registry = self.functions.lock();
                return Some(!registry.functions.get(&name)?.has_flag("no-writes"));
            }
            _ => None,
        };
        flags.map(|flags| !flags.contains(&"no-writes"))
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
        let cached = self.cache.lock().get(call.sha).cloned().ok_or_else(|| {
            CmdError::Other("NOSCRIPT No matching script. Please use EVAL.".into())
        })?;
        let read_only = match &cached.flags {
            Some(flags) => {
                let no_writes = flags.contains(&"no-writes");
                if call.read_only && !no_writes {
                    return Err(CmdError::err(
                        "Can not execute a script with write flag using *_ro command.",
                    ));
                }
                refuse_under_oom(ctx, flags)?;
                call.read_only || no_writes
            }
            None => call.read_only,
        };
        let allow_oom = cached
            .flags
            .as_ref()
            .is_some_and(|f| f.contains(&"allow-oom"));
        self.run_body(
            ctx,
            Body {
                function: cached.function,
                name: call.sha,
                is_function: false,
                keys: call.keys,
                argv: call.argv,
                read_only,
                allow_oom,
            },
        )
    }

    /// FCALL and FCALL_RO (`read_only`): runs a registered function with its keys and
    /// arguments. `command` is the whole request, for FUNCTION STATS.
    pub fn call_function(
        &self,
        ctx: &mut Ctx,
        command: &[Bytes],
        keys: &[Bytes],
        argv: &[Bytes],
        read_only: bool,
    ) -> Result<(), CmdError> {
        let name = String::from_utf8_lossy(&command[1]).to_ascii_lowercase();
        let function = self
            .functions
            .lock()
            .functions
            .get(&name)
            .cloned()
            .ok_or_else(|| CmdError::err("Function not found"))?;
        let no_writes = function.has_flag("no-writes");
        if read_only && !no_writes {
            return Err(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        refuse_under_oom(ctx, &function.flags)?;
        *self.running.function.lock() = Some((function.name.clone(), command.to_vec()));
        let result = self.run_body(
            ctx,
            Body {
                function: function.callback.clone(),
                name: &function.name,
                is_function: true,
                keys,
                argv,
                read_only: read_only || no_writes,
                allow_oom: function.has_flag("allow-oom"),
            },
        );
        *self.running.function.lock() = None;
        result
    }

    /// Whether what runs is a function (FCALL) rather than a script (EVAL).
    pub fn running_is_function(&self) -> bool {
        self.running.function.lock().is_some()
    }

    /// FUNCTION STATS' running script: the function's name, its command and how long it has
    /// run, in ms.
    pub fn running_function(&self) -> Option<(String, Vec<Bytes>, u64)> {
        let (name, command) = self.running.function.lock().clone()?;
        let since = (*self.running.since.lock())?;
        Some((name, command, since.elapsed().as_millis() as u64))
    }

    fn run_body(&self, ctx: &mut Ctx, body: Body) -> Result<(), CmdError> {
        // The script holds the keyspace lock for as long as it runs; hand this worker's other
        // connections to another thread meanwhile, so SCRIPT KILL can reach us.
        let result = block_in_place(|| {
            let lua = self.lua.lock();
            self.rearm(&lua)?;
            self.running.wrote.store(false, Ordering::Release);
            *self.running.since.lock() = Some(Instant::now());
            execute(&lua, body, ctx, &self.running)
        });
        *self.running.since.lock() = None;
        result
    }

    /// The interpreter, for work outside a script run (compiling, loading a library). A
    /// running script holds it for as long as it runs: waiting for it parks this thread, so the
    /// wait hands the worker's other connections to another thread first, as a run does; with
    /// every worker parked, nothing would answer SCRIPT KILL.
    fn interpreter(&self) -> parking_lot::MutexGuard<'_, Lua> {
        self.lua
            .try_lock()
            .unwrap_or_else(|| block_in_place(|| self.lua.lock()))
    }

    /// Goes back to counting instructions after a kill made the hook fire at every line.
    fn rearm(&self, lua: &Lua) -> Result<(), CmdError> {
        if self.running.kill.swap(false, Ordering::AcqRel) {
            env::watch_for_kill(lua, self.running.clone())
                .map_err(|err| CmdError::err(format!("Error running script: {err}")))?;
        }
        Ok(())
    }

    /// FUNCTION LOAD: runs a library's code, which must register at least one function, and
    /// installs it (replacing the library of the same name only when `replace`); the
    /// library's name.
    pub fn load_library(&self, code: &Bytes, replace: bool) -> Result<String, CmdError> {
        let metadata = functions::metadata(code)?;
        let key = metadata.name.to_ascii_lowercase();
        if !replace && self.functions.lock().libraries.contains_key(&key) {
            return Err(CmdError::err(format!(
                "Library '{}' already exists",
                metadata.name
            )));
        }
        let lua = self.interpreter();
        self.rearm(&lua)?;
        let chunk = env::compile_library(&lua, metadata.body)
            .map_err(|message| CmdError::err(format!("Error compiling function: {message}")))?;
        let internal = |err: mlua::Error| CmdError::err(format!("Error running script: {err}"));
        let set_loading: Function = lua
            .named_registry_value(env::SET_LOADING)
            .map_err(internal)?;
        set_loading.call::<()>(true).map_err(internal)?;
        functions::begin_registrations();
        *self.running.load_deadline.lock() = Some(Instant::now() + LOAD_TIMEOUT);
        let ran = chunk.call::<Value>(());
        *self.running.load_deadline.lock() = None;
        let registered = functions::end_registrations();
        set_loading.call::<()>(false).map_err(internal)?;
        if let Err(err) = ran {
            // As Redis words it: the Lua error (with its line) behind an `ERR ` of its own.
            let text = convert::error_text(&err);
            let message = text.split("\nstack traceback:").next().unwrap_or_default();
            let message = message.strip_prefix("ERR ").unwrap_or(message);
            return Err(CmdError::err(format!(
                "Error registering functions: ERR {message}"
            )));
        }
        if registered.is_empty() {
            return Err(CmdError::err("No functions registered"));
        }
        let registered: Vec<_> = registered
            .into_iter()
            .map(|mut f| {
                f.library = key.clone();
                f
            })
            .collect();
        let library = functions::Library {
            name: metadata.name.clone(),
            code: code.clone(),
            functions: registered
                .iter()
                .map(|f| f.name.to_ascii_lowercase())
                .collect(),
        };
        let mut registry = self.functions.lock();
        let old_functions: Vec<_> = registry
            .libraries
            .get(&key)
            .map(|old| {
                old.functions
                    .iter()
                    .filter_map(|f| registry.functions.get(f).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let old = registry.remove_library(&key);
        if let Err(err) = registry.install(library, registered) {
            // The library replaced stays as it was.
            if let Some(old) = old {
                let _ = registry.install(old, old_functions);
            }
            return Err(err);
        }
        Ok(metadata.name)
    }

    /// FUNCTION RESTORE: loads every library of a FUNCTION DUMP payload under `policy`.
    pub fn restore_libraries(&self, payload: &[u8], policy: RestorePolicy) -> Result<(), CmdError> {
        let codes = functions::undump(payload)?;
        if policy == RestorePolicy::Flush {
            *self.functions.lock() = functions::Registry::default();
        }
        if policy == RestorePolicy::Append {
            let registry = self.functions.lock();
            for code in &codes {
                let name = functions::metadata(code)?.name;
                if registry.libraries.contains_key(&name.to_ascii_lowercase()) {
                    return Err(CmdError::err(format!("Library {name} already exists")));
                }
            }
        }
        for code in &codes {
            self.load_library(code, true)?;
        }
        Ok(())
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
    /// Over `maxmemory` when the script started, and not allowed past it: commands that may
    /// use memory are refused.
    deny_oom: bool,
    running: &'a Running,
}

fn execute(lua: &Lua, call: Body, ctx: &mut Ctx, running: &Running) -> Result<(), CmdError> {
    let internal = |err: mlua::Error| CmdError::err(format!("Error running script: {err}"));
    let globals = lua.globals();
    let to_table = |items: &[Bytes]| -> mlua::Result<LuaTable> {
        let table = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            table.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(table)
    };
    let keys = to_table(call.keys).map_err(internal)?;
    let argv = to_table(call.argv).map_err(internal)?;
    // A script reads KEYS and ARGV as globals; a function is called with them.
    let function = match call.is_function {
        true => {
            let bind: Function = lua.named_registry_value(env::BIND).map_err(internal)?;
            bind.call((call.function, keys, argv)).map_err(internal)?
        }
        false => {
            globals.raw_set("KEYS", keys).map_err(internal)?;
            globals.raw_set("ARGV", argv).map_err(internal)?;
            call.function
        }
    };
    let mut script_client = Client::new(ctx.client.info.clone(), true);
    script_client.select(ctx.client.db);
    script_client.in_script = true;
    script_client.login = ctx.client.login.clone();
    let state = RefCell::new(CallContext {
        server: ctx.server,
        client: script_client,
        ks: &mut *ctx.ks,
        now: ctx.now,
        read_only: call.read_only,
        deny_oom: !call.allow_oom && over_maxmemory(ctx.server),
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
        let acl_check_cmd = scope
            .create_function(|_, args: MultiValue| acl_check_cmd(&mut state.borrow_mut(), args))?;
        let redis: LuaTable = lua.named_registry_value(env::REDIS)?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        redis.raw_set("acl_check_cmd", acl_check_cmd)?;
        let handler: Function = lua.named_registry_value(env::ERROR_HANDLER)?;
        let xpcall: Function = globals.raw_get("xpcall")?;
        let result = xpcall.call((function, handler));
        redis.raw_set("call", Value::Nil)?;
        redis.raw_set("pcall", Value::Nil)?;
        redis.raw_set("acl_check_cmd", Value::Nil)?;
        result
    });
    // What the script's commands left for the caller: whether they read (client-side
    // caching remembers the script's keys then) and the caller's own tracking messages.
    let script_client = &mut state.borrow_mut().client;
    ctx.client.read_in_script = script_client.read_in_script;
    ctx.client.pushes.append(&mut script_client.pushes);
    let (ok, value) = outcome.map_err(internal)?;
    if ok {
        convert::lua_to_reply(ctx.out, &value, 0);
        return Ok(());
    }
    Err(CmdError::Other(convert::error_message(&value, call.name)))
}

/// `redis.acl_check_cmd(command, args...)`: whether the caller's user may run the call,
/// checked without running or logging it.
fn acl_check_cmd(state: &mut CallContext, args: MultiValue) -> mlua::Result<bool> {
    let raise = |message: &str| Err(mlua::Error::external(convert::ScriptError(message.into())));
    let argv: Option<Vec<Bytes>> = args.iter().map(convert::lua_to_arg).collect();
    let argv = match argv {
        Some(argv) if !argv.is_empty() => argv,
        Some(_) => {
            return raise("ERR Please specify at least one argument for this redis lib call")
        }
        None => return raise("ERR Lua redis lib command arguments must be strings or integers"),
    };
    let Ok(resolved) = Table::get().resolve(&argv) else {
        return raise("ERR Invalid command passed to redis.acl_check_cmd()");
    };
    let Some(login) = state.client.login.as_mut() else {
        return Ok(true);
    };
    Ok(login
        .user(&state.server.acl.users)
        .is_ok_and(|user| user.check(resolved, &argv).is_ok()))
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
        return fail(lua, UNKNOWN_FROM_SCRIPT);
    };
    let spec = resolved.spec;
    if !spec.arity_ok(argv.len()) {
        return fail(
            lua,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    if spec.flags.has(Flag::Noscript) {
        return fail(lua, "ERR This Redis command is not allowed from script");
    }
    let lua_context = slotcache_protocol::acl::Context::Lua;
    if let Err(denied) = crate::commands::acl::check(
        state.server,
        &mut state.client,
        resolved,
        &argv,
        lua_context,
    ) {
        let refusal = slotcache_protocol::acl::script_refusal(denied);
        return fail(lua, &format!("ERR {refusal}"));
    }
    if state.deny_oom && spec.flags.has(Flag::Denyoom) {
        return fail(lua, OOM);
    }
    // PUBLISH and PFCOUNT write nothing but may replicate: a read-only script may not call
    // them either (CLIENT PAUSE WRITE lets it run).
    let may_replicate = spec.flags.has(Flag::MayReplicate);
    if state.read_only && (spec.flags.has(Flag::Write) || may_replicate) {
        return fail(
            lua,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    if spec.flags.has(Flag::Write) {
        state.running.wrote.store(true, Ordering::Release);
    }
    let Some(handler) = crate::commands::handler(resolved) else {
        return fail(lua, UNKNOWN_FROM_SCRIPT);
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
    if !spec.flags.has(Flag::Admin) && !spec.flags.has(Flag::SkipMonitor) {
        state.server.monitors.feed(state.client.db, None, &argv);
    }
    if let Err(err) = result {
        state.ks.log.discard_substitute();
        return fail(lua, &err.to_string());
    }
    if spec.flags.has(Flag::Write) {
        state.ks.log.effect(spec, &argv);
    }
    state.client.read_in_script |= spec.flags.has(Flag::Readonly);
    if let Some(message) = out.buf.strip_prefix(b"-") {
        let text = String::from_utf8_lossy(message);
        return fail(lua, text.trim_end_matches("\r\n"));
    }
    convert::reply_to_lua(lua, &out.buf).map(Ok)
}
