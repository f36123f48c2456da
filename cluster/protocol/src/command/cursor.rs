//! Reading a command's arguments in turn, as mini-redis's `Parse` does: each typed reader
//! takes the next argument and fails with the error Redis gives for it, so option loops read
//! like the syntax they parse instead of indexing `args[i + 1]`.

use super::{Args, CmdError};
use bytes::Bytes;

/// The longest option keyword any command takes (`withmatchlen`, `replicationid`...);
/// a longer word is no option, and reads as an unknown one.
const MAX_KEYWORD: usize = 24;

/// A position in a request's arguments.
pub struct ArgCursor<'a> {
    args: &'a Args,
    at: usize,
}

impl<'a> ArgCursor<'a> {
    /// A cursor on `args[from..]`.
    pub fn new(args: &'a Args, from: usize) -> ArgCursor<'a> {
        ArgCursor {
            args,
            at: from.min(args.len()),
        }
    }

    /// The index in the request of the next argument.
    pub fn position(&self) -> usize {
        self.at
    }

    pub fn is_done(&self) -> bool {
        self.at == self.args.len()
    }

    /// The arguments not read yet.
    pub fn rest(&self) -> &'a Args {
        &self.args[self.at..]
    }

    /// The next argument; none left is a syntax error (an option without its value).
    pub fn value(&mut self) -> Result<&'a Bytes, CmdError> {
        let [arg] = self.values()?;
        Ok(arg)
    }

    /// The next `N` arguments, checked to be there before any is read, as Redis counts an
    /// option's values before it parses them.
    pub fn values<const N: usize>(&mut self) -> Result<[&'a Bytes; N], CmdError> {
        let values = self.take(N)?;
        Ok(std::array::from_fn(|i| &values[i]))
    }

    /// The next `n` arguments (WEIGHTS' one per key); fewer left is a syntax error.
    pub fn take(&mut self, n: usize) -> Result<&'a Args, CmdError> {
        let values = self.rest().get(..n).ok_or(CmdError::Syntax)?;
        self.at += n;
        Ok(values)
    }

    /// The next argument as one of an option's named values (`AGGREGATE SUM|MIN|MAX`): None
    /// when it names none of them, for the caller's error.
    pub fn choice<T: Copy>(&mut self, choices: &[(&str, T)]) -> Result<Option<T>, CmdError> {
        let value = self.value()?;
        Ok(choices
            .iter()
            .find(|(name, _)| super::is(value, name))
            .map(|(_, choice)| *choice))
    }

    /// The next argument as an integer (`ERR value is not an integer or out of range`).
    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        crate::resp::parse::parse_i64(self.value()?).ok_or(CmdError::NotInteger)
    }

    /// The next argument as a count that may not be negative: `negative` is the error then.
    pub fn next_count(&mut self, negative: CmdError) -> Result<usize, CmdError> {
        usize::try_from(self.next_i64()?).map_err(|_| negative)
    }

    /// Reads flags that come before a command's other arguments (`ZADD key NX CH 1 a`):
    /// each word, lowercased, while `flag` takes it.
    pub fn leading(&mut self, mut flag: impl FnMut(&str) -> bool) {
        let all_flags = self.leading_options(|word, _| Ok(flag(word)));
        debug_assert!(all_flags.is_ok());
    }

    /// [`ArgCursor::options`] for options that come before a command's other arguments
    /// (`XADD key NOMKSTREAM MAXLEN ~ 10 * f v`): `option` answers false, having read
    /// nothing, at the first word that is none of them, and the cursor stays on that word.
    pub fn leading_options(
        &mut self,
        mut option: impl FnMut(&str, &mut Self) -> Result<bool, CmdError>,
    ) -> Result<(), CmdError> {
        while let Some(word) = self.args.get(self.at) {
            let at_word = self.at;
            self.at += 1;
            let mut lowered = [0u8; MAX_KEYWORD];
            if !option(keyword(word, &mut lowered), self)? {
                self.at = at_word;
                break;
            }
        }
        Ok(())
    }

    /// The shared option loop: hands each remaining word, lowercased, with the cursor to
    /// `option`, which reads that option's values from the cursor and answers an unknown
    /// word with its error (usually [`CmdError::Syntax`]).
    pub fn options(
        &mut self,
        mut option: impl FnMut(&str, &mut Self) -> Result<(), CmdError>,
    ) -> Result<(), CmdError> {
        while let Some(word) = self.args.get(self.at) {
            self.at += 1;
            let mut lowered = [0u8; MAX_KEYWORD];
            option(keyword(word, &mut lowered), self)?;
        }
        Ok(())
    }
}

/// `word` lowercased into `buf`; empty (no keyword) when too long or not UTF-8.
fn keyword<'b>(word: &[u8], buf: &'b mut [u8; MAX_KEYWORD]) -> &'b str {
    let Some(lowered) = buf.get_mut(..word.len()) else {
        return "";
    };
    lowered.copy_from_slice(word);
    lowered.make_ascii_lowercase();
    std::str::from_utf8(lowered).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn options_read_their_values_and_unknown_words_fail() {
        let request = args(&["cmd", "key", "LIMIT", "5", "withScores", "by"]);
        let mut cursor = ArgCursor::new(&request, 2);
        let (mut limit, mut scores) = (0, false);
        let result = cursor.options(|word, cursor| {
            match word {
                "limit" => limit = cursor.next_i64()?,
                "withscores" => scores = true,
                _ => return Err(CmdError::Syntax),
            }
            Ok(())
        });
        assert_eq!(result, Err(CmdError::Syntax));
        assert_eq!((limit, scores), (5, true));
    }

    #[test]
    fn leading_flags_stop_at_the_first_other_word() {
        let request = args(&["zadd", "key", "NX", "ch", "1", "nx"]);
        let mut cursor = ArgCursor::new(&request, 2);
        let mut flags = Vec::new();
        cursor.leading(|word| {
            let known = matches!(word, "nx" | "ch");
            if known {
                flags.push(word.to_string());
            }
            known
        });
        assert_eq!(flags, ["nx", "ch"]);
        assert_eq!(cursor.position(), 4);
    }

    #[test]
    fn values_are_counted_before_they_are_read() {
        let request = args(&["cmd", "x", "y"]);
        let mut cursor = ArgCursor::new(&request, 1);
        assert_eq!(cursor.values::<3>().err(), Some(CmdError::Syntax));
        assert_eq!(cursor.position(), 1);
        assert_eq!(cursor.next_i64(), Err(CmdError::NotInteger));
        assert_eq!(cursor.choice(&[("x", 1), ("y", 2)]), Ok(Some(2)));
        assert!(cursor.is_done());
        assert_eq!(cursor.value().err(), Some(CmdError::Syntax));
    }

    #[test]
    fn long_or_binary_words_are_no_keyword() {
        let mut buf = [0u8; MAX_KEYWORD];
        assert_eq!(keyword(&[b'a'; 40], &mut buf), "");
        assert_eq!(keyword(&[0xff, 0xfe], &mut buf), "");
        assert_eq!(keyword(b"MinMatchLen", &mut buf), "minmatchlen");
    }
}
