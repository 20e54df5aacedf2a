//! What a component takes for itself alone: a port to listen on, a directory, a file. Two
//! claims on one resource make a config that validates and then fails (or, worse, runs and
//! corrupts: two disk queues in one directory share a segment log), so the loader refuses it.
//!
//! What counts as one resource:
//! - Listen addresses: the same port (compared as a number) on hosts that overlap. A wildcard
//!   host (`0.0.0.0`, `[::]`) overlaps every host; `localhost` overlaps `127.0.0.1` and `[::1]`
//!   (what it resolves to); another host name overlaps only the same name (no DNS look-up at
//!   load time). Port 0 (any free port) claims nothing.
//! - Paths: compared after lexical normalization (`./a/b/` is `a/b`, `a/../b` is `b`; relative
//!   paths against the working directory, so `a` and `$PWD/a` are one; symbolic links are not
//!   followed). A directory claims everything under it, so a path inside a claimed directory
//!   clashes with it.
//! - A path template (`./data/${resource:service.instance.id}.jsonl`): when every reference is
//!   in the file name, it claims the files directly in its directory whose names fit the
//!   literal text around the references (`data/*.jsonl`); when a reference picks a directory
//!   (`./data/${resource:host}/out.jsonl`), it claims the directory before the first `${`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};

use serde_saphyr::Location;

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub resource: Resource,
    /// The YAML path relative to the component: `protocols.http.endpoint`.
    pub path: String,
    /// The resource as written (or as the default reads), for messages.
    pub shown: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Listen {
        host: Host,
        port: u16,
    },
    /// The directory and everything under it.
    Directory(PathBuf),
    /// One file (with the rotated backups beside it).
    File(PathBuf),
    /// The files directly in `directory` named `prefix…suffix`.
    Files {
        directory: PathBuf,
        prefix: String,
        suffix: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `0.0.0.0` or `[::]`.
    Any,
    Ip(IpAddr),
    Localhost,
    /// Lowercased.
    Name(String),
}

impl Claim {
    /// A `host:port` endpoint; nothing for port 0 or an endpoint that does not parse (its
    /// component's `validate` reports that).
    pub fn listen(path: impl Into<String>, endpoint: &str) -> Option<Claim> {
        let (host, port) = endpoint.rsplit_once(':')?;
        let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => Host::Any,
            Ok(ip) => Host::Ip(ip),
            Err(_) if bare.eq_ignore_ascii_case("localhost") => Host::Localhost,
            Err(_) => Host::Name(bare.to_ascii_lowercase()),
        };
        Some(Claim {
            resource: Resource::Listen { host, port },
            path: path.into(),
            shown: endpoint.to_string(),
        })
    }

    pub fn socket(path: impl Into<String>, address: SocketAddr) -> Option<Claim> {
        Claim::listen(path, &address.to_string())
    }

    /// Nothing for an empty path (its component's `validate` reports that), which would
    /// otherwise claim the working directory and clash with every relative path.
    pub fn directory(path: impl Into<String>, directory: &Path) -> Option<Claim> {
        (!directory.as_os_str().is_empty()).then(|| Claim {
            resource: Resource::Directory(normalize(directory)),
            path: path.into(),
            shown: directory.display().to_string(),
        })
    }

    pub fn file(path: impl Into<String>, file: &Path) -> Option<Claim> {
        (!file.as_os_str().is_empty()).then(|| Claim {
            resource: Resource::File(normalize(file)),
            path: path.into(),
            shown: file.display().to_string(),
        })
    }

    /// A file path that may hold `${...}` references (see the module's comment).
    pub fn file_template(path: impl Into<String>, template: &str) -> Option<Claim> {
        let Some(first) = template.find("${") else {
            return Claim::file(path, Path::new(template));
        };
        let before = &template[..first];
        let (directory, prefix) = match before.rfind('/') {
            Some(0) => ("/", &before[1..]),
            Some(slash) => (&before[..slash], &before[slash + 1..]),
            None => (".", before),
        };
        let after_prefix = &template[first..];
        let resource = if after_prefix.contains('/') {
            Resource::Directory(normalize(Path::new(directory)))
        } else {
            let suffix = after_prefix.rsplit_once('}').map_or("", |(_, s)| s);
            Resource::Files {
                directory: normalize(Path::new(directory)),
                prefix: prefix.to_string(),
                suffix: suffix.to_string(),
            }
        };
        Some(Claim {
            resource,
            path: path.into(),
            shown: template.to_string(),
        })
    }
}

/// A claim with whose it is and where the file says it.
#[derive(Debug, Clone)]
pub struct Claimant {
    /// `receivers.otlp/a`, or `service` for the agent's own.
    pub owner: String,
    pub claim: Claim,
    pub location: Option<Location>,
}

