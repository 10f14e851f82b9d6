//! Values given on the command line: `KEY=VALUE` pairs, secrets read from
//! standard input or a file, and times.

use std::io::{IsTerminal, Read};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::output::note;
use super::Failure;

/// Where the value of a `--set KEY=VALUE` comes from.
pub struct Sources {
    stdin_taken: bool,
}

impl Sources {
    pub fn new() -> Self {
        Self { stdin_taken: false }
    }

    /// `KEY=VALUE` as a string, `KEY=-` from standard input, `KEY=@PATH` from
    /// a file (one trailing newline removed from both), `KEY:=JSON` as that
    /// JSON value (`scopes:='["a","b"]'`).
    pub fn secret(&mut self, assignment: &str) -> Result<(String, Value), Failure> {
        let (key, value, json) = split(assignment, "--set")?;
        let text = match value {
            "-" => self.stdin()?,
            path if path.starts_with('@') => read_file(&path[1..])?,
            literal => literal.to_owned(),
        };
        Ok((key, typed(text, json, "--set")?))
    }

    fn stdin(&mut self) -> Result<String, Failure> {
        if self.stdin_taken {
            return Err(Failure::Usage(
                "only one value can be read from standard input (`-`); read the others from files (`@PATH`)".into(),
            ));
        }
        self.stdin_taken = true;
        if std::io::stdin().is_terminal() {
            // Not echoed by us; the terminal shows what is typed.
            note!("reading the value from standard input: type it, then Enter and Ctrl-D");
        }
        read_capped(std::io::stdin().lock(), "standard input").map(strip_newline)
    }

    /// A JSON object from a file (`-`: standard input).
    pub fn object_file(&mut self, path: &str) -> Result<Map<String, Value>, Failure> {
        let text = if path == "-" {
            self.stdin()?
        } else {
            read_file(path)?
        };
        // The file holds secrets: the parser's message could quote them.
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Failure::Usage(format!(
                "{path} holds JSON but not an object"
            ))),
            Err(e) => Err(Failure::Usage(format!(
                "{path} is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }
}

/// `--metadata KEY=VALUE` (a string) or `KEY:=JSON`; not secret, so never
/// read from elsewhere.
pub fn metadata(assignments: &[String]) -> Result<Option<Map<String, Value>>, Failure> {
    if assignments.is_empty() {
        return Ok(None);
    }
    let mut map = Map::new();
    for assignment in assignments {
        let (key, value, json) = split(assignment, "--metadata")?;
        map.insert(key, typed(value.to_owned(), json, "--metadata")?);
    }
    Ok(Some(map))
}

/// `KEY=VALUE` or `KEY:=JSON` → (key, value, is JSON).
fn split<'a>(assignment: &'a str, option: &str) -> Result<(String, &'a str, bool), Failure> {
    let Some((key, value)) = assignment.split_once('=') else {
        // Not echoed: a secret pasted without its key would be printed.
        return Err(Failure::Usage(format!(
            "{option} takes KEY=VALUE (or KEY:=JSON); one argument has no '='"
        )));
    };
    let (key, json) = match key.strip_suffix(':') {
        Some(key) => (key, true),
        None => (key, false),
    };
    if key.is_empty() {
        return Err(Failure::Usage(format!("{option} needs a key before '='")));
    }
    Ok((key.to_owned(), value, json))
}

fn typed(text: String, json: bool, option: &str) -> Result<Value, Failure> {
    if !json {
        return Ok(Value::String(text));
    }
    serde_json::from_str(&text)
        .map_err(|_| Failure::Usage(format!("{option} KEY:=JSON: the value is not JSON")))
}

fn read_file(path: &str) -> Result<String, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::Usage(format!("cannot read {path}: {e}")))?;
    read_capped(file, path).map(strip_newline)
}

/// The most a value may be: no request body of the API is larger.
const VALUE_LIMIT: u64 = 64 * 1024;

/// The text `source` holds, refused past [`VALUE_LIMIT`] (`/dev/zero` would
/// otherwise fill the memory) or when it is not UTF-8.
fn read_capped(source: impl Read, what: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    source
        .take(VALUE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > VALUE_LIMIT {
        return Err(Failure::Usage(format!(
            "{what} holds more than 64 KiB, more than any request may carry"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Failure::Usage(format!("{what} is not UTF-8 text")))
}

/// One trailing newline, as `echo` and editors leave it, is not part of a value.
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// An RFC 3339 time (`2027-01-01T00:00:00Z`), or a date (`2027-01-01`,
/// midnight UTC).
pub fn time(text: &str, option: &str) -> Result<DateTime<Utc>, Failure> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(at) = date.and_hms_opt(0, 0, 0) {
            return Ok(at.and_utc());
        }
    }
    Err(Failure::Usage(format!(
        "{option}: '{text}' is not a time such as 2027-01-01T00:00:00Z or 2027-01-01"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(result: Result<impl std::fmt::Debug, Failure>) -> String {
        match result {
            Err(Failure::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn assignments_take_strings_json_and_files_and_never_echo_a_value() {
        let mut sources = Sources::new();
        assert_eq!(
            sources.secret("key=a=b").unwrap(),
            ("key".into(), Value::String("a=b".into()))
        );
        assert_eq!(
            sources.secret(r#"scopes:=["a","b"]"#).unwrap().1,
            serde_json::json!(["a", "b"])
        );
        let file = std::env::temp_dir().join(format!("exsvc-cli-{}", uuid::Uuid::now_v7()));
        std::fs::write(&file, "from-file\r\n").unwrap();
        assert_eq!(
            sources
                .secret(&format!("key=@{}", file.display()))
                .unwrap()
                .1,
            Value::String("from-file".into())
        );
        std::fs::remove_file(&file).unwrap();
        assert!(usage(sources.secret("=x")).contains("key"));
        assert!(usage(sources.secret("key=@/dev/zero")).contains("64 KiB"));
        assert!(usage(sources.secret("key=@/no/such/file")).contains("/no/such/file"));
        let message = usage(sources.secret("sk_live_SECRET"));
        assert!(!message.contains("sk_live_SECRET"), "{message}");
        let message = usage(sources.secret("s3cr3t value!"));
        assert!(!message.contains("s3cr3t"), "{message}");
        let message = usage(sources.secret("scopes:=[not json"));
        assert!(!message.contains("not json"), "{message}");
    }

    #[test]
    fn metadata_is_strings_unless_json_and_times_are_rfc3339_or_dates() {
        let map = metadata(&["team=billing".into(), "tier:=2".into()])
            .unwrap()
            .unwrap();
        assert_eq!(map["team"], "billing");
        assert_eq!(map["tier"], 2);
        assert_eq!(metadata(&[]).unwrap(), None);
        assert_eq!(
            time("2027-01-01", "--expires-at").unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert!(time("2027-01-01T00:00:00+02:00", "--since").is_ok());
        assert!(usage(time("tomorrow", "--since")).contains("--since"));
    }
}
