//! What COMMAND describes, shaped exactly as Redis 7.0's replies: a shard server's own table,
//! or what a proxy in front of the cluster serves (its own CLUSTER emulation, only the CLIENT
//! subcommands it answers, none of the commands it refuses).

use super::help::write_help;
use super::{
    arity_error, is, unknown_command, unknown_subcommand, Begin, CmdError, CommandSpec, Find, Table,
};
use crate::glob;
use crate::resp::Reply;
use bytes::Bytes;
use std::sync::OnceLock;

pub struct Catalog {
    /// Top-level commands, by name.
    top_level: Vec<&'static CommandSpec>,
    /// Whether a subcommand, by its `container|sub` name, is served.
    serves: fn(&str) -> bool,
}

impl Catalog {
    pub fn new(mut top_level: Vec<&'static CommandSpec>, serves: fn(&str) -> bool) -> Catalog {
        top_level.sort_by_key(|spec| spec.name);
        Catalog { top_level, serves }
    }

    /// A shard server's own table.
    pub fn server() -> &'static Catalog {
        static SERVER: OnceLock<Catalog> = OnceLock::new();
        SERVER.get_or_init(|| Catalog::new(Table::get().top_level.clone(), |_| true))
    }

    fn subcommands(
        &self,
        spec: &'static CommandSpec,
    ) -> impl Iterator<Item = &'static CommandSpec> {
        let serves = self.serves;
        spec.subcommands.iter().filter(move |sub| serves(sub.name))
    }

    /// A command or `container|sub` by name, in any case.
    fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let container = name.split('|').next().unwrap_or_default();
        let top = *self.top_level.iter().find(|spec| spec.name == container)?;
        match container == name {
            true => Some(top),
            false => self.subcommands(top).find(|sub| sub.name == name),
        }
    }

    /// The served command a call runs: its subcommand when it names one of a container.
    fn resolve(&self, call: &[Bytes]) -> Option<&'static CommandSpec> {
        let top = self.lookup(call.first()?)?;
        match (top.subcommands.is_empty(), call.get(1)) {
            (false, Some(sub)) => {
                let mut name = top.name.as_bytes().to_vec();
                name.push(b'|');
                name.extend_from_slice(sub);
                self.lookup(&name)
            }
            _ => Some(top),
        }
    }

    /// The served command a call runs, or the error Redis gives for it: unknown command or
    /// subcommand, wrong number of arguments.
    pub fn check(&self, call: &[Bytes]) -> Result<&'static CommandSpec, CmdError> {
        let spec = self.resolve(call).ok_or_else(|| match call {
            [container, sub, ..] if self.lookup(container).is_some() => {
                unknown_subcommand(&String::from_utf8_lossy(container), sub)
            }
            _ => unknown_command(call),
        })?;
        match spec.arity_ok(call.len()) {
            true => Ok(spec),
            false => Err(arity_error(spec)),
        }
    }

    /// COMMAND, and COMMAND INFO without names.
    pub fn command(&self, out: &mut Reply) {
        out.array(self.top_level.len());
        for spec in &self.top_level {
            self.write_info(out, spec);
        }
    }

    pub fn count(&self, out: &mut Reply) {
        out.int(self.top_level.len() as i64);
    }

    /// COMMAND INFO `names`.
    pub fn info(&self, out: &mut Reply, names: &[Bytes]) {
        if names.is_empty() {
            return self.command(out);
        }
        out.array(names.len());
        for name in names {
            match self.lookup(name) {
                Some(spec) => self.write_info(out, spec),
                None => out.null_array(),
            }
        }
    }

    /// COMMAND DOCS `names` (every command without names).
    pub fn docs(&self, out: &mut Reply, names: &[Bytes]) {
        let specs: Vec<&CommandSpec> = match names.is_empty() {
            true => self.top_level.clone(),
            false => names.iter().filter_map(|name| self.lookup(name)).collect(),
        };
        out.map(specs.len());
        for spec in specs {
            out.bulk(spec.name.as_bytes());
            self.write_docs(out, spec);
        }
    }

    /// COMMAND GETKEYS `call`.
    pub fn getkeys(&self, out: &mut Reply, call: &[Bytes]) -> Result<(), CmdError> {
        let spec = self
            .resolve(call)
            .ok_or_else(|| CmdError::err("Invalid command specified"))?;
        if !spec.arity_ok(call.len()) {
            return Err(CmdError::err(
                "Invalid number of arguments specified for command",
            ));
        }
        let positions = spec.key_positions(call);
        if positions.is_empty() {
            return Err(CmdError::err("The command has no key arguments"));
        }
        out.array(positions.len());
        for i in positions {
            out.bulk(&call[i]);
        }
        Ok(())
    }

    /// COMMAND LIST [FILTERBY MODULE|ACLCAT|PATTERN value]: `args` after LIST.
    pub fn list(&self, out: &mut Reply, args: &[Bytes]) -> Result<(), CmdError> {
        let filter = match args {
            [] => None,
            [by, kind, value] if is(by, "filterby") => {
                if !is(kind, "pattern") && !is(kind, "aclcat") && !is(kind, "module") {
                    return Err(CmdError::Syntax);
                }
                Some((kind, value))
            }
            _ => return Err(CmdError::Syntax),
        };
        let listed = |spec: &CommandSpec| match filter {
            None => true,
            Some((kind, value)) if is(kind, "pattern") => {
                glob::matches(value, spec.name.as_bytes(), true)
            }
            Some((kind, value)) if is(kind, "aclcat") => spec.acl.split(' ').any(|cat| {
                cat.trim_start_matches('@')
                    .eq_ignore_ascii_case(&String::from_utf8_lossy(value))
            }),
            Some(_) => false,
        };
        let names: Vec<&str> = self
            .top_level
            .iter()
            .flat_map(|spec| std::iter::once(*spec).chain(self.subcommands(spec)))
            .filter(|spec| listed(spec))
            .map(|spec| spec.name)
            .collect();
        out.bulks(names.into_iter());
        Ok(())
    }

    pub fn help(out: &mut Reply) {
        write_help(
            out,
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
            ],
        );
    }

    /// Answers a whole COMMAND request (for a proxy, which has no dispatcher of its own for
    /// it): its subcommands and their arities are checked against this catalog.
    pub fn answer(&self, out: &mut Reply, args: &[Bytes]) -> Result<(), CmdError> {
        match self.check(args)?.name {
            "command|count" => self.count(out),
            "command|info" => self.info(out, &args[2..]),
            "command|docs" => self.docs(out, &args[2..]),
            "command|getkeys" => self.getkeys(out, &args[2..])?,
            "command|list" => self.list(out, &args[2..])?,
            "command|help" => Catalog::help(out),
            _ => self.command(out),
        }
        Ok(())
    }

    /// One COMMAND INFO entry.
    fn write_info(&self, out: &mut Reply, spec: &'static CommandSpec) {
        out.array(10);
        out.bulk(spec.name.as_bytes());
        out.int(spec.arity);
        write_words(out, spec.flags.words(), false);
        out.int(spec.keys.0);
        out.int(spec.keys.1);
        out.int(spec.keys.2);
        write_words(out, spec.acl.split(' '), false);
        write_words(out, spec.tips.split(' '), true);
        out.set(spec.key_specs.len());
        for key_spec in spec.key_specs {
            write_key_spec(out, key_spec);
        }
        let subcommands: Vec<_> = self.subcommands(spec).collect();
        out.set(subcommands.len());
        for sub in subcommands {
            self.write_info(out, sub);
        }
    }

    fn write_docs(&self, out: &mut Reply, spec: &'static CommandSpec) {
        let mut fields: Vec<(&str, &str)> = vec![
            ("summary", spec.summary),
            ("since", spec.since),
            ("group", spec.group),
        ];
        if !spec.complexity.is_empty() {
            fields.push(("complexity", spec.complexity));
        }
        let subcommands: Vec<_> = self.subcommands(spec).collect();
        let has_subs = !subcommands.is_empty();
        out.map(fields.len() + has_subs as usize);
        for (name, value) in fields {
            out.bulk(name.as_bytes());
            out.bulk(value.as_bytes());
        }
        if has_subs {
            out.bulk(b"subcommands");
            out.map(subcommands.len());
            for sub in subcommands {
                out.bulk(sub.name.as_bytes());
                self.write_docs(out, sub);
            }
        }
    }
}

