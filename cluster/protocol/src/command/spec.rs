//! A command's description, as Redis 7 keeps it: arity, flags, key specs, ACL categories and
//! docs, and the key positions of a concrete call found from the key specs.

use super::{Args, Flags};

/// Where a key spec starts looking for keys (Redis 7 `begin_search`).
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    Index(i64),
    Keyword(&'static str, i64),
    Unknown,
}

/// How a key spec finds its keys from the start (Redis 7 `find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// lastkey, keystep, limit
    Range(i64, i64, i64),
    /// keynumidx, firstkey, keystep
    Keynum(i64, i64, i64),
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static str,
    pub begin: Begin,
    pub find: Find,
}

pub const fn ks(flags: &'static str, begin: Begin, find: Find) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin,
        find,
    }
}

/// A key spec with a note, as Redis documents some of them.
pub const fn ks_noted(
    notes: &'static str,
    flags: &'static str,
    begin: Begin,
    find: Find,
) -> KeySpec {
    KeySpec {
        notes,
        flags,
        begin,
        find,
    }
}

/// What a command does to one of its keys, for ACL key patterns (`%R~`, `%W~`): reading its
/// value (Redis's ACCESS flag), and changing it (INSERT, DELETE or UPDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAccess {
    pub read: bool,
    pub write: bool,
}

impl KeyAccess {
    pub const READ: KeyAccess = KeyAccess {
        read: true,
        write: false,
    };
    pub const WRITE: KeyAccess = KeyAccess {
        read: false,
        write: true,
    };
    pub const READ_WRITE: KeyAccess = KeyAccess {
        read: true,
        write: true,
    };

    /// The access a key spec's flags describe.
    pub fn of(flags: &str) -> KeyAccess {
        let has = |word| flags.split(' ').any(|w| w == word);
        KeyAccess {
            read: has("access"),
            write: has("insert") || has("delete") || has("update"),
        }
    }
}

/// One command of the table. Lists are space-separated words to keep the table readable.
pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i64,
    pub flags: Flags,
    pub acl: &'static str,
    /// Legacy (first key, last key, step), as COMMAND INFO reports them.
    pub keys: (i64, i64, i64),
    pub key_specs: &'static [KeySpec],
    pub tips: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub const DEFAULT: CommandSpec = CommandSpec {
        name: "",
        arity: 0,
        flags: Flags::NONE,
        acl: "",
        keys: (0, 0, 0),
        key_specs: &[],
        tips: "",
        summary: "",
        since: "",
        group: "",
        complexity: "",
        subcommands: &[],
    };

    /// The name used in error messages: `get`, or `client|kill` for a subcommand.
    pub fn full_name(&self) -> &'static str {
        self.name
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        (self.arity > 0 && argc == self.arity) || (self.arity < 0 && argc >= -self.arity)
    }

    /// Key positions of a concrete call, from the key specs (COMMAND GETKEYS, routing).
    pub fn key_positions(&self, args: &Args) -> Vec<usize> {
        let mut positions = Vec::new();
        self.each_spec_key(args, |pos, _| positions.push(pos));
        // SORT's STORE key can stand anywhere: Redis finds it with a procedure of its own.
        if self.name == "sort" {
            positions.extend(super::specs::sort::store_position(args));
        }
        positions
    }

    /// Whether the one key of a call is its first argument, as for most commands: callers
    /// take it without walking the key specs.
    pub fn has_one_key_first(&self) -> bool {
        matches!(
            self.key_specs,
            [KeySpec {
                begin: Begin::Index(1),
                find: Find::Range(0, ..),
                ..
            }]
        )
    }

    /// Calls `visit` with each key of a concrete call (of the right arity) when the key specs
    /// name every key it may touch, and returns true; returns false, having visited nothing,
    /// for a call that may touch others (a keyless command, a script, SORT's BY and GET
    /// patterns, a spec Redis leaves unknown). Whoever must know each key a call touches then
    /// has to assume any.
    pub fn each_named_key<'a>(&self, args: &'a Args, mut visit: impl FnMut(&'a [u8])) -> bool {
        if self.has_one_key_first() {
            if let Some(key) = args.get(1) {
                visit(key);
            }
            return true;
        }
        let unnamed = self.key_specs.is_empty()
            || self.group == "scripting"
            || self.name.starts_with("sort")
            || self.key_specs.iter().any(|spec| {
                matches!(spec.begin, Begin::Unknown) || matches!(spec.find, Find::Unknown)
            });
        if unnamed {
            return false;
        }
        self.each_spec_key(args, |position, _| visit(&args[position]));
        true
    }

    /// Each key of a concrete call with what the call does to it, as Redis's
    /// `getKeysFromCommandWithSpecs` finds them for ACL checks: from the key specs, except
    /// where a spec's flags vary with the arguments (SET ... GET, BITFIELD) or its keys cannot
    /// be found from the spec (SORT's STORE), where Redis asks the command itself.
    pub fn key_refs(&self, args: &Args) -> Vec<(usize, KeyAccess)> {
        let mut refs = Vec::new();
        self.each_spec_key(args, |pos, flags| refs.push((pos, KeyAccess::of(flags))));
        match self.name {
            "sort" => refs.extend(
                super::specs::sort::store_position(args).map(|pos| (pos, KeyAccess::WRITE)),
            ),
            "set" => {
                let get = args.iter().skip(3).any(|a| super::is(a, "get"));
                let access = if get {
                    KeyAccess::READ_WRITE
                } else {
                    KeyAccess::WRITE
                };
                refs.iter_mut().for_each(|(_, a)| *a = access);
            }
            "bitfield" => {
                let access = super::specs::bits::bitfield_access(args);
                refs.iter_mut().for_each(|(_, a)| *a = access);
            }
            _ => {}
        }
        refs
    }

    /// Walks the key specs over a concrete call, as Redis's `getKeysUsingKeySpecs` does,
    /// telling `visit` each key's position and its spec's flags. Routing needs positions only,
    /// so the flags stay words here and are read only by ACL checks.
    fn each_spec_key(&self, args: &Args, mut visit: impl FnMut(usize, &'static str)) {
        let argc = args.len() as i64;
        for spec in self.key_specs {
            let start = match spec.begin {
                Begin::Index(i) => i,
                Begin::Keyword(word, from) => {
                    let found = if from >= 0 {
                        (from..argc)
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                    } else {
                        (1..=(argc + from))
                            .rev()
                            .find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                    };
                    match found {
                        Some(i) => i + 1,
                        None => continue,
                    }
                }
                Begin::Unknown => continue,
            };
            let (first, last, step) = match spec.find {
                Find::Range(lastkey, step, limit) => {
                    let last = if lastkey >= 0 {
                        start + lastkey
                    } else if limit > 1 {
                        start + (argc - start) / limit - 1
                    } else {
                        argc + lastkey
                    };
                    (start, last, step)
                }
                Find::Keynum(numidx, firstkey, step) => {
                    let Some(n) = args
                        .get((start + numidx) as usize)
                        .and_then(|a| crate::resp::parse::parse_i64(a))
                    else {
                        continue;
                    };
                    let first = start + firstkey;
                    (first, first + (n - 1) * step, step)
                }
                Find::Unknown => continue,
            };
            let mut i = first;
            while i <= last && i < argc && step > 0 {
                if i >= 1 {
                    visit(i as usize, spec.flags);
                }
                i += step;
            }
        }
    }
}
