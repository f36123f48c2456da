//! Redis 7.0's ACL, one implementation for the shard server and the proxy: users with
//! passwords and selectors (commands and categories, key patterns with read and write
//! permissions, channel patterns), the checks made before each command, the ACL log, and the
//! ACL command itself. Exact to Redis 7.0.15's acl.c in texts and descriptions.

pub mod category;
pub mod command;
pub mod log;
mod redis_commands;
mod selector;
mod user;
mod users;

pub use log::{AclLog, Context, Entry, Reason};
pub use selector::{channels, Denied, KeyPattern, Selector};
pub use user::{hex, User};
pub use users::{Login, Registry, UserGone, Users};

use crate::command::CommandSpec;
use parking_lot::Mutex;

/// What was wrong with an ACL rule, in Redis's words (acl.c's `ACLSetUserStringError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unknown command or category name in ACL")]
    UnknownName,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeyAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Allowing first-arg of a subcommand is not supported")]
    FirstArgOfSubcommand,
}

/// The users and the log of one server or proxy.
#[derive(Default)]
pub struct Acl {
    pub users: Registry,
    pub log: Mutex<AclLog>,
}

/// AUTH's and HELLO's answer to a wrong password, a disabled user or an unknown one.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// AUTH <password> when the default user needs none.
pub const AUTH_WITHOUT_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// The error a refused command gets at the top level or in MULTI.
pub fn refusal(denied: Denied, spec: &CommandSpec) -> String {
    match denied {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            spec.full_name()
        ),
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }
}

/// The error EXEC gives a queued command the user may no longer run.
pub fn exec_refusal(denied: Denied) -> String {
    let reason = match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}")
}

/// The error `redis.call` raises in a script for a refused command.
pub fn script_refusal(denied: Denied) -> String {
    let what = match denied {
        Denied::Command => "can't run this command or subcommand",
        Denied::Key(_) => {
            "can't access at least one of the keys mentioned in the command arguments"
        }
        Denied::Channel(_) => "can't publish to the channel mentioned in the command",
    };
    format!("The user executing the script {what}")
}

impl Acl {
    /// Logs a refusal: the command's name, or the key or channel at fault.
    #[allow(clippy::too_many_arguments)]
    pub fn log_refusal(
        &self,
        denied: Denied,
        context: Context,
        spec: &CommandSpec,
        args: &crate::command::Args,
        username: &[u8],
        client_info: String,
        now_millis: i64,
    ) {
        let (reason, object) = match denied {
            Denied::Command => (Reason::Command, spec.full_name().as_bytes().to_vec()),
            Denied::Key(pos) => (Reason::Key, args[pos].to_vec()),
            Denied::Channel(pos) => (Reason::Channel, args[pos].to_vec()),
        };
        self.log.lock().add(Entry {
            count: 1,
            reason,
            context,
            object,
            username: username.to_vec(),
            millis: now_millis,
            client_info,
        });
    }

