//! The command table: every family's specs, looked up by name in any case, with each
//! command's index for per-command statistics and handler tables.

use super::{arity_error, specs, unknown_command, unknown_subcommand, Args, CmdError, CommandSpec};
use ahash::AHashMap;
use std::sync::OnceLock;

/// A command resolved from the table, with its index for per-command statistics.
#[derive(Clone, Copy)]
pub struct Resolved {
    pub spec: &'static CommandSpec,
    pub index: usize,
}

pub struct Table {
    by_name: AHashMap<Vec<u8>, Resolved>,
    /// Every top-level command and subcommand, in stats order.
    pub all: Vec<&'static CommandSpec>,
    pub top_level: Vec<&'static CommandSpec>,
}

impl Table {
    fn build() -> Table {
        let mut by_name = AHashMap::new();
        let mut all = Vec::new();
        let mut top_level = Vec::new();
        for family in specs::families() {
            for spec in family {
                top_level.push(spec);
                let index = all.len();
                all.push(spec);
                by_name.insert(spec.name.as_bytes().to_vec(), Resolved { spec, index });
                for sub in spec.subcommands {
                    let index = all.len();
                    all.push(sub);
                    by_name.insert(sub.name.as_bytes().to_vec(), Resolved { spec: sub, index });
                }
            }
        }
        top_level.sort_by_key(|s| s.name);
        Table {
            by_name,
            all,
            top_level,
        }
    }

    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(Table::build)
    }

    /// Case-insensitive lookup of a top-level command, or of `container|sub`.
    pub fn lookup(&self, name: &[u8]) -> Option<Resolved> {
        if name.len() > 64 {
            return None;
        }
        let mut lower = [0u8; 64];
        let lower = &mut lower[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..]).copied()
    }

    /// Resolves a call to its command or subcommand, or the error Redis gives.
    pub fn resolve(&self, args: &Args) -> Result<Resolved, CmdError> {
        // `container|sub` names a subcommand in COMMAND INFO and ACL rules, never in a call.
        let called = Some(&args[0]).filter(|name| !name.contains(&b'|'));
        let Some(top) = called.and_then(|name| self.lookup(name)) else {
            return Err(unknown_command(args));
        };
        if top.spec.subcommands.is_empty() {
            return Ok(top);
        }
        if args.len() < 2 {
            // A container that also runs bare (COMMAND) answers itself.
            if top.spec.arity_ok(1) {
                return Ok(top);
            }
            return Err(arity_error(top.spec));
        }
        let mut full = top.spec.name.as_bytes().to_vec();
        full.push(b'|');
        full.extend_from_slice(&args[1]);
        self.lookup(&full)
            .ok_or_else(|| unknown_subcommand(top.spec.name, &args[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn key_positions_from_specs() {
        let table = Table::get();
        let keys = |words: &[&str]| {
            let a = args(words);
            table.resolve(&a).unwrap().spec.key_positions(&a)
        };
        assert_eq!(keys(&["GET", "a"]), vec![1]);
        assert_eq!(keys(&["MSET", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(keys(&["DEL", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["BITOP", "AND", "d", "a", "b"]), vec![2, 3, 4]);
        assert_eq!(keys(&["LCS", "a", "b"]), vec![1, 2]);
        assert_eq!(keys(&["PING"]), Vec::<usize>::new());
    }

    #[test]
    fn unknown_command_text() {
        let err = unknown_command(&args(&["foo", "a", "b"]));
        assert_eq!(
            err.to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
