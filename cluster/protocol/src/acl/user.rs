//! A user: whether it may log in, its passwords (kept as SHA-256, as Redis keeps them), and
//! its selectors, the first of which is the root one that rules outside parentheses change.

use super::selector::{has_spaces, Denied, Selector};
use super::RuleError;
use crate::command::{Args, KeyAccess, Resolved};
use crate::password;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    enabled: bool,
    nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false); neither at first.
    sanitize_payload: Option<bool>,
    passwords: Vec<[u8; 32]>,
    /// The root selector first, then those made with `(...)`.
    selectors: Vec<Selector>,
    all_channels_by_default: bool,
}

/// A password hash as the `#<hash>` rule takes it: 64 lowercase hex digits.
fn parse_hash(hex: &[u8]) -> Result<[u8; 32], RuleError> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(RuleError::BadHash),
    };
    if hex.len() != 64 {
        return Err(RuleError::BadHash);
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    /// A new user: off, without passwords, allowed nothing (ACL SETUSER of a new name).
    pub fn new(name: &[u8], all_channels_by_default: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels_by_default)],
            all_channels_by_default,
        }
    }

    /// The `default` user of a fresh server: on, nopass, every command, key and channel.
    pub fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            selectors: vec![Selector::everything(true)],
            ..User::new(b"default", true)
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Applies one rule (acl.c's `ACLSetUser`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize_payload = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize_payload = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                password::hash(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                password::hash(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            let at = self.passwords.iter().position(|p| *p == hash);
            self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::new(false, self.all_channels_by_default);
            let inner = &op[1..op.len() - 1];
            for rule in inner
                .split(|b| b.is_ascii_whitespace())
                .filter(|r| !r.is_empty())
            {
                // A selector's description ends at its first word that ends with `)`, so a
                // rule such as `&)` inside one could never be read back from ACL LIST, an ACL
                // file or the copy a cluster shares. Redis 7.0 accepts it and then fails to
                // load its own ACL file; it is refused here (found by fuzzing).
                if rule.ends_with(b")") {
                    return Err(RuleError::Syntax);
                }
                selector.apply(rule)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            let name = std::mem::take(&mut self.name);
            *self = User {
                sanitize_payload: Some(true),
                ..User::new(&name, self.all_channels_by_default)
            };
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Applies ACL SETUSER's rules all or none; a selector may be spread over several
    /// arguments (`(+get` `~key)`), as Redis accepts. Returns Redis's error text.
    pub fn apply_all(&mut self, rules: &[&[u8]]) -> Result<(), String> {
        let merged = merge_selectors(rules)?;
        let mut staged = self.clone();
        for rule in &merged {
            staged.apply(rule).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(rule)
                )
            })?;
        }
        *self = staged;
        Ok(())
    }

    /// Whether `password` logs this user in; a disabled user never logs in.
    pub fn accepts(&self, given: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let given = password::hash(given);
        // Every stored hash is compared, so the time taken tells nothing of which matched.
        self.passwords.iter().fold(false, |found, stored| {
            found | password::same(stored, &given)
        })
    }

    /// Whether this user may run the call (acl.c's `ACLCheckAllUserCommandPerm`): allowed
    /// when one selector allows it whole; otherwise the refusal Redis reports.
    pub fn check(&self, command: Resolved, args: &Args) -> Result<(), Denied> {
        let mut keys = None;
        let mut worst = Denied::Command;
        for selector in &self.selectors {
            match selector.check(command, args, &mut keys) {
                Ok(()) => return Ok(()),
                Err(denied) => worst = worst.max(denied),
            }
        }
        Err(worst)
    }

    /// Whether the user can run everything, so checks can be skipped.
    pub fn allows_all(&self) -> bool {
        self.selectors[0].allows_all()
    }

    /// Whether some selector that runs the call also reaches every key with `access`, as
    /// SORT's BY and GET require (acl.c's `ACLUserCheckCmdWithUnrestrictedKeyAccess`).
    pub fn reaches_every_key(&self, command: Resolved, args: &Args, access: KeyAccess) -> bool {
        let mut keys = None;
        self.selectors
            .iter()
            .any(|s| s.check(command, args, &mut keys).is_ok() && s.reaches_every_key(access))
    }

    /// Whether the user may use a channel (or, `is_pattern`, exactly this pattern).
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allows_channel(channel, is_pattern))
    }

    /// The channel patterns a user may use, None when it may use every channel.
    pub fn channel_patterns(&self) -> Option<Vec<Vec<u8>>> {
        let mut all = Vec::new();
        for selector in &self.selectors {
            all.extend_from_slice(selector.channel_patterns()?);
        }
        Some(all)
    }

    /// ACL LIST's description, after `user <name> `.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for flag in self.flags() {
            out.extend_from_slice(flag.as_bytes());
            out.push(b' ');
        }
        for hash in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(hex(hash).as_bytes());
            out.push(b' ');
        }
        for selector in &self.selectors {
            if selector.root {
                out.extend_from_slice(&selector.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&selector.describe());
                out.push(b')');
            }
        }
        out
    }

    /// The flags, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    pub fn password_hashes(&self) -> impl Iterator<Item = String> + '_ {
        self.passwords.iter().map(hex)
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    pub fn extra_selectors(&self) -> &[Selector] {
        &self.selectors[1..]
    }
}

/// Joins a selector spread over several arguments (acl.c's `ACLMergeSelectorArguments`).
pub fn merge_selectors(rules: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    let mut merged = Vec::new();
    let mut open: Option<(Vec<u8>, usize)> = None;
    for (i, rule) in rules.iter().enumerate() {
        if let Some((selector, _)) = &mut open {
            selector.push(b' ');
            selector.extend_from_slice(rule);
            if rule.last() == Some(&b')') {
                merged.push(open.take().expect("open selector").0);
            }
        } else if rule.first() == Some(&b'(') && rule.last() != Some(&b')') {
            open = Some((rule.to_vec(), i));
        } else {
            merged.push(rule.to_vec());
        }
    }
    if let Some((_, start)) = open {
        return Err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(rules[start])
        ));
    }
    Ok(merged)
}

/// A user name ACL SETUSER accepts.
pub fn valid_name(name: &[u8]) -> bool {
    !has_spaces(name)
}