    /// Logs a failed AUTH or HELLO: `command` as the client typed it, the name tried.
    pub fn log_failed_auth(
        &self,
        command: &[u8],
        username: &[u8],
        context: Context,
        client_info: String,
        now_millis: i64,
    ) {
        self.log.lock().add(Entry {
            count: 1,
            reason: Reason::Auth,
            context,
            object: command.to_vec(),
            username: username.to_vec(),
            millis: now_millis,
            client_info,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Table;
    use bytes::Bytes;

    fn user(rules: &str) -> User {
        let mut user = User::new(b"u", false);
        let rules: Vec<&[u8]> = rules.split(' ').map(str::as_bytes).collect();
        user.apply_all(&rules).expect("valid rules");
        user
    }

    fn check(user: &User, call: &str) -> Result<(), Denied> {
        let args: Vec<Bytes> = call
            .split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        let resolved = Table::get().resolve(&args).expect("a known command");
        user.check(resolved, &args)
    }

    /// Found by fuzzing: a rule ending with `)` inside a selector made a user whose description
    /// could not be read back (the copy shared across a cluster, ACL SAVE then ACL LOAD).
    #[test]
    fn selectors_refuse_rules_their_description_could_not_hold() {
        let mut u = User::new(b"u", false);
        let rules: [&[u8]; 3] = [b"(", b"&~f~", b"&))"];
        assert!(u.apply_all(&rules).is_err());
        let mut users = Users::default();
        let described = user("on (~a &b +get) ~c").describe();
        users
            .define(b"u", &described)
            .expect("a description reads back");
        assert_eq!(users.get(b"u").unwrap().describe(), described);
    }

    /// Found by fuzzing: first arguments that are not UTF-8 were described lossily, so two
    /// different ones read back as one.
    #[test]
    fn first_arguments_are_described_byte_for_byte() {
        let mut u = User::new(b"u", false);
        let rules: [&[u8]; 2] = [b"+select|\xff", b"+select|\xed"];
        u.apply_all(&rules).expect("valid rules");
        let described = u.describe();
        assert!(described.ends_with(b"-@all +select|\xff +select|\xed"));
        let mut users = Users::default();
        users
            .define(b"u", &described)
            .expect("a description reads back");
        assert_eq!(users.get(b"u").unwrap().describe(), described);
    }

    #[test]
    fn descriptions_start_from_all_or_nothing_and_fit_categories() {
        let commands =
            |rules: &str| String::from_utf8(user(rules).root().describe_commands()).unwrap();
        assert_eq!(commands("+@all -@string"), "+@all -@string");
        assert_eq!(commands("-@all +@hash"), "-@all +@hash");
        assert_eq!(commands("+@all -client"), "+@all -client");
        assert_eq!(commands("+@all -client|kill"), "+@all -client|kill");
        assert_eq!(commands("+memory|doctor +memory"), "-@all +memory");
        assert_eq!(commands("+@all +client|id"), "+@all");
        for category in category::CATEGORIES {
            let minus = format!("+@all -@{category}");
            assert_eq!(commands(&minus), minus);
            let plus = format!("-@all +@{category}");
            assert_eq!(commands(&plus), plus);
        }
    }

    #[test]
    fn key_patterns_separate_reads_from_writes() {
        let u = user("+@all %R~r* %W~w* ~rw*");
        assert_eq!(check(&u, "GET r1"), Ok(()));
        assert_eq!(check(&u, "SET r1 v"), Err(Denied::Key(1)));
        assert_eq!(check(&u, "SET w1 v"), Ok(()));
        // SET ... GET reads too.
        assert_eq!(check(&u, "SET w1 v GET"), Err(Denied::Key(1)));
        assert_eq!(check(&u, "COPY r1 w1"), Ok(()));
        assert_eq!(check(&u, "COPY w1 r1"), Err(Denied::Key(1)));
        assert_eq!(check(&u, "BITFIELD r1 GET u8 0"), Ok(()));
        assert_eq!(check(&u, "BITFIELD r1 SET u8 0 1"), Err(Denied::Key(1)));
        assert_eq!(check(&u, "SORT rw1 STORE r1"), Err(Denied::Key(3)));
    }

    #[test]
    fn the_most_telling_refusal_of_all_selectors_wins() {
        let u = user("-@all &c* (+get ~a*) (+publish)");
        assert_eq!(check(&u, "GET a1"), Ok(()));
        assert_eq!(check(&u, "GET b1"), Err(Denied::Key(1)));
        assert_eq!(check(&u, "SET a1 v"), Err(Denied::Command));
        // The selector's channels are its own: resetchannels by default.
        assert_eq!(check(&u, "PUBLISH c1 m"), Err(Denied::Channel(1)));
        let first_arg = user("-@all +select|0");
        assert_eq!(check(&first_arg, "SELECT 0"), Ok(()));
        assert_eq!(check(&first_arg, "SELECT 1"), Err(Denied::Command));
        // AUTH and HELLO are never refused.
        assert_eq!(check(&first_arg, "AUTH a b"), Ok(()));
    }

    #[test]
    fn rule_errors_leave_the_user_as_it_was() {
        let mut u = user("on >pw +get");
        let before = u.clone();
        let rules: [&[u8]; 3] = [b"+set", b"~*", b"+nosuch"];
        let error = u.apply_all(&rules).unwrap_err();
        assert_eq!(
            error,
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(u, before);
        assert!(u.accepts(b"pw") && !u.accepts(b"other"));
    }
}
