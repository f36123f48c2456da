//! The SCAN family's shared parts: cursor and options (COUNT, MATCH, TYPE), the bounded
//! collection loop, the reply, and HSCAN/SSCAN/ZSCAN's common handler.

use super::{read_typed, ArgCursor, Args, CmdError, CmdResult, Ctx, Replied};
use crate::engine::value::Collection;
use slotcache_protocol::glob;
use slotcache_protocol::resp::Reply;

/// SCAN's options, shared with HSCAN/SSCAN/ZSCAN.
pub struct ScanOptions {
    pub cursor: u64,
    pub pattern: Option<Vec<u8>>,
    pub count: usize,
    pub type_filter: Option<String>,
}

/// A SCAN-family cursor argument.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))
}

/// The cursor and options of a SCAN-family command whose cursor is at `cursor_at`.
pub fn parse_scan(
    args: &Args,
    cursor_at: usize,
    allow_type: bool,
) -> Result<ScanOptions, CmdError> {
    let cursor = parse_cursor(&args[cursor_at])?;
    let mut opts = ScanOptions {
        cursor,
        pattern: None,
        count: 10,
        type_filter: None,
    };
    ArgCursor::new(args, cursor_at + 1).options(|word, cursor| {
        match word {
            "count" => match cursor.next_i64()? {
                count if count < 1 => return Err(CmdError::Syntax),
                count => opts.count = count as usize,
            },
            "match" => opts.pattern = Some(cursor.value()?.to_vec()),
            "type" if allow_type => {
                let kind = cursor.value()?;
                opts.type_filter = Some(String::from_utf8_lossy(kind).to_ascii_lowercase());
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(())
    })?;
    Ok(opts)
}

impl ScanOptions {
    /// Whether an element passes MATCH.
    pub fn matches(&self, element: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, element, false))
    }

    /// Runs `step` (one cursor step that adds what it finds, returning the next cursor) until
    /// COUNT elements were found, the iteration completed, or ten times COUNT steps ran, as
    /// Redis bounds one call. Returns the cursor to hand back and the elements.
    pub fn collect(
        &self,
        mut step: impl FnMut(u64, &mut Vec<Vec<u8>>) -> u64,
    ) -> (u64, Vec<Vec<u8>>) {
        let mut found = Vec::new();
        let mut cursor = self.cursor;
        let mut budget = self.count.saturating_mul(10);
        loop {
            cursor = step(cursor, &mut found);
            budget = budget.saturating_sub(1);
            if cursor == 0 || budget == 0 || found.len() >= self.count {
                return (cursor, found);
            }
        }
    }
}

/// A SCAN-family reply: the next cursor and the elements.
pub fn reply_scan(out: &mut Reply, cursor: u64, elements: &[Vec<u8>]) {
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.bulks(elements.iter());
}

/// HSCAN, SSCAN, ZSCAN: validates the cursor, answers an empty scan for a missing key (before
/// looking at the options, as Redis does), then collects with `step`, one step of the
/// collection's own iteration.
pub fn scan_collection<T: Collection>(
    ctx: &mut Ctx,
    args: &Args,
    step: fn(&T, u64, &ScanOptions, &mut Vec<Vec<u8>>) -> u64,
) -> CmdResult {
    parse_cursor(&args[2])?;
    let now = ctx.now;
    let db = &mut ctx.ks.dbs[ctx.client.db];
    let Some(collection) = read_typed::<T>(db, &args[1], now)? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(Replied);
    };
    let opts = parse_scan(args, 2, false)?;
    let (cursor, found) = opts.collect(|cursor, found| step(collection, cursor, &opts, found));
    reply_scan(ctx.out, cursor, &found);
    Ok(Replied)
}
