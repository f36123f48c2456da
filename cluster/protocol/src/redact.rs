//! Arguments that MONITOR and SLOWLOG never show: passwords and secrets, replaced by
//! `(redacted)` at the places Redis 7.0 redacts them (`redactClientCommandArgument`): AUTH's
//! arguments, HELLO's AUTH pair, every argument of ACL SETUSER, the value of a sensitive
//! CONFIG SET parameter, and MIGRATE's AUTH and AUTH2.

use bytes::Bytes;
use std::borrow::Cow;

pub const REDACTED: &[u8] = b"(redacted)";

/// CONFIG parameters whose values are secrets (Redis's SENSITIVE_CONFIG).
const SENSITIVE_CONFIGS: &[&str] = &[
    "requirepass",
    "masterauth",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
];

/// `args` with its secrets replaced; borrowed unchanged when it has none (most commands, at
/// the cost of comparing the command's name).
pub fn redacted(args: &[Bytes]) -> Cow<'_, [Bytes]> {
    let secret = secrets(args);
    if !secret.iter().any(|s| *s) {
        return Cow::Borrowed(args);
    }
    let hidden = Bytes::from_static(REDACTED);
    Cow::Owned(
        args.iter()
            .zip(secret)
            .map(|(arg, secret)| if secret { hidden.clone() } else { arg.clone() })
            .collect(),
    )
}

/// Which arguments of `args` are secrets.
fn secrets(args: &[Bytes]) -> Vec<bool> {
    let mut secret = vec![false; args.len()];
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    if is(0, "auth") {
        secret.iter_mut().skip(1).for_each(|s| *s = true);
    } else if is(0, "hello") {
        for j in 1..args.len() {
            if is(j, "auth") && j + 2 < args.len() {
                secret[j + 1] = true;
                secret[j + 2] = true;
            }
        }
    } else if is(0, "acl") && is(1, "setuser") {
        secret.iter_mut().skip(2).for_each(|s| *s = true);
    } else if is(0, "config") && is(1, "set") {
        for value in (3..args.len()).step_by(2) {
            let name = String::from_utf8_lossy(&args[value - 1]).to_ascii_lowercase();
            secret[value] = SENSITIVE_CONFIGS.contains(&name.as_str());
        }
    } else if is(0, "migrate") {
        for j in 6..args.len() {
            if is(j, "auth") && j + 1 < args.len() {
                secret[j + 1] = true;
            } else if is(j, "auth2") && j + 2 < args.len() {
                secret[j + 1] = true;
                secret[j + 2] = true;
            }
        }
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(line: &str) -> String {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        let shown: Vec<String> = redacted(&args)
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        shown.join(" ")
    }

    #[test]
    fn secrets_are_never_shown() {
        assert_eq!(shown("GET auth"), "GET auth");
        assert_eq!(shown("AUTH pw"), "AUTH (redacted)");
        assert_eq!(shown("auth user pw"), "auth (redacted) (redacted)");
        assert_eq!(
            shown("HELLO 3 AUTH user pw SETNAME x"),
            "HELLO 3 AUTH (redacted) (redacted) SETNAME x"
        );
        assert_eq!(
            shown("ACL SETUSER bob on >pw"),
            "ACL SETUSER (redacted) (redacted) (redacted)"
        );
        assert_eq!(
            shown("CONFIG SET maxmemory 1 requirepass pw"),
            "CONFIG SET maxmemory 1 requirepass (redacted)"
        );
        assert_eq!(
            shown("MIGRATE h 1 k 0 5 AUTH2 u p KEYS a"),
            "MIGRATE h 1 k 0 5 AUTH2 (redacted) (redacted) KEYS a"
        );
    }
}
