//! A selector: one set of permissions (commands, key patterns, channel patterns), as Redis 7's
//! `aclSelector`. A user has a root selector and may have more; a command runs when any one
//! of them allows it whole.

use super::category::{self, Commands};
use super::RuleError;
use crate::command::{Args, CommandSpec, Flag, KeyAccess, Resolved};
use crate::glob;

/// A key pattern and what it lets a command do to matching keys (`~`, `%R~`, `%W~`, `%RW~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    /// As ACL LIST and GETUSER write it.
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match (self.read, self.write) {
            (true, true) => b"~".as_slice(),
            (true, false) => b"%R~",
            _ => b"%W~",
        });
        out.extend_from_slice(&self.pattern);
    }

    fn allows(&self, access: KeyAccess) -> bool {
        (self.read || !access.read) && (self.write || !access.write)
    }
}

/// Why a command was refused, with the position of the key or channel at fault; ordered as
/// Redis ranks them when several selectors refuse for different reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub(super) root: bool,
    all_keys: bool,
    all_channels: bool,
    /// Every command, without testing bits: set by `+@all`, lost when any command is taken.
    all_commands: bool,
    /// `+@all`'s reserved bit: commands that do not exist yet would be allowed too. It picks
    /// whether a description starts from `+@all` or `-@all`.
    future_commands: bool,
    /// One bit per command and subcommand, by id (`Commands`).
    allowed: Vec<u64>,
    /// First arguments allowed for an otherwise refused command (`+select|0`), by id.
    first_args: Vec<(usize, Vec<Vec<u8>>)>,
    keys: Vec<KeyPattern>,
    channels: Vec<Vec<u8>>,
}

/// Whether a pattern or name holds a space or a NUL, which rules cannot carry.
pub(super) fn has_spaces(text: &[u8]) -> bool {
    text.iter()
        .any(|&b| b.is_ascii_whitespace() || b == 0 || b == 0x0b)
}

/// A command named in a rule: `get`, or `config|get`; never deeper, never a made-up
/// subcommand (Redis's strict lookup).
fn lookup(name: &[u8]) -> Option<usize> {
    match name.iter().filter(|&&b| b == b'|').count() {
        0 | 1 => Commands::get().lookup(name),
        _ => None,
    }
}

