//! ACL SETUSER's rule parser. Rules are the input's space-separated words. Whatever they are,
//! no panic; and a user they define must survive the trip every cluster user makes: described
//! as ACL LIST describes it (what etcd stores), then defined again from that description on
//! another proxy or server, it must describe the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotcache_protocol::acl::{User, Users};

fuzz_target!(|data: &[u8]| {
    let rules: Vec<&[u8]> = data.split(|&b| b == b' ').collect();
    let mut user = User::new(b"fuzzed", false);
    if user.apply_all(&rules).is_err() {
        return;
    }
    let description = user.describe();
    let mut users = Users::default();
    users
        .define(b"fuzzed", &description)
        .expect("a description defines its user");
    let again = users.get(b"fuzzed").expect("defined").describe();
    assert_eq!(
        String::from_utf8_lossy(&description),
        String::from_utf8_lossy(&again)
    );
});
