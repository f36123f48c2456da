//! The Lua environment scripts see: the base, table, string and math libraries, `redis`,
//! `cjson`, `cmsgpack` and `bit`, all read-only, and globals that may be read but never created.

use super::convert;
use super::Running;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Registry names: the `redis` table (whose `call` and `pcall` are set for each run), the
/// error handler `xpcall` uses, the functions' globals, whether a library is loading, and the
/// binder of a function to its keys and arguments.
pub const REDIS: &str = "slotcache.redis";
pub const ERROR_HANDLER: &str = "slotcache.error_handler";
const SANDBOX: &str = "slotcache.sandbox";
const FUNCTIONS: &str = "slotcache.functions";
pub const SET_LOADING: &str = "slotcache.set_loading";
pub const BIND: &str = "slotcache.bind";

const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// How often (in VM instructions) a running script checks for SCRIPT KILL.
const KILL_CHECK_INSTRUCTIONS: u32 = 100_000;

/// The Lua half of the `redis` library (`call` and `pcall` are Rust, set per run) and the
/// read-only sandbox.
const PRELUDE: &str = r#"
local redis, readonly_error = ...
-- As Redis's luaPushErrorBuff: "-CODE msg" keeps its code, a message without one gets ERR.
redis.error_reply = function(message)
  if type(message) ~= "string" then error("wrong number or type of arguments", 2) end
  local text = message:gsub("^%-", "")
  local space = text:find(" ", 1, true)
  local code, msg = "ERR", text
  if space then code, msg = text:sub(1, space - 1), text:sub(space + 1) end
  msg = msg:gsub("[\r\n]+$", "")
  return {err = code .. " " .. msg}
end
redis.status_reply = function(message) return {ok = message} end
redis.log = function() end
redis.setresp = function() end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
local function readonly(t)
  return setmetatable({}, {
    __index = t,
    __newindex = function() error(readonly_error, 2) end,
    __metatable = false,
  })
end
local libraries = {redis = redis, string = string, table = table, math = math}
local globals = _G
loadfile, dofile, print = nil, nil, nil
-- Binary chunks could bypass the sandbox: loadstring takes source text only, as in Redis.
local raw_loadstring = loadstring
loadstring = function(chunk, name)
  if type(chunk) == "string" and chunk:byte(1) == 27 then return nil, "binary code not allowed" end
  return raw_loadstring(chunk, name)
end
-- The sandboxes' metatables can be neither read nor replaced.
local protected = setmetatable({}, {__mode = "k"})
local raw_setmetatable, raw_getmetatable = setmetatable, getmetatable
setmetatable = function(t, mt)
  if protected[t] then error(readonly_error, 2) end
  return raw_setmetatable(t, mt)
end
getmetatable = function(t)
  if protected[t] then return readonly({}) end
  return raw_getmetatable(t)
end
return function(extra, register_function, version, version_num)
  redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
  for name, lib in pairs(extra) do
    for k, v in pairs(lib) do libraries[name] = libraries[name] or {} libraries[name][k] = v end
  end
  local shown = {}
  for name, lib in pairs(libraries) do shown[name] = readonly(lib) protected[shown[name]] = true end
  local function missing(name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 3)
  end
  local sandbox = raw_setmetatable({}, {
    __index = function(_, name)
      local value = shown[name]
      if value == nil then value = rawget(globals, name) end
      if value == nil then missing(name) end
      return value
    end,
    __newindex = function() error(readonly_error, 2) end,
    __metatable = false,
  })
  -- What a library's code sees while FUNCTION LOAD runs it: `redis` with the library API only.
  local library_api = {
    register_function = register_function, log = redis.log,
    LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
    LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
    REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
  }
  local library_redis = raw_setmetatable({}, {
    __index = function(_, name)
      local value = library_api[name]
      if value == nil then missing(name) end
      return value
    end,
    __newindex = function() error(readonly_error, 2) end,
    __metatable = false,
  })
  -- Functions' globals: the library API while loading, then what scripts see but KEYS and ARGV.
  local loading = false
  local functions = raw_setmetatable({}, {
    __index = function(_, name)
      local value
      if loading then
        if name == "redis" then value = library_redis end
      elseif name ~= "KEYS" and name ~= "ARGV" then
        value = shown[name]
        if value == nil then value = rawget(globals, name) end
      end
      if value == nil then missing(name) end
      return value
    end,
    __newindex = function() error(readonly_error, 2) end,
    __metatable = false,
  })
  for _, t in ipairs({sandbox, functions, library_redis}) do protected[t] = true end
  shown._G = sandbox
  local function set_loading(on) loading = on end
  local function bind(f, keys, args) return function() return f(keys, args) end end
  return sandbox, functions, set_loading, bind
end
"#;