impl Claimant {
    pub fn full_path(&self) -> String {
        format!("{}.{}", self.owner, self.claim.path)
    }
}

/// One error for every two claims on one resource, at the later of the two (claimants are
/// taken in the order given: the caller puts what is taken first, first).
pub fn clashes(claimants: &[Claimant]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (later_index, later) in claimants.iter().enumerate() {
        for earlier in &claimants[..later_index] {
            let Some(relation) = relation(&later.claim.resource, &earlier.claim.resource) else {
                continue;
            };
            let at = earlier
                .location
                .filter(|l| l.line() > 0)
                .map(|l| format!(" (line {})", l.line()))
                .unwrap_or_default();
            let message = match relation {
                Relation::Same => format!(
                    "{} is also claimed by {}{at}",
                    later.claim.shown,
                    earlier.full_path()
                ),
                relation => format!(
                    "{} {} {}, claimed by {}{at}",
                    later.claim.shown,
                    relation.verb(),
                    earlier.claim.shown,
                    earlier.full_path()
                ),
            };
            let error = ConfigError::new(later.full_path(), message);
            errors.push(match later.location {
                Some(location) => error.at(location),
                None => error,
            });
        }
    }
    errors
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Same,
    /// The same port on overlapping hosts, or file templates that may name one file.
    Overlaps,
    Inside,
    Holds,
}

impl Relation {
    fn verb(self) -> &'static str {
        match self {
            Relation::Same => "is",
            Relation::Overlaps => "overlaps",
            Relation::Inside => "is inside",
            Relation::Holds => "holds",
        }
    }
}

/// How `a` stands to `b`, if they clash.
fn relation(a: &Resource, b: &Resource) -> Option<Relation> {
    use Resource::{Directory, File, Files, Listen};
    match (a, b) {
        (Listen { host: h1, port: p1 }, Listen { host: h2, port: p2 }) => {
            if p1 != p2 || !hosts_overlap(h1, h2) {
                None
            } else if h1 == h2 {
                Some(Relation::Same)
            } else {
                Some(Relation::Overlaps)
            }
        }
        (Listen { .. }, _) | (_, Listen { .. }) => None,
        (Directory(a) | File(a), Directory(b) | File(b)) => nesting(a, b),
        (
            Files {
                directory: d1,
                prefix: p1,
                suffix: s1,
            },
            Files {
                directory: d2,
                prefix: p2,
                suffix: s2,
            },
        ) => {
            let prefixes_meet = p1.starts_with(p2.as_str()) || p2.starts_with(p1.as_str());
            let suffixes_meet = s1.ends_with(s2.as_str()) || s2.ends_with(s1.as_str());
            (d1 == d2 && prefixes_meet && suffixes_meet).then_some(Relation::Overlaps)
        }
        (Files { .. }, Directory(place) | File(place)) => files_meet_path(a, place),
        (Directory(place) | File(place), Files { .. }) => {
            files_meet_path(b, place).map(|relation| match relation {
                Relation::Inside => Relation::Holds,
                other => other,
            })
        }
    }
}

fn nesting(a: &Path, b: &Path) -> Option<Relation> {
    if a == b {
        Some(Relation::Same)
    } else if a.starts_with(b) {
        Some(Relation::Inside)
    } else if b.starts_with(a) {
        Some(Relation::Holds)
    } else {
        None
    }
}

/// Whether the files a template names can be `place` or lie under it.
fn files_meet_path(files: &Resource, place: &Path) -> Option<Relation> {
    let Resource::Files {
        directory,
        prefix,
        suffix,
    } = files
    else {
        return None;
    };
    if directory.starts_with(place) {
        return Some(Relation::Inside);
    }
    let first = place.strip_prefix(directory).ok()?.components().next()?;
    let name = first.as_os_str().to_string_lossy();
    let fits = name.len() >= prefix.len() + suffix.len()
        && name.starts_with(prefix.as_str())
        && name.ends_with(suffix.as_str());
    fits.then_some(Relation::Overlaps)
}

fn hosts_overlap(a: &Host, b: &Host) -> bool {
    let localhost = |ip: &IpAddr| {
        *ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || *ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    match (a, b) {
        (Host::Any, _) | (_, Host::Any) => true,
        (Host::Localhost, Host::Ip(ip)) | (Host::Ip(ip), Host::Localhost) => localhost(ip),
        (a, b) => a == b,
    }
}

/// Lexical: `./a/b/` and `a/b` are one, `a/../b` is `b`; relative paths are taken against the
/// working directory, as the agent opens them.
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    };
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match normal.components().next_back() {
                Some(Component::Normal(_)) => {
                    normal.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => normal.push(".."),
            },
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
