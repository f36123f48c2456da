//! The users of a server or proxy: the registry ACL commands change, and the login each
//! connection holds, refreshed when the registry changes.

use super::user::{merge_selectors, valid_name, User};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A user as the registry holds it: `serial` tells a user deleted and made again from the one
/// a connection logged in as.
#[derive(Clone)]
struct Entry {
    serial: u64,
    user: Arc<User>,
}

/// Every user, by name in byte order (ACL LIST's and USERS' order, as Redis's radix tree).
pub struct Users {
    entries: BTreeMap<Vec<u8>, Entry>,
    next_serial: u64,
    /// `acl-pubsub-default`: whether new users get every channel.
    pub all_channels_by_default: bool,
}

impl Default for Users {
    fn default() -> Users {
        let mut users = Users {
            entries: BTreeMap::new(),
            next_serial: 0,
            all_channels_by_default: false,
        };
        users.put(User::default_user());
        users
    }
}

impl Users {
    fn put(&mut self, user: User) {
        let serial = match self.entries.get(&user.name) {
            Some(known) => known.serial,
            None => {
                self.next_serial += 1;
                self.next_serial
            }
        };
        let user = Arc::new(user);
        self.entries
            .insert(user.name.clone(), Entry { serial, user });
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.entries.get(name).map(|e| &e.user)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<User>> {
        self.entries.values().map(|e| &e.user)
    }

    /// ACL SETUSER: creates or changes a user, all rules or none. Returns the user as it was.
    pub fn set_user(&mut self, name: &[u8], rules: &[&[u8]]) -> Result<Option<Arc<User>>, String> {
        if !valid_name(name) {
            return Err("Usernames can't contain spaces or null characters".into());
        }
        let before = self.get(name).cloned();
        let mut user = match &before {
            Some(user) => (**user).clone(),
            None => User::new(name, self.all_channels_by_default),
        };
        user.apply_all(rules)?;
        self.put(user);
        Ok(before)
    }

    /// Makes `name` the user a description (ACL LIST's rules) defines, as a cluster's shared
    /// users arrive; a user already there keeps its connections.
    pub fn define(&mut self, name: &[u8], description: &[u8]) -> Result<(), String> {
        let words: Vec<&[u8]> = description
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        let mut user = User::new(name, self.all_channels_by_default);
        user.apply_all(&words)?;
        self.put(user);
        Ok(())
    }

    /// Removes a user, as a cluster's shared users leave; whether it was there.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        name != b"default" && self.entries.remove(name).is_some()
    }

    /// ACL DELUSER: the names that were there and are gone.
    pub fn delete(&mut self, names: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        if names.iter().any(|n| *n == b"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        Ok(names
            .iter()
            .filter_map(|n| self.entries.remove(*n).map(|_| n.to_vec()))
            .collect())
    }

    /// `requirepass`: the default user's only password, or nopass when empty.
    pub fn set_requirepass(&mut self, password: &[u8]) {
        let mut rule = b">".to_vec();
        rule.extend_from_slice(password);
        let rules: [&[u8]; 2] = if password.is_empty() {
            [b"resetpass", b"nopass"]
        } else {
            [b"resetpass", &rule]
        };
        self.set_user(b"default", &rules)
            .expect("requirepass rules are valid");
    }

