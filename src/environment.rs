//! The process environment, read once at start-up and handed to the app.
//!
//! No module calls `std::env::var`: configuration reads `USHER_*` from this value, the secrets
//! stage rewrites `NAME`/`NAME_FILE` in it, the privilege drop sets `HOME`, and the hand-over
//! passes it to the app as its environment. Order is kept, so the app sees the variables in
//! the order usher got them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(OsString, OsString)>,
}

impl Environment {
    /// The environment usher was started with.
    pub fn from_process() -> Self {
        Environment {
            vars: std::env::vars_os().collect(),
        }
    }

    #[cfg(test)]
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value when set and non-empty: the docker-library convention treats an empty
    /// variable as unset.
    pub fn non_empty(&self, name: &str) -> Option<&OsStr> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Like `non_empty`, as UTF-8 text; a non-UTF-8 value is a configuration error naming it.
    #[cfg_attr(not(feature = "_db"), allow(dead_code))]
    pub fn text(&self, name: &str) -> crate::exit::Result<Option<&str>> {
        match self.non_empty(name) {
            None => Ok(None),
            Some(v) => v.to_str().map(Some).ok_or_else(|| {
                crate::exit::Error::config(format!("{name} is not valid UTF-8; fix its value"))
            }),
        }
    }

    /// Every value, for the redactor's scan for URL passwords.
    pub fn values(&self) -> impl Iterator<Item = &OsStr> {
        self.vars.iter().map(|(_, v)| v.as_os_str())
    }

    pub fn set(&mut self, name: &str, value: impl Into<OsString>) {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.vars.push((name.into(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// `NAME=value` entries for `execve`. Entries with a NUL byte cannot exist in a real
    /// environment and are skipped.
    pub fn to_envp(&self) -> Vec<std::ffi::CString> {
        self.vars
            .iter()
            .filter_map(|(k, v)| {
                let mut entry = Vec::with_capacity(k.len() + v.len() + 1);
                entry.extend_from_slice(k.as_bytes());
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                std::ffi::CString::new(entry).ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_remove_drops() {
        let mut env = Environment::from_pairs([("A", "1"), ("B", "2")]);
        env.set("A", "3");
        env.set("C", "4");
        env.remove("B");
        let pairs: Vec<_> = env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(pairs, ["A=3", "C=4"]);
    }

    #[test]
    fn empty_counts_as_unset() {
        let env = Environment::from_pairs([("A", "")]);
        assert!(env.get("A").is_some());
        assert!(env.non_empty("A").is_none());
    }
}
