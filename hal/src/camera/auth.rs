//! HTTP authentication for snapshot cameras, pure: parse the camera's `WWW-Authenticate`
//! challenge and write the `Authorization` header. Basic (RFC 7617) and Digest (RFC 7616,
//! MD5 and SHA-256, `qop=auth`, their `-sess` variants, and RFC 2069's form without qop
//! that old cameras still send).

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The hash a digest challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Algorithm> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn strength(self) -> u8 {
        match self {
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
        }
    }
}

/// A digest challenge from a `WWW-Authenticate: Digest …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (else the RFC 2069 form is used).
    pub qop_auth: bool,
    /// The previous nonce expired; retry with this one without asking the user again.
    pub stale: bool,
}

/// What a camera asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Digest(DigestChallenge),
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the camera asked for no authentication scheme intake speaks (it sent {0:?}); use basic or digest (MD5, SHA-256)"
    )]
    Unsupported(Vec<String>),
    #[error("the camera's digest challenge lacks {0}; is it really a digest challenge? ({1:?})")]
    Incomplete(&'static str, String),
}

/// Splits one header value into its challenges: `(scheme, params)`. Params are `name=value`
/// or `name="quoted, value"`; commas separate params and challenges alike (RFC 9110 §11.6.1).
fn parse_challenges(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        // A token followed by '=' is a param; a token followed by space or end is a scheme.
        let end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..end];
        let after = rest[end..].trim_start();
        if let Some(value_part) = after.strip_prefix('=')
            && !out.is_empty()
        {
            let value_part = value_part.trim_start();
            let (value, remaining) = if let Some(q) = value_part.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let mut close = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            close = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &q[close.min(q.len())..])
            } else {
                let e = value_part.find(',').unwrap_or(value_part.len());
                (value_part[..e].trim().to_owned(), &value_part[e..])
            };
            if let Some(last) = out.last_mut() {
                last.1.push((token.to_ascii_lowercase(), value));
            }
            rest = remaining;
        } else {
            out.push((token.to_ascii_lowercase(), Vec::new()));
            rest = after;
        }
    }
    out
}

/// The strongest challenge we can answer among the `WWW-Authenticate` headers: digest with
/// SHA-256 before digest with MD5 before basic.
pub fn choose_challenge<'a>(
    headers: impl IntoIterator<Item = &'a str>,
) -> Result<Challenge, AuthError> {
    let mut best: Option<Challenge> = None;
    let mut seen = Vec::new();
    for h in headers {
        for (scheme, params) in parse_challenges(h) {
            seen.push(scheme.clone());
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let candidate = match scheme.as_str() {
                "basic" => Challenge::Basic,
                "digest" => {
                    let Some(algorithm) =
                        Algorithm::parse(&get("algorithm").unwrap_or_else(|| "MD5".into()))
                    else {
                        continue;
                    };
                    let qop = get("qop");
                    if let Some(q) = &qop
                        && !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))
                    {
                        // auth-int only: we would have to hash the (empty) body; no camera does.
                        continue;
                    }
                    Challenge::Digest(DigestChallenge {
                        realm: get("realm")
                            .ok_or_else(|| AuthError::Incomplete("realm", h.to_owned()))?,
                        nonce: get("nonce")
                            .ok_or_else(|| AuthError::Incomplete("nonce", h.to_owned()))?,
                        opaque: get("opaque"),
                        algorithm,
                        qop_auth: qop.is_some(),
                        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
                    })
                }
                _ => continue,
            };
            let rank = |c: &Challenge| match c {
                Challenge::Basic => 0,
                Challenge::Digest(d) => d.algorithm.strength(),
            };
            if best.as_ref().is_none_or(|b| rank(&candidate) > rank(b)) {
                best = Some(candidate);
            }
        }
    }
    best.ok_or(AuthError::Unsupported(seen))
}

/// The `Authorization` value for basic authentication.
pub fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{username}:{password}").as_bytes())
    )
}

