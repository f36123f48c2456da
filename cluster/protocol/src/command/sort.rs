//! SORT's meaning apart from where its values live, as Redis's `sort.c`: the options, what a
//! `BY`/`GET` pattern names for an element, the order (numeric or ALPHA, by the element or by
//! what BY names) and the LIMIT window. The shard server looks patterns up in its database;
//! the proxy, whose pattern keys may live on any server, fetches them first.

use super::{ArgCursor, Args, CmdError};
use crate::resp::parse::{parse_f64, parse_i64};
use bytes::Bytes;
use std::cmp::Ordering;

pub struct SortOptions {
    pub by: Option<Bytes>,
    /// BY without a `*`: the elements keep their order.
    pub dont_sort: bool,
    pub limit: Option<(i64, i64)>,
    pub gets: Vec<Bytes>,
    pub desc: bool,
    pub alpha: bool,
    pub store: Option<Bytes>,
}

impl SortOptions {
    /// SORT's (or SORT_RO's, without STORE) options; `cluster` refuses BY and GET patterns,
    /// whose keys a shard server may not hold, and so does a user without `full_key_access`
    /// (whose key patterns do not cover every key, which such patterns may name).
    pub fn parse(
        args: &Args,
        read_only: bool,
        cluster: bool,
        full_key_access: bool,
    ) -> Result<SortOptions, CmdError> {
        let int = |arg: &[u8]| parse_i64(arg).ok_or(CmdError::NotInteger);
        let mut options = SortOptions {
            by: None,
            dont_sort: false,
            limit: None,
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        ArgCursor::new(args, 2).options(|word, cursor| {
            match word {
                "asc" => options.desc = false,
                "desc" => options.desc = true,
                "alpha" => options.alpha = true,
                "limit" => {
                    let [offset, count] = cursor.values()?;
                    options.limit = Some((int(offset)?, int(count)?));
                }
                "store" if !read_only => options.store = Some(cursor.value()?.clone()),
                "by" => {
                    let pattern = cursor.value()?;
                    if !pattern.contains(&b'*') {
                        options.dont_sort = true;
                    } else if cluster {
                        return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
                    } else if !full_key_access {
                        return Err(CmdError::err(
                            "BY option of SORT denied due to insufficient ACL permissions.",
                        ));
                    }
                    options.by = Some(pattern.clone());
                }
                "get" => {
                    let pattern = cursor.value()?;
                    if cluster {
                        return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
                    }
                    if !full_key_access {
                        return Err(CmdError::err(
                            "GET option of SORT denied due to insufficient ACL permissions.",
                        ));
                    }
                    options.gets.push(pattern.clone());
                }
                _ => return Err(CmdError::Syntax),
            }
            Ok(())
        })?;
        Ok(options)
    }

    /// Whether the sort reads keys that patterns name (BY with a `*`, or GET).
    pub fn reads_patterns(&self) -> bool {
        (self.by.is_some() && !self.dont_sort) || !self.gets.is_empty()
    }

    /// The pattern elements are sorted by, if any.
    pub fn sorting_by(&self) -> Option<&Bytes> {
        self.by.as_ref().filter(|_| !self.dont_sort)
    }

    /// A set's order is the server's own: unsorted output would differ between a script's run
    /// and its replicas, so it is sorted as ALPHA there (and when stored), as Redis does.
    pub fn settle_set_order(&mut self, is_set: bool, in_script: bool) {
        if self.dont_sort && is_set && (self.store.is_some() || in_script) {
            self.dont_sort = false;
            self.alpha = true;
            self.by = None;
        }
    }
}

/// What a pattern names for an element.
pub enum Target<'a> {
    /// `#`: the element itself.
    Element,
    /// A string key, or a hash key's field (`->field`).
    Key {
        key: Vec<u8>,
        field: Option<&'a [u8]>,
    },
}

/// What `pattern` names for `element`: its first `*` replaced by the element, a trailing
/// `->field` naming a hash field. None for a pattern without `*` (it names nothing).
pub fn target<'a>(pattern: &'a [u8], element: &[u8]) -> Option<Target<'a>> {
    if pattern == b"#" {
        return Some(Target::Element);
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|at| at + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    Some(Target::Key { key, field })
}

/// An element with what it sorts by.
pub struct Item {
    pub element: Vec<u8>,
    /// What BY names for it.
    pub by: Option<Vec<u8>>,
    score: f64,
}

/// The elements in SORT's order, LIMIT's window of them. `elements` come with what BY names
/// for each (None without BY); `is_set`: a set's own order means nothing.
pub fn sort_window(
    elements: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    options: &SortOptions,
    is_set: bool,
) -> Result<Vec<Item>, CmdError> {
    let by_pattern = options.sorting_by().is_some();
    let mut items = Vec::with_capacity(elements.len());
    for (element, by) in elements {
        let mut score = 0.0;
        if !options.dont_sort && !options.alpha {
            let text = match by_pattern {
                true => by.as_deref(),
                false => Some(&element[..]),
            };
            if let Some(text) = text {
                score = parse_f64(text.trim_ascii_start()).ok_or_else(|| {
                    CmdError::err("One or more scores can't be converted into double")
                })?;
            }
        }
        items.push(Item { element, by, score });
    }
    if !options.dont_sort {
        let alpha = options.alpha;
        items.sort_by(|a, b| {
            let order = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if by_pattern {
                a.by.cmp(&b.by)
            } else {
                a.element.cmp(&b.element)
            };
            match options.desc {
                true => order.reverse(),
                false => order,
            }
        });
    } else if options.desc && !is_set {
        items.reverse();
    }
    // LIMIT's window, clamped as Redis clamps it.
    let len = items.len() as i64;
    let (offset, count) = options.limit.unwrap_or((0, -1));
    let mut start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    Ok(match start <= end {
        true => items
            .into_iter()
            .skip(start as usize)
            .take((end - start + 1) as usize)
            .collect(),
        false => Vec::new(),
    })
}
