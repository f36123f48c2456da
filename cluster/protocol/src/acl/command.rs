//! The ACL command's subcommands, answered the same by the shard server and the proxy.

use super::{category, Acl, Denied, User};
use crate::command::{is, subcommand_syntax, Args, CmdError, Table};
use crate::resp::parse::parse_i64;
use crate::resp::Reply;
use std::sync::Arc;

/// Who runs ACL, and where its users are saved.
pub struct Caller<'a> {
    pub username: &'a [u8],
    /// `aclfile`, if the server has one.
    pub acl_file: Option<&'a str>,
    pub now_millis: i64,
}

/// What an ACL command changed, for the host to act on: connections of deleted users are
/// closed, subscribers of a changed user may have lost channels.
#[derive(Debug)]
pub enum Change {
    Nothing,
    User {
        name: Vec<u8>,
        before: Option<Arc<User>>,
    },
    Deleted(Vec<Vec<u8>>),
    Loaded,
}

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

const NO_ACL_FILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Runs `ACL <sub> ...`, writing its reply.
pub fn run(acl: &Acl, caller: &Caller, args: &Args, out: &mut Reply) -> Result<Change, CmdError> {
    let sub = &args[1];
    let argc = args.len();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if is(sub, "setuser") {
        if args[2][..] == *crate::internal::USER.as_bytes() {
            return Err(CmdError::Other(crate::internal::RESERVED.into()));
        }
        let rules: Vec<&[u8]> = args[3..].iter().map(|a| &a[..]).collect();
        let before = acl
            .users
            .change(|users| users.set_user(&args[2], &rules))
            .map_err(CmdError::err)?;
        out.ok();
        return Ok(Change::User {
            name: args[2].to_vec(),
            before,
        });
    }
    if is(sub, "deluser") {
        let names: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
        let deleted = acl
            .users
            .change(|users| users.delete(&names))
            .map_err(CmdError::err)?;
        out.int(deleted.len() as i64);
        return Ok(Change::Deleted(deleted));
    }
    if is(sub, "getuser") && argc == 3 {
        match acl.users.read().get(&args[2]) {
            Some(user) => write_user(user, out),
            None => out.null(),
        }
    } else if (is(sub, "list") || is(sub, "users")) && argc == 2 {
        let users = acl.users.read();
        let names_only = is(sub, "users");
        out.array(users.all().count());
        if names_only {
            users.all().for_each(|u| out.bulk(&u.name));
        } else {
            users.list().for_each(|line| out.bulk(line.as_bytes()));
        }
    } else if is(sub, "whoami") && argc == 2 {
        out.bulk(caller.username);
    } else if (is(sub, "load") || is(sub, "save")) && caller.acl_file.is_none() {
        return Err(CmdError::err(NO_ACL_FILE));
    } else if is(sub, "load") && argc == 2 {
        let file = caller.acl_file.expect("checked above");
        let contents = std::fs::read_to_string(file).map_err(|e| {
            CmdError::err(format!("Error loading ACLs, opening file '{file}': {e}"))
        })?;
        acl.users
            .change(|users| users.load(&contents, file))
            .map_err(CmdError::err)?;
        out.ok();
        return Ok(Change::Loaded);
    } else if is(sub, "save") && argc == 2 {
        let file = caller.acl_file.expect("checked above");
        let contents = acl.users.read().save();
        let temp = format!("{file}.tmp-{}", std::process::id());
        std::fs::write(&temp, contents)
            .and_then(|()| std::fs::rename(&temp, file))
            .map_err(|_| CmdError::err("There was an error trying to save the ACLs. Please check the server logs for more information"))?;
        out.ok();
    } else if is(sub, "cat") && argc == 2 {
        out.array(category::CATEGORIES.len());
        category::CATEGORIES
            .iter()
            .for_each(|c| out.bulk(c.as_bytes()));
    } else if is(sub, "cat") && argc == 3 {
        let bit = category::bit(&args[2]).ok_or_else(|| {
            let name: String = text(&args[2]).chars().take(128).collect();
            CmdError::err(format!("Unknown category '{name}'"))
        })?;
        let names: Vec<&str> = category::Commands::get()
            .all
            .iter()
            .filter(|c| c.from_redis && c.categories & bit != 0)
            .map(|c| c.name)
            .collect();
        out.bulks(names.iter().map(|n| n.as_bytes()));
    } else if is(sub, "genpass") && (argc == 2 || argc == 3) {
        let bits = match args.get(2) {
            Some(arg) => parse_i64(arg).ok_or(CmdError::NotInteger)?,
            None => 256,
        };
        if !(1..=4096).contains(&bits) {
            return Err(CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
        }
        let chars = (bits as usize).div_ceil(4);
        let mut random = vec![0u8; chars.div_ceil(2)];
        rand::fill(&mut random[..]);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        out.bulk(&hex.as_bytes()[..chars]);
    } else if is(sub, "log") && (argc == 2 || argc == 3) {
        let mut count = 10;
        if let Some(arg) = args.get(2) {
            if is(arg, "reset") {
                acl.log.lock().reset();
                out.ok();
                return Ok(Change::Nothing);
            }
            count = parse_i64(arg).ok_or(CmdError::NotInteger)?.max(0);
        }
        acl.log.lock().write(count as usize, caller.now_millis, out);
    } else if is(sub, "dryrun") && argc >= 4 {
        dry_run(acl, args, out)?;
    } else if is(sub, "help") && argc == 2 {
        crate::command::help::write_help(out, "ACL", HELP);
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(Change::Nothing)
}

/// ACL DRYRUN <user> <command> [args...]: OK, or why the user may not run it.
fn dry_run(acl: &Acl, args: &Args, out: &mut Reply) -> Result<(), CmdError> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let users = acl.users.read();
    let user = users
        .get(&args[2])
        .ok_or_else(|| CmdError::err(format!("User '{}' not found", text(&args[2]))))?;
    let call = &args[3..];
    let table = Table::get();
    let not_found = || CmdError::err(format!("Command '{}' not found", text(&call[0])));
    let top = Some(&call[0])
        .filter(|name| !name.contains(&b'|'))
        .and_then(|name| table.lookup(name))
        .ok_or_else(not_found)?;
    let command = if top.spec.subcommands.is_empty() || call.len() < 2 {
        top
    } else {
        let mut full = top.spec.name.as_bytes().to_vec();
        full.push(b'|');
        full.extend_from_slice(&call[1]);
        table.lookup(&full).ok_or_else(not_found)?
    };
    if !command.spec.arity_ok(call.len()) {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{}' command",
            command.spec.full_name()
        )));
    }
    match user.check(command, call) {
        Ok(()) => out.ok(),
        Err(Denied::Command) => out.bulk(
            format!(
                "This user has no permissions to run the '{}' command",
                command.spec.full_name()
            )
            .as_bytes(),
        ),
        Err(Denied::Key(pos)) => out.bulk(
            format!(
                "This user has no permissions to access the '{}' key",
                text(&call[pos])
            )
            .as_bytes(),
        ),
        Err(Denied::Channel(pos)) => out.bulk(
            format!(
                "This user has no permissions to access the '{}' channel",
                text(&call[pos])
            )
            .as_bytes(),
        ),
    }
    Ok(())
}

/// ACL GETUSER's map: flags, passwords, the root selector's fields, then the other selectors.
fn write_user(user: &User, out: &mut Reply) {
    out.map(6);
    out.bulk(b"flags");
    let flags = user.flags();
    out.set(flags.len());
    flags.iter().for_each(|f| out.bulk(f.as_bytes()));
    out.bulk(b"passwords");
    let hashes: Vec<String> = user.password_hashes().collect();
    out.bulks(hashes.iter().map(|h| h.as_bytes()));
    write_selector(user.root(), out);
    out.bulk(b"selectors");
    out.array(user.extra_selectors().len());
    for selector in user.extra_selectors() {
        out.map(3);
        write_selector(selector, out);
    }
}

fn write_selector(selector: &super::Selector, out: &mut Reply) {
    out.bulk(b"commands");
    out.bulk(&selector.describe_commands());
    out.bulk(b"keys");
    out.bulk(&selector.describe_keys());
    out.bulk(b"channels");
    out.bulk(&selector.describe_channels());
}
