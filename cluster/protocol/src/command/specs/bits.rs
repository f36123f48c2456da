//! The bits family's command specs: what COMMAND reports and routing reads.

use crate::command::{is, ks, ks_noted, Args, Begin, CommandSpec, Find, Flags, KeyAccess};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        arity: 4,
        flags: Flags::of("write denyoom"),
        acl: "@write @bitmap @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RW access update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Sets or clears the bit at offset in the string value stored at key",
        since: "2.2.0",
        group: "bitmap",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "getbit",
        arity: 3,
        flags: Flags::of("readonly fast"),
        acl: "@read @bitmap @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Returns the bit value at offset in the string value stored at key",
        since: "2.2.0",
        group: "bitmap",
        complexity: "O(1)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitcount",
        arity: -2,
        flags: Flags::of("readonly"),
        acl: "@read @bitmap @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Count set bits in a string",
        since: "2.6.0",
        group: "bitmap",
        complexity: "O(N)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitpos",
        arity: -3,
        flags: Flags::of("readonly"),
        acl: "@read @bitmap @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Find first bit set or clear in a string",
        since: "2.8.7",
        group: "bitmap",
        complexity: "O(N)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: Flags::of("write denyoom"),
        acl: "@write @bitmap @slow",
        keys: (2, -1, 1),
        key_specs: &[ks("OW update", Begin::Index(2), Find::Range(0, 1, 0)), ks("RO access", Begin::Index(3), Find::Range(-1, 1, 0))],
        summary: "Perform bitwise operations between strings",
        since: "2.6.0",
        group: "bitmap",
        complexity: "O(N)",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitfield",
        arity: -2,
        flags: Flags::of("write denyoom"),
        acl: "@write @bitmap @slow",
        keys: (1, 1, 1),
        key_specs: &[ks_noted("This command allows both access and modification of the key", "RW access update variable_flags", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Perform arbitrary bitfield integer operations on strings",
        since: "3.2.0",
        group: "bitmap",
        complexity: "O(1) for each subcommand specified",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitfield_ro",
        arity: -2,
        flags: Flags::of("readonly fast"),
        acl: "@read @bitmap @fast",
        keys: (1, 1, 1),
        key_specs: &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        since: "6.0.0",
        group: "bitmap",
        complexity: "O(1) for each subcommand specified",
        ..CommandSpec::DEFAULT
    },

];

/// What BITFIELD does to its key, as Redis's `bitfieldGetKeys` decides: only reads when every
/// operation is a GET (OVERFLOW changes nothing), else reads and writes.
pub fn bitfield_access(args: &Args) -> KeyAccess {
    let mut i = 2;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        if is(&args[i], "get") && remaining >= 2 {
            i += 3;
        } else if is(&args[i], "overflow") && remaining >= 1 {
            i += 2;
        } else {
            // SET, INCRBY, or a syntax error: safer to assume a write.
            return KeyAccess::READ_WRITE;
        }
    }
    KeyAccess::READ
}
