//! `--config <file.toml>` for binaries whose settings are their flags (the proxy, the
//! controller): each key of the file is the flag of the same name (`admin-port = 9122` is
//! `--admin-port 9122`), read before the command line, so flags given there win.

use std::ffi::OsString;
use thiserror::Error;

/// What `--help` says of `--config`, which is read before the flags are parsed.
pub const CONFIG_HELP: &str = "Settings may also come from --config <file.toml>: each key is a \
    flag's name (admin-port = 9122), read before the command line, so flags given there win.";

#[derive(Debug, Error)]
pub enum ConfigFileError {
    #[error("--config needs a file")]
    Missing,
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("config file {path}: {key} must be a string, number, boolean or list of them")]
    Value { path: String, key: String },
}

/// The process's arguments with the settings of its `--config` file (if any) put first, as
/// flags. Parse them with clap's `args_override_self`, so a flag repeated later wins.
pub fn arguments() -> Result<Vec<OsString>, ConfigFileError> {
    expand(std::env::args_os().collect())
}

fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let mut rest = Vec::with_capacity(args.len());
    let mut path = None;
    let mut iter = args.into_iter();
    let program = iter.next();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            path = Some(iter.next().ok_or(ConfigFileError::Missing)?);
        } else if let Some(value) = text.strip_prefix("--config=") {
            path = Some(OsString::from(value));
        } else {
            rest.push(arg);
        }
    }
    let mut expanded: Vec<OsString> = program.into_iter().collect();
    if let Some(path) = path {
        expanded.extend(flags_of(&path.to_string_lossy())?);
    }
    expanded.extend(rest);
    Ok(expanded)
}

/// The flags a config file stands for.
fn flags_of(path: &str) -> Result<Vec<OsString>, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_string(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Parse {
        path: path.to_string(),
        source,
    })?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let flag = format!("--{}", key.replace('_', "-"));
        let scalar = |value: &toml::Value| match value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            _ => None,
        };
        let bad = || ConfigFileError::Value {
            path: path.to_string(),
            key: key.clone(),
        };
        match &value {
            toml::Value::Boolean(true) => flags.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                flags.push(format!("{flag}={}", items.ok_or_else(bad)?.join(",")).into());
            }
            other => flags.push(format!("{flag}={}", scalar(other).ok_or_else(bad)?).into()),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_becomes_flags_before_the_command_line() {
        let dir = std::env::temp_dir().join(format!("slotcache-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxy.toml");
        std::fs::write(
            &file,
            "etcd = [\"http://a:2379\", \"http://b:2379\"]\nadmin_port = 9122\nverbose = true\nquiet = false\n",
        )
        .unwrap();
        let args = ["proxy", "--port", "7000", "--config"]
            .map(OsString::from)
            .into_iter()
            .chain([file.clone().into_os_string()])
            .collect();
        let expanded: Vec<String> = expand(args)
            .unwrap()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            expanded,
            [
                "proxy",
                "--admin-port=9122",
                "--etcd=http://a:2379,http://b:2379",
                "--verbose",
                "--port",
                "7000"
            ]
        );
        std::fs::write(&file, "port = { nested = 1 }\n").unwrap();
        let args = vec![
            OsString::from("proxy"),
            OsString::from(format!("--config={}", file.display())),
        ];
        assert!(matches!(expand(args), Err(ConfigFileError::Value { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