    /// Replaces every user with those of an ACL file (`user <name> <rules...>` lines), or
    /// changes nothing and says what is wrong in Redis's words, as ACL LOAD.
    pub fn load(&mut self, text: &str, file: &str) -> Result<(), String> {
        let mut loaded = Users {
            entries: BTreeMap::new(),
            next_serial: self.next_serial,
            all_channels_by_default: self.all_channels_by_default,
        };
        let mut errors = String::new();
        for (n, line) in text.split('\n').enumerate() {
            let line_no = n + 1;
            let words: Vec<&[u8]> = line
                .trim_matches([' ', '\t', '\r'])
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::as_bytes)
                .collect();
            let Some((&first, rest)) = words.split_first() else {
                continue;
            };
            if first != b"user" || rest.is_empty() {
                errors += &format!(
                    "{file}:{line_no} should start with user keyword followed by the username. "
                );
                continue;
            }
            let name = rest[0];
            if !valid_name(name) {
                errors += &format!(
                    "'{file}:{line_no}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            if loaded.entries.contains_key(name) {
                errors += &format!(
                    "WARNING: Duplicate user '{}' found on line {line_no}. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            let Ok(merged) = merge_selectors(&rest[1..]) else {
                errors +=
                    &format!("{file}:{line_no}: Unmatched parenthesis in selector definition.");
                continue;
            };
            let mut user = User::new(name, self.all_channels_by_default);
            let mut syntax_error = false;
            for rule in &merged {
                match user.apply(rule) {
                    Ok(()) => {}
                    Err(e @ super::RuleError::UnknownName) => {
                        errors += &format!(
                            "{file}:{line_no}: Error in applying operation '{}': {e}. ",
                            String::from_utf8_lossy(rule)
                        )
                    }
                    Err(e) if !syntax_error => {
                        errors += &format!("{file}:{line_no}: {e}. ");
                        syntax_error = true;
                    }
                    Err(_) => {}
                }
            }
            loaded.put(user);
        }
        if !errors.is_empty() {
            return Err(errors.trim_end().to_string());
        }
        if !loaded.entries.contains_key(b"default".as_slice()) {
            loaded.put(User::default_user());
        }
        // Users that stay keep their serial, so their connections stay logged in.
        for (name, entry) in loaded.entries.iter_mut() {
            if let Some(known) = self.entries.get(name) {
                entry.serial = known.serial;
            }
        }
        *self = loaded;
        Ok(())
    }

    /// The ACL file's text: one `user` line per user, as ACL LIST shows them.
    pub fn save(&self) -> String {
        self.list().map(|line| format!("{line}\n")).collect()
    }

    /// ACL LIST's lines.
    pub fn list(&self) -> impl Iterator<Item = String> + '_ {
        self.all().map(|user| {
            format!(
                "user {} {}",
                String::from_utf8_lossy(&user.name),
                String::from_utf8_lossy(&user.describe())
            )
        })
    }
}

/// The registry shared by every connection, with a generation that moves on each change so
/// that connections see their user's new rules before their next command.
#[derive(Default)]
pub struct Registry {
    users: RwLock<Users>,
    generation: AtomicU64,
}

impl Registry {
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Users> {
        self.users.read()
    }

    /// Changes the users; connections pick the change up.
    pub fn change<T>(&self, change: impl FnOnce(&mut Users) -> T) -> T {
        let mut users = self.users.write();
        let out = change(&mut users);
        self.generation.fetch_add(1, Ordering::Release);
        out
    }

    /// A login as `name` with `password`, if they match an enabled user.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Login> {
        let users = self.users.read();
        let entry = users.entries.get(name)?;
        entry.user.accepts(password).then(|| Login {
            user: entry.user.clone(),
            serial: entry.serial,
            generation: self.generation.load(Ordering::Acquire),
        })
    }

    /// A login as `name` without its password, for an internal link that vouches for the
    /// user (see `internal::InternalLogin`); None when there is no such user.
    pub fn login_as(&self, name: &[u8]) -> Option<Login> {
        let users = self.users.read();
        let entry = users.entries.get(name)?;
        Some(Login {
            user: entry.user.clone(),
            serial: entry.serial,
            generation: self.generation.load(Ordering::Acquire),
        })
    }

    /// The login of a new connection: the default user.
    pub fn default_login(&self) -> Login {
        let users = self.users.read();
        let entry = &users.entries[b"default".as_slice()];
        Login {
            user: entry.user.clone(),
            serial: entry.serial,
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    /// Whether a connection must AUTH before anything else: the default user has a
    /// password, or is off.
    pub fn auth_required(&self) -> bool {
        let users = self.users.read();
        let default = &users.entries[b"default".as_slice()].user;
        !(default.nopass() && default.enabled())
    }
}

/// The user a connection runs as.
#[derive(Clone)]
pub struct Login {
    user: Arc<User>,
    serial: u64,
    generation: u64,
}

/// The connection's user was deleted: Redis closes such connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserGone;

impl Login {
    /// The user, with the registry's latest rules for it.
    pub fn user(&mut self, registry: &Registry) -> Result<&Arc<User>, UserGone> {
        let now = registry.generation.load(Ordering::Acquire);
        if now != self.generation {
            let users = registry.users.read();
            match users.entries.get(&self.user.name) {
                Some(entry) if entry.serial == self.serial => self.user = entry.user.clone(),
                _ => return Err(UserGone),
            }
            self.generation = now;
        }
        Ok(&self.user)
    }

    /// The user as last seen, for names in CLIENT LIST and ACL LOG.
    pub fn name(&self) -> &[u8] {
        &self.user.name
    }
}