/// Builds the interpreter and its sandbox.
pub fn create(running: Arc<Running>) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let redis = lua.create_table()?;
    lua.set_named_registry_value(REDIS, redis.clone())?;
    let finish: Function = lua
        .load(PRELUDE)
        .set_name("@slotcache_prelude")
        .call((redis, "Attempt to modify a readonly table"))?;
    let extra = lua.create_table()?;
    extra.raw_set("cjson", super::json::library(&lua)?)?;
    extra.raw_set("cmsgpack", super::msgpack::library(&lua)?)?;
    extra.raw_set("bit", convert::bit(&lua)?)?;
    let redis_extra = lua.create_table()?;
    redis_extra.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: mlua::MultiValue| {
            let [text] = args
                .into_vec()
                .try_into()
                .map_err(|_| mlua::Error::RuntimeError("wrong number of arguments".into()))?;
            let text = lua
                .coerce_string(text)?
                .ok_or_else(|| mlua::Error::RuntimeError("wrong number of arguments".into()))?;
            lua.create_string(super::sha1_hex(&text.as_bytes()))
        })?,
    )?;
    extra.raw_set("redis", redis_extra)?;
    let version = slotcache_protocol::command::REDIS_VERSION;
    let version_num = version.split('.').fold(0i64, |num, part| {
        (num << 8) | part.parse::<i64>().unwrap_or(0)
    });
    let register = lua.create_function(super::functions::register_function)?;
    let (sandbox, functions, set_loading, bind): (Table, Table, Function, Function) =
        finish.call((extra, register, version, version_num))?;
    lua.set_named_registry_value(SANDBOX, sandbox)?;
    lua.set_named_registry_value(FUNCTIONS, functions)?;
    lua.set_named_registry_value(SET_LOADING, set_loading)?;
    lua.set_named_registry_value(BIND, bind)?;
    lua.set_named_registry_value(ERROR_HANDLER, lua.create_function(error_handler)?)?;
    watch_for_kill(&lua, running)?;
    Ok(lua)
}

/// Checks for SCRIPT KILL every `KILL_CHECK_INSTRUCTIONS` instructions. Once killed, the hook
/// raises the error on every line from then on, as Redis does: a script that catches the
/// error with `pcall` meets it again at its next line, outside the `pcall`, so it always ends.
/// Called again before each run, to go back to counting after a kill.
pub fn watch_for_kill(lua: &Lua, running: Arc<Running>) -> mlua::Result<()> {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(KILL_CHECK_INSTRUCTIONS),
        kill_hook(running),
    )
}

/// Boxed, since the hook installs a copy of itself.
type Hook = Box<dyn Fn(&Lua, &mlua::Debug) -> mlua::Result<VmState> + Send>;

fn kill_hook(running: Arc<Running>) -> Hook {
    Box::new(move |lua, _| {
        if running.load_overdue() {
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        if !running.kill.load(Ordering::Acquire) {
            return Ok(VmState::Continue);
        }
        lua.set_hook(HookTriggers::EVERY_LINE, kill_hook(running.clone()))?;
        Err(mlua::Error::RuntimeError(KILLED.into()))
    })
}

/// Compiles a script body as Redis does (chunk name `@user_script`) inside the sandbox; the
/// error is Lua's message.
pub fn compile(lua: &Lua, body: &[u8]) -> Result<Function, String> {
    compile_in(lua, body, "@user_script", SANDBOX)
}

/// Compiles a library's code (chunk name `@user_function`) with the functions' globals.
pub fn compile_library(lua: &Lua, code: &[u8]) -> Result<Function, String> {
    compile_in(lua, code, "@user_function", FUNCTIONS)
}

fn compile_in(lua: &Lua, body: &[u8], chunk: &str, globals: &str) -> Result<Function, String> {
    let function = lua
        .load(body)
        .set_name(chunk)
        .into_function()
        .map_err(|err| match err {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })?;
    let sandbox: Table = lua
        .named_registry_value(globals)
        .map_err(|err| err.to_string())?;
    function
        .set_environment(sandbox)
        .map_err(|err| err.to_string())?;
    Ok(function)
}

/// The `xpcall` handler: turns any error into an error table (`ERR `-prefixed unless it was
/// one already) and records where in the script it happened.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(table) if table.raw_get::<Value>("err")?.is_string() => table,
        other => {
            let message = match other {
                Value::Error(err) => match convert::script_error(&err) {
                    Some(verbatim) => {
                        return located(lua, convert::error_table_value(lua, &verbatim)?)
                    }
                    None if convert::error_text(&err) == KILLED => KILLED.to_string(),
                    // A library function's error names the script line that called it, as
                    // Lua's `luaL_error` does.
                    None => {
                        let (chunk, line) = script_line(lua).unwrap_or(("@user_script", 0));
                        format!("{}:{line}: {}", &chunk[1..], convert::error_text(&err))
                    }
                },
                Value::String(s) => s.to_string_lossy(),
                other => lua
                    .coerce_string(other)?
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
            };
            convert::error_table_value(lua, &format!("ERR {message}"))?
        }
    };
    located(lua, table)
}

/// The chunk (`@user_script` or `@user_function`) and line of the innermost script frame on
/// the stack.
fn script_line(lua: &Lua) -> Option<(&'static str, usize)> {
    let mut level = 0;
    while let Some((source, line)) = lua.inspect_stack(level, |frame| {
        (
            frame.source().source.map(|s| s.into_owned()),
            frame.current_line(),
        )
    }) {
        for chunk in ["@user_script", "@user_function"] {
            if source.as_deref() == Some(chunk) {
                return Some((chunk, line.unwrap_or(0)));
            }
        }
        level += 1;
    }
    None
}

/// Records in an error table where in the script it happened.
fn located(lua: &Lua, table: Table) -> mlua::Result<Table> {
    if let Some((chunk, line)) = script_line(lua) {
        table.raw_set("source", chunk)?;
        table.raw_set("line", line)?;
    }
    Ok(table)
}
