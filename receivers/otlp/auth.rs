//! Bearer-token authentication, shared by both transports: a request without one of the
//! configured tokens is refused before anything is decoded.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ConfigError;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub bearer_tokens: Vec<String>,
    /// One token per line; blank lines and lines starting with `#` are ignored.
    pub bearer_tokens_file: Option<PathBuf>,
}

impl AuthConfig {
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.bearer_tokens.is_empty() && self.bearer_tokens_file.is_none() {
            errors.push(ConfigError::new(
                "",
                "expected bearer_tokens or bearer_tokens_file, found neither",
            ));
        }
        if let Some(index) = self.bearer_tokens.iter().position(|t| t.trim().is_empty()) {
            errors.push(ConfigError::new(
                format!("bearer_tokens[{index}]"),
                "expected a token, found an empty string",
            ));
        }
        // The file is read now, as the receiver will read it: a missing or empty one fails
        // `validate` rather than the start.
        if self.bearer_tokens_file.is_some() {
            let file_only = AuthConfig {
                bearer_tokens: Vec::new(),
                bearer_tokens_file: self.bearer_tokens_file.clone(),
            };
            match BearerAuth::load(&file_only) {
                Ok(_) => {}
                Err(AuthError::File { path, reason }) => errors.push(ConfigError::new(
                    "bearer_tokens_file",
                    format!("expected a readable file of tokens, found {path}: {reason}"),
                )),
                Err(e) => errors.push(ConfigError::new(
                    "bearer_tokens_file",
                    format!("expected at least one token (one a line, # for comments): {e}"),
                )),
            }
        }
        errors
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("cannot read bearer_tokens_file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("bearer_tokens_file {0} holds no token")]
    NoTokens(String),
    #[error("expected an Authorization: Bearer <token> header, found none")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
}

/// The configured tokens as SHA-256 digests: a presented token is hashed and compared with
/// each in full, so neither its length nor how much of it matched shows in the time taken.
#[derive(Clone)]
pub struct BearerAuth {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerAuth({} tokens)", self.digests.len())
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl BearerAuth {
    pub fn load(config: &AuthConfig) -> Result<BearerAuth, AuthError> {
        let mut tokens: Vec<Vec<u8>> = config
            .bearer_tokens
            .iter()
            .map(|t| t.trim().as_bytes().to_vec())
            .collect();
        if let Some(path) = &config.bearer_tokens_file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| AuthError::File {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let before = tokens.len();
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| l.as_bytes().to_vec()),
            );
            if tokens.len() == before {
                return Err(AuthError::NoTokens(shown));
            }
        }
        Ok(BearerAuth {
            digests: tokens.iter().map(|t| digest(t)).collect(),
        })
    }

    /// `authorization` is the raw header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let token = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
            _ => return Err(AuthError::Missing),
        };
        // Every digest is compared in full, and all have one length whatever the token's.
        let presented = digest(token);
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| {
                found | d.ct_eq(&presented)
            });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> BearerAuth {
        BearerAuth::load(&AuthConfig {
            bearer_tokens: vec!["s3cret".into()],
            bearer_tokens_file: None,
        })
        .unwrap()
    }

    #[test]
    fn accepts_a_configured_token_in_any_scheme_case() {
        assert_eq!(auth().check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(auth().check(Some(b"bearer s3cret")), Ok(()));
    }

    #[test]
    fn refuses_missing_wrong_and_other_scheme_tokens() {
        assert_eq!(auth().check(None), Err(AuthError::Missing));
        assert_eq!(
            auth().check(Some(b"Basic czNjcmV0")),
            Err(AuthError::Missing)
        );
        assert_eq!(auth().check(Some(b"Bearer s3cre")), Err(AuthError::Invalid));
        assert_eq!(
            auth().check(Some(b"Bearer s3cret2")),
            Err(AuthError::Invalid)
        );
    }

    fn file_config(name: &str, contents: Option<&str>) -> AuthConfig {
        let path =
            std::env::temp_dir().join(format!("tributary-tokens-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        AuthConfig {
            bearer_tokens: vec![],
            bearer_tokens_file: Some(path),
        }
    }

    #[test]
    fn validate_reads_the_token_file() {
        let missing = file_config("missing", None).validate();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].path, "bearer_tokens_file");
        assert!(
            missing[0]
                .message
                .starts_with("expected a readable file of tokens, found /"),
            "{missing:?}"
        );
        let empty = file_config("comments", Some("# only a comment\n\n")).validate();
        assert_eq!(empty.len(), 1, "{empty:?}");
        assert!(empty[0].message.contains("holds no token"), "{empty:?}");
        let good = file_config("good", Some("alpha\n"));
        assert_eq!(good.validate(), vec![]);
        std::fs::remove_file(good.bearer_tokens_file.unwrap()).unwrap();
    }

    #[test]
    fn tokens_are_held_and_compared_only_as_digests_of_one_length() {
        let auth = auth();
        assert!(auth.digests.iter().all(|d| *d != [0; 32]));
        assert_eq!(auth.digests, vec![digest(b"s3cret")]);
        let shown = format!("{auth:?}");
        assert!(!shown.contains("115, 51"), "{shown}");
        for wrong in ["", "s", "s3cre", "s3cres", "s3cret!", &"s".repeat(4096)] {
            let header = format!("Bearer {wrong}");
            assert_eq!(
                auth.check(Some(header.as_bytes())),
                Err(AuthError::Invalid),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn reads_tokens_from_a_file() {
        let path = std::env::temp_dir().join(format!("tributary-tokens-{}", std::process::id()));
        std::fs::write(&path, "# team a\nalpha\n\n beta \n").unwrap();
        let auth = BearerAuth::load(&AuthConfig {
            bearer_tokens: vec![],
            bearer_tokens_file: Some(path.clone()),
        })
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(auth.check(Some(b"Bearer beta")), Ok(()));
        assert_eq!(
            auth.check(Some(b"Bearer # team a")),
            Err(AuthError::Invalid)
        );
    }
}
