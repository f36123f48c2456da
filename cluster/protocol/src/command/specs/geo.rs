//! The geo family's command specs: what COMMAND reports and routing reads.

use crate::command::{ks, Begin, CommandSpec, Find, Flags, KeySpec};

const RADIUS_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

/// A read of the index at argument 1.
const READS_INDEX: &[KeySpec] = &[ks("RO access", Begin::Index(1), Find::Range(0, 1, 0))];

/// GEORADIUS and GEORADIUSBYMEMBER: the index, and a STORE or STOREDIST key found by keyword
/// from argument `from`.
const fn radius_store_keys(from: i64) -> [KeySpec; 3] {
    [
        ks("RO access", Begin::Index(1), Find::Range(0, 1, 0)),
        ks(
            "OW update",
            Begin::Keyword("STORE", from),
            Find::Range(0, 1, 0),
        ),
        ks(
            "OW update",
            Begin::Keyword("STOREDIST", from),
            Find::Range(0, 1, 0),
        ),
    ]
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "geoadd",
        arity: -5,
        flags: Flags::of("write denyoom"),
        acl: "@write @geo @slow",
        keys: (1, 1, 1),
        key_specs: &[ks("RW update", Begin::Index(1), Find::Range(0, 1, 0))],
        summary: "Add one or more geospatial items in the geospatial index represented using a sorted set",
        since: "3.2.0",
        group: "geo",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geodist",
        arity: -4,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "Returns the distance between two members of a geospatial index",
        since: "3.2.0",
        group: "geo",
        complexity: "O(log(N))",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geohash",
        arity: -2,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "Returns members of a geospatial index as standard geohash strings",
        since: "3.2.0",
        group: "geo",
        complexity: "O(log(N)) for each member requested, where N is the number of elements in the sorted set.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geopos",
        arity: -2,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "Returns longitude and latitude of members of a geospatial index",
        since: "3.2.0",
        group: "geo",
        complexity: "O(N) where N is the number of members requested.",
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadius",
        arity: -6,
        flags: Flags::of("write denyoom movablekeys"),
        acl: "@write @geo @slow",
        keys: (1, 1, 1),
        key_specs: &radius_store_keys(6),
        summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
        since: "3.2.0",
        group: "geo",
        complexity: RADIUS_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadius_ro",
        arity: -6,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "A read-only variant for GEORADIUS",
        since: "3.2.10",
        group: "geo",
        complexity: RADIUS_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadiusbymember",
        arity: -5,
        flags: Flags::of("write denyoom movablekeys"),
        acl: "@write @geo @slow",
        keys: (1, 1, 1),
        key_specs: &radius_store_keys(5),
        summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
        since: "3.2.0",
        group: "geo",
        complexity: RADIUS_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadiusbymember_ro",
        arity: -5,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "A read-only variant for GEORADIUSBYMEMBER",
        since: "3.2.10",
        group: "geo",
        complexity: RADIUS_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geosearch",
        arity: -7,
        flags: Flags::of("readonly"),
        acl: "@read @geo @slow",
        keys: (1, 1, 1),
        key_specs: READS_INDEX,
        summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
        since: "6.2.0",
        group: "geo",
        complexity: SEARCH_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geosearchstore",
        arity: -8,
        flags: Flags::of("write denyoom"),
        acl: "@write @geo @slow",
        keys: (1, 2, 1),
        key_specs: &[
            ks("OW update", Begin::Index(1), Find::Range(0, 1, 0)),
            ks("RO access", Begin::Index(2), Find::Range(0, 1, 0)),
        ],
        summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
        since: "6.2.0",
        group: "geo",
        complexity: SEARCH_COMPLEXITY,
        ..CommandSpec::DEFAULT
    },
];
