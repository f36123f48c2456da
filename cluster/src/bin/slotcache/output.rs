//! How a command prints: sentences and progress bars for people, or, with `--json`, one JSON
//! document on stdout for scripts (one per line for commands that stream).

use serde_json::Value;

#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// A line for people (nothing in JSON mode).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", text.as_ref());
        }
    }

    /// The command's result, printed in JSON mode only (the lines said it for people).
    pub fn result(&self, value: Value) {
        if self.json {
            println!("{value}");
        }
    }

    /// One event of a stream: its line, or its JSON object on a line of its own.
    pub fn event(&self, text: impl AsRef<str>, value: Value) {
        match self.json {
            true => println!("{value}"),
            false => println!("{}", text.as_ref()),
        }
    }
}