/// The `Authorization` value answering a digest challenge for `GET uri` (the request
/// target: path and query). `nc` counts the requests made with this nonce, from 1.
pub fn digest(
    c: &DigestChallenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let a = c.algorithm;
    let mut ha1 = a.hash(&format!("{username}:{}:{password}", c.realm));
    if matches!(a, Algorithm::Md5Sess | Algorithm::Sha256Sess) {
        ha1 = a.hash(&format!("{ha1}:{}:{cnonce}", c.nonce));
    }
    let ha2 = a.hash(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = if c.qop_auth {
        a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        a.hash(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut h = format!(
        "Digest username=\"{}\", realm=\"{}\", uri=\"{}\", algorithm={}, nonce=\"{}\"",
        q(username),
        q(&c.realm),
        q(uri),
        a.name(),
        q(&c.nonce)
    );
    if c.qop_auth {
        h.push_str(&format!(", nc={nc}, cnonce=\"{}\", qop=auth", q(cnonce)));
    }
    h.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = &c.opaque {
        h.push_str(&format!(", opaque=\"{}\"", q(o)));
    }
    h
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1's request: "Mufasa" / "Circle of Life" asking for /dir/index.html.
    const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrFx2FEhlNZ6ZiYCQG8R8Na0i2Kx";
    const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const RFC_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

    fn rfc_challenge(algorithm: &str) -> String {
        format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, nonce=\"{RFC_NONCE}\", opaque=\"{RFC_OPAQUE}\""
        )
    }

    fn response_of(header: &str) -> &str {
        header
            .split("response=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
    }

    fn answer(challenge: &str, user: &str, pw: &str, cnonce: &str) -> String {
        let Challenge::Digest(d) = choose_challenge([challenge]).unwrap() else {
            panic!("not digest")
        };
        digest(&d, user, pw, "GET", "/dir/index.html", 1, cnonce)
    }

    #[test]
    fn rfc2617_example_md5() {
        // RFC 2617 §3.5: the response for "Mufasa" / "Circle Of Life".
        let h = answer(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
        );
        assert_eq!(response_of(&h), "6629fae49393a05397450978507c4ef1", "{h}");
        assert!(
            h.contains("nc=00000001, cnonce=\"0a4f113b\", qop=auth"),
            "{h}"
        );
        assert!(
            h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{h}"
        );
    }

    #[test]
    fn rfc7616_request_sha256_and_md5() {
        // The responses printed in RFC 7616 §3.9.1 do not follow from its own inputs (its
        // errata); these were computed independently from §3.4.1's formula with Python's
        // hashlib: H(H(user:realm:pw):nonce:nc:cnonce:auth:H(GET:uri)).
        for (alg, expected) in [
            (
                "SHA-256",
                "20192f82aa74dce26b5d1d61efb45aee1a799a2be1ab376594a6f6fc5d014723",
            ),
            ("MD5", "7c9b82698da7695d6e85a11005db68e6"),
        ] {
            let h = answer(&rfc_challenge(alg), "Mufasa", "Circle of Life", RFC_CNONCE);
            assert_eq!(response_of(&h), expected, "{alg}: {h}");
            assert!(h.contains(&format!("algorithm={alg}")), "{h}");
            assert!(h.contains(&format!("opaque=\"{RFC_OPAQUE}\"")), "{h}");
        }
    }

    #[test]
    fn prefers_sha256_over_md5_over_basic_across_headers() {
        let md5 = rfc_challenge("MD5");
        let sha = rfc_challenge("SHA-256");
        let basic = "Basic realm=\"cam\", charset=\"UTF-8\"";
        let pick = |hs: &[&str]| match choose_challenge(hs.iter().copied()).unwrap() {
            Challenge::Basic => "basic",
            Challenge::Digest(d) => d.algorithm.name(),
        };
        assert_eq!(pick(&[basic, md5.as_str(), sha.as_str()]), "SHA-256");
        assert_eq!(pick(&[md5.as_str(), basic]), "MD5");
        assert_eq!(pick(&[basic]), "basic");
        // Two challenges in one header value.
        assert_eq!(pick(&[&format!("{basic}, {md5}")]), "MD5");
        assert!(matches!(
            choose_challenge(["Negotiate abc", "Bearer realm=\"x\""]),
            Err(AuthError::Unsupported(_))
        ));
    }

    #[test]
    fn rfc2069_form_without_qop_and_stale_nonces() {
        // RFC 2617 §3.2.2.1: without qop, response = H(HA1:nonce:HA2).
        let c = choose_challenge(["Digest realm=\"cam\", nonce=\"abc\", stale=TRUE"]).unwrap();
        let Challenge::Digest(d) = c else { panic!() };
        assert!(!d.qop_auth && d.stale);
        assert_eq!(d.algorithm, Algorithm::Md5);
        let h = digest(&d, "u", "p", "GET", "/snap.jpg", 1, "x");
        let ha1 = Algorithm::Md5.hash("u:cam:p");
        let ha2 = Algorithm::Md5.hash("GET:/snap.jpg");
        assert_eq!(
            response_of(&h),
            Algorithm::Md5.hash(&format!("{ha1}:abc:{ha2}"))
        );
        assert!(!h.contains("nc="), "{h}");
    }

    #[test]
    fn basic_is_rfc7617_base64() {
        // RFC 7617 §2's example.
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