/// A set of words: flags and categories are status replies, tips are bulk strings.
fn write_words<'a>(out: &mut Reply, words: impl Iterator<Item = &'a str>, as_bulk: bool) {
    let items: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    out.set(items.len());
    for item in items {
        if as_bulk {
            out.bulk(item.as_bytes());
        } else {
            out.simple(item);
        }
    }
}

fn write_key_spec(out: &mut Reply, spec: &super::KeySpec) {
    let noted = !spec.notes.is_empty();
    out.map(3 + noted as usize);
    if noted {
        out.bulk(b"notes");
        out.bulk(spec.notes.as_bytes());
    }
    out.bulk(b"flags");
    write_words(out, spec.flags.split(' '), false);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match spec.begin {
        Begin::Index(index) => write_search(out, b"index", &[(b"index", index)]),
        Begin::Keyword(keyword, startfrom) => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(startfrom);
        }
        Begin::Unknown => write_search(out, b"unknown", &[]),
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match spec.find {
        Find::Range(lastkey, keystep, limit) => write_search(
            out,
            b"range",
            &[
                (b"lastkey", lastkey),
                (b"keystep", keystep),
                (b"limit", limit),
            ],
        ),
        Find::Keynum(keynumidx, firstkey, keystep) => write_search(
            out,
            b"keynum",
            &[
                (b"keynumidx", keynumidx),
                (b"firstkey", firstkey),
                (b"keystep", keystep),
            ],
        ),
        Find::Unknown => write_search(out, b"unknown", &[]),
    }
}

/// A key search step's type and its spec: a map of numbers.
fn write_search(out: &mut Reply, kind: &[u8], spec: &[(&[u8], i64)]) {
    out.bulk(kind);
    out.bulk(b"spec");
    out.map(spec.len());
    for (name, value) in spec {
        out.bulk(name);
        out.int(*value);
    }
}
