//! The bearer token shared by a station and head office: read from a file that must not be
//! world-readable, never printed (its `Debug` shows `****`), compared in constant time.

use std::path::{Path, PathBuf};

/// A secret bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(****)")
    }
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {path}: {source}; check sync.token_file (or --token-file)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the token file {path} is readable by every user (mode {mode:o}); refusing to use it — run `chmod 600 {path}` (and keep it owned by the user intake runs as)"
    )]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error("the token file {path} holds no token; put the token on its first line")]
    Empty { path: PathBuf },
    #[error(
        "the token file {path} holds a token with spaces or control characters; a bearer token is one line of visible characters"
    )]
    Malformed { path: PathBuf },
}

fn read_checked(path: &Path) -> Result<String, TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let read = |source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(TokenError::WorldReadable {
            path: path.to_path_buf(),
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(read)
}

fn check(path: &Path, line: &str) -> Result<Token, TokenError> {
    if line.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(TokenError::Malformed {
            path: path.to_path_buf(),
        });
    }
    Ok(Token(line.to_owned()))
}

impl Token {
    /// Reads the token on the first non-empty line of `path`. Refuses a world-readable file.
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let text = read_checked(path)?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| TokenError::Empty {
                path: path.to_path_buf(),
            })?;
        check(path, line)
    }

    /// Every token in `path`, one per line (`#` starts a comment line): head office accepts
    /// any of them, so a site can rotate tokens one station at a time.
    pub fn all_from_file(path: &Path) -> Result<Vec<Token>, TokenError> {
        let text = read_checked(path)?;
        let tokens: Vec<Token> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| check(path, l))
            .collect::<Result<_, _>>()?;
        if tokens.is_empty() {
            return Err(TokenError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(tokens)
    }

    /// The secret, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented token without an early exit on the first differing byte.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, p)
    }

    #[test]
    fn a_private_file_gives_its_token_and_debug_hides_it() {
        let (_d, p) = file("\n  s3cret-Token_1  \n", 0o600);
        let t = Token::from_file(&p).unwrap();
        assert_eq!(t.expose(), "s3cret-Token_1");
        assert_eq!(format!("{t:?}"), "Token(****)");
        assert!(!format!("{:?}", Some(&t)).contains("s3cret"));
        assert!(t.matches("s3cret-Token_1"));
        assert!(!t.matches("s3cret-Token_2"));
        assert!(!t.matches("s3cret-Token_1x"));
        assert!(!t.matches(""));
    }

    #[test]
    fn a_world_readable_file_is_refused_and_says_how_to_fix_it() {
        let (_d, p) = file("abc", 0o644);
        let e = Token::from_file(&p).unwrap_err();
        assert!(matches!(e, TokenError::WorldReadable { mode: 0o644, .. }));
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let (_d, p) = file("abc", 0o640);
        assert!(Token::from_file(&p).is_ok(), "group-readable is allowed");
    }

    #[test]
    fn empty_missing_and_malformed_files_are_refused() {
        let (_d, p) = file("# only a comment\n\n", 0o600);
        assert!(matches!(
            Token::from_file(&p),
            Err(TokenError::Empty { .. })
        ));
        let (_d, p) = file("two words\n", 0o600);
        assert!(matches!(
            Token::from_file(&p),
            Err(TokenError::Malformed { .. })
        ));
        assert!(matches!(
            Token::from_file(Path::new("/nonexistent/token")),
            Err(TokenError::Read { .. })
        ));
        let (_d, p) = file("a\n# old\nb\n", 0o600);
        let all = Token::all_from_file(&p).unwrap();
        assert_eq!(all.len(), 2);
    }
}