impl Selector {
    /// An empty selector: no commands, no keys, and channels as `acl-pubsub-default` says.
    pub fn new(root: bool, all_channels_by_default: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels: all_channels_by_default,
            all_commands: false,
            future_commands: false,
            allowed: vec![0; Commands::get().all.len().div_ceil(64)],
            first_args: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Allows everything: `~* &* +@all`, the default user's permissions.
    pub fn everything(root: bool) -> Selector {
        let mut selector = Selector::new(root, true);
        for rule in ["+@all", "~*"] {
            selector.apply(rule.as_bytes()).expect("a valid rule");
        }
        selector
    }

    fn bit(&self, index: usize) -> bool {
        self.allowed[index / 64] & (1 << (index % 64)) != 0
    }

    fn set_bit(&mut self, index: usize, on: bool) {
        if on {
            self.allowed[index / 64] |= 1 << (index % 64);
        } else {
            self.allowed[index / 64] &= !(1 << (index % 64));
            self.all_commands = false;
        }
    }

    /// Allows or refuses a command; a container takes its subcommands along.
    fn change(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.retain(|(i, _)| *i != id);
        for &sub in &Commands::get().all[id].children {
            self.set_bit(sub, on);
        }
    }

    fn change_category(&mut self, bit: u32, on: bool) {
        for (id, command) in Commands::get().all.iter().enumerate() {
            if command.categories & bit != 0 {
                self.change(id, on);
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        self.allowed.fill(if on { u64::MAX } else { 0 });
        self.all_commands = on;
        self.future_commands = on;
        self.first_args.clear();
    }

    /// Applies one rule (acl.c's `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category::bit(&op[2..]).ok_or(RuleError::UnknownName)?;
            self.change_category(bit, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' {
            let id = lookup(&op[1..]).ok_or(RuleError::UnknownName)?;
            self.change(id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        let (mut read, mut write) = (true, true);
        let mut offset = 1;
        if op[0] == b'%' {
            (read, write) = (false, false);
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if !read => read = true,
                    b'W' if !write => write = true,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            if !read && !write {
                return Err(RuleError::Syntax);
            }
        }
        let pattern = &op[offset..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(known) => {
                known.read |= read;
                known.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    /// `+name`, `+container|sub`, or `+command|first-arg` for a command without subcommands.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = lookup(name).ok_or(RuleError::UnknownName)?;
            self.change(id, true);
            return Ok(());
        };
        let (base, first_arg) = (&name[..bar], &name[bar + 1..]);
        let id = lookup(base).ok_or(RuleError::UnknownName)?;
        let command = &Commands::get().all[id];
        if command.parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if first_arg.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !command.children.is_empty() {
            let sub = lookup(name).ok_or(RuleError::UnknownName)?;
            self.change(sub, true);
            return Ok(());
        }
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, args)) if args.iter().any(|a| a.eq_ignore_ascii_case(first_arg)) => {}
            Some((_, args)) => args.push(first_arg.to_vec()),
            None => self.first_args.push((id, vec![first_arg.to_vec()])),
        }
        Ok(())
    }

    pub fn allows_all(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    /// Whether this selector lets the call run (acl.c's `ACLSelectorCheckCmd`); `keys` are
    /// the call's keys, found once for all selectors.
    pub fn check(
        &self,
        command: Resolved,
        args: &Args,
        keys: &mut Option<Vec<(usize, KeyAccess)>>,
    ) -> Result<(), Denied> {
        let spec = command.spec;
        let id = Commands::get().id(command);
        if !self.all_commands && !spec.flags.has(Flag::NoAuth) && !self.bit(id) {
            let at = if spec.name.contains('|') { 2 } else { 1 };
            let allowed_first = self
                .first_args
                .iter()
                .find(|(i, _)| *i == id)
                .zip(args.get(at))
                .is_some_and(|((_, firsts), arg)| {
                    firsts.iter().any(|f| f.eq_ignore_ascii_case(arg))
                });
            if !allowed_first {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys && !spec.key_specs.is_empty() {
            let keys = keys.get_or_insert_with(|| spec.key_refs(args));
            for &(pos, access) in keys.iter() {
                if !self.allows_key(&args[pos], access) {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.all_channels {
            for (pos, pattern) in channels(spec, args) {
                if !self.allows_channel(&args[pos], pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    pub fn allows_key(&self, key: &[u8], access: KeyAccess) -> bool {
        self.all_keys
            || self
                .keys
                .iter()
                .any(|k| k.allows(access) && glob::matches(&k.pattern, key, false))
    }

    /// A channel is matched against the patterns; a PSUBSCRIBE pattern only equals one.
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|allowed| {
                if is_pattern {
                    allowed == channel
                } else {
                    glob::matches(allowed, channel, false)
                }
            })
    }

    /// Whether this selector reaches every key with `access` (`~*`, `%R~*`...), as SORT's
    /// BY and GET need.
    pub fn reaches_every_key(&self, access: KeyAccess) -> bool {
        self.all_keys
            || self
                .keys
                .iter()
                .any(|k| k.allows(access) && k.pattern == b"*")
    }

    pub fn channel_patterns(&self) -> Option<&[Vec<u8>]> {
        (!self.all_channels).then_some(&self.channels[..])
    }

    /// The key and channel patterns and the command rules, as ACL LIST shows a selector.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for key in &self.keys {
                key.describe(&mut out);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for channel in &self.channels {
                out.push(b'&');
                out.extend_from_slice(channel);
                out.push(b' ');
            }
        }
        out.extend_from_slice(&self.describe_commands());
        out
    }

    /// ACL GETUSER's `keys` field.
    pub fn describe_keys(&self) -> Vec<u8> {
        match self.all_keys {
            true => b"~*".to_vec(),
            false => spaced(self.keys.iter().map(|key| {
                let mut out = Vec::new();
                key.describe(&mut out);
                out
            })),
        }
    }

    /// ACL GETUSER's `channels` field.
    pub fn describe_channels(&self) -> Vec<u8> {
        match self.all_channels {
            true => b"&*".to_vec(),
            false => spaced(self.channels.iter().map(|c| [b"&", &c[..]].concat())),
        }
    }

    /// The shortest rules Redis finds for this selector's commands (acl.c's
    /// `ACLDescribeSelectorCommandRules`): `+@all` or `-@all`, then the categories that fit
    /// best, one at a time, then single commands for what is left.
    /// Bytes, not a string: a first argument (`+select|0`) keeps exactly the bytes it was given.
    pub fn describe_commands(&self) -> Vec<u8> {
        let additive = !self.future_commands;
        let mut rules = Vec::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(false, false);
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = [false; category::CATEGORIES.len()];
        let commands = &Commands::get().all;
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (c, _) in category::CATEGORIES.iter().enumerate() {
                if applied[c] {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                // Only Redis's commands count, so descriptions read as Redis's.
                let counted = commands.iter().enumerate().filter(|(_, c)| c.from_redis);
                for (id, command) in counted {
                    if command.categories & (1 << c) != 0 {
                        if temp.bit(id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(c);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(c) = best else { break };
            fake.change_category(1 << c, additive);
            temp.change_category(1 << c, !additive);
            rules.extend_from_slice(if additive { b"+@" } else { b"-@" });
            rules.extend_from_slice(category::CATEGORIES[c].as_bytes());
            rules.push(b' ');
            applied[c] = true;
        }
        let top_level = commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.parent.is_none());
        let in_order = top_level.flat_map(|(id, c)| std::iter::once(id).chain(c.children.clone()));
        for id in in_order {
            let name = commands[id].name;
            let mine = self.bit(id);
            if mine != fake.bit(id) {
                rules.push(if mine { b'+' } else { b'-' });
                rules.extend_from_slice(name.as_bytes());
                rules.push(b' ');
                fake.change(id, mine);
            }
            if !mine {
                if let Some((_, firsts)) = self.first_args.iter().find(|(i, _)| *i == id) {
                    for first in firsts {
                        rules.push(b'+');
                        rules.extend_from_slice(name.as_bytes());
                        rules.push(b'|');
                        rules.extend_from_slice(first);
                        rules.push(b' ');
                    }
                }
            }
        }
        rules.pop();
        debug_assert_eq!(
            fake.allowed, self.allowed,
            "described rules must rebuild the bits"
        );
        rules
    }
}

/// Words joined by single spaces.
fn spaced(words: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    words.collect::<Vec<_>>().join(&b' ')
}

/// The channels a call names, with whether each is a pattern (PSUBSCRIBE), as Redis's
/// `getChannelsFromCommand` for the checks: what is published to or subscribed to.
pub fn channels<'a>(
    spec: &CommandSpec,
    args: &'a Args,
) -> impl Iterator<Item = (usize, bool)> + 'a {
    let (from, count, pattern) = match spec.name {
        "publish" | "spublish" => (1, 1, false),
        "subscribe" | "ssubscribe" => (1, usize::MAX, false),
        "psubscribe" => (1, usize::MAX, true),
        _ => (0, 0, false),
    };
    (from..args.len())
        .take(count)
        .map(move |pos| (pos, pattern))
}
