//! ACL categories (`@read`, `@admin`...) in Redis's order, which ACL CAT, COMMAND INFO and the
//! rule descriptions follow, and each command's categories as bits.

use super::redis_commands::REDIS_COMMANDS;
use crate::command::{Resolved, Table};
use ahash::AHashMap;
use std::sync::OnceLock;

/// Every category, in Redis 7.0's order (acl.c's `ACLCommandCategories`).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category named in any case, if there is one.
pub fn bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// A command as ACL rules know it.
pub struct AclCommand {
    pub name: &'static str,
    pub categories: u32,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Redis 7.0.15 has it: only these count when rules are described, so that descriptions
    /// read as Redis's.
    pub from_redis: bool,
}

/// The commands ACL rules range over: Redis 7.0.15's, in name order with each container's
/// subcommands after it, then slotcache's own that Redis lacks. Ids index this list.
pub struct Commands {
    pub all: Vec<AclCommand>,
    by_name: AHashMap<&'static str, usize>,
    /// The id of each command of slotcache's table, by table index.
    of_table: Vec<usize>,
}

fn bits_of(categories: &str) -> u32 {
    categories
        .split(' ')
        .filter_map(|word| word.strip_prefix('@'))
        .filter_map(|name| bit(name.as_bytes()))
        .fold(0, |bits, b| bits | b)
}

impl Commands {
    pub fn get() -> &'static Commands {
        static COMMANDS: OnceLock<Commands> = OnceLock::new();
        COMMANDS.get_or_init(Commands::build)
    }

    fn build() -> Commands {
        let mut commands = Commands {
            all: Vec::new(),
            by_name: AHashMap::new(),
            of_table: Vec::new(),
        };
        for (name, categories) in REDIS_COMMANDS {
            commands.add(name, bits_of(categories), true);
        }
        let table = Table::get();
        for spec in &table.all {
            let id = match commands.by_name.get(spec.name) {
                Some(&id) => id,
                None => commands.add(spec.name, bits_of(spec.acl), false),
            };
            commands.of_table.push(id);
        }
        commands
    }

    fn add(&mut self, name: &'static str, categories: u32, from_redis: bool) -> usize {
        let id = self.all.len();
        let parent = name
            .split_once('|')
            .map(|(container, _)| self.by_name[container]);
        if let Some(parent) = parent {
            self.all[parent].children.push(id);
        }
        self.all.push(AclCommand {
            name,
            categories,
            parent,
            children: Vec::new(),
            from_redis,
        });
        self.by_name.insert(name, id);
        id
    }

    /// A command or `container|sub` named in any case.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        self.by_name.get(name.as_str()).copied()
    }

    /// The id of a command of slotcache's table.
    pub fn id(&self, resolved: Resolved) -> usize {
        self.of_table[resolved.index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slotcache_commands_are_redis_commands_but_a_few() {
        let mut extra: Vec<&str> = Commands::get()
            .all
            .iter()
            .filter(|c| !c.from_redis)
            .map(|c| c.name)
            .collect();
        extra.sort_unstable();
        assert_eq!(
            extra,
            [
                "client|no-touch",
                "client|setinfo",
                "cluster|digest",
                "cluster|hotkeys",
                "cluster|partition"
            ]
        );
    }

    #[test]
    fn every_category_a_spec_names_is_known() {
        for spec in &Table::get().all {
            for word in spec.acl.split(' ').filter(|w| !w.is_empty()) {
                let name = word.strip_prefix('@').expect("categories start with @");
                assert!(bit(name.as_bytes()).is_some(), "{}: {word}", spec.name);
            }
        }
    }
}
