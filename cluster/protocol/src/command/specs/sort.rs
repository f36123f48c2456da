//! The sort family's command specs: what COMMAND reports and routing reads.

use crate::command::{is, ks, ks_noted, Args, Begin, CommandSpec, Find, Flags};

const BY_GET_NOTE: &str = "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort";

const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        arity: -2,
        flags: Flags::of("write denyoom movablekeys"),
        acl: "@write @set @sortedset @list @slow @dangerous",
        keys: (1, 1, 1),
        key_specs: &[
            ks("RO access", Begin::Index(1), Find::Range(0, 1, 0)),
            ks_noted(BY_GET_NOTE, "RO access", Begin::Unknown, Find::Unknown),
            ks_noted("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array", "OW update", Begin::Unknown, Find::Unknown),
        ],
        summary: "Sort the elements in a list, set or sorted set",
        since: "1.0.0",
        group: "generic",
        complexity: COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: Flags::of("readonly movablekeys"),
        acl: "@read @set @sortedset @list @slow @dangerous",
        keys: (1, 1, 1),
        key_specs: &[
            ks("RO access", Begin::Index(1), Find::Range(0, 1, 0)),
            ks_noted(BY_GET_NOTE, "RO access", Begin::Unknown, Find::Unknown),
        ],
        summary: "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        since: "7.0.0",
        group: "generic",
        complexity: COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
];

/// Where SORT's (last) STORE key is, as Redis's `sortGetKeys` finds it: LIMIT's, BY's and
/// GET's arguments are skipped.
pub fn store_position(args: &Args) -> Option<usize> {
    let mut found = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "limit") {
            i += 2;
        } else if is(&args[i], "get") || is(&args[i], "by") {
            i += 1;
        } else if is(&args[i], "store") && i + 1 < args.len() {
            found = Some(i + 1);
        }
        i += 1;
    }
    found
}
