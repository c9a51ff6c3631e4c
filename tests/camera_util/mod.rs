//! Shared by the camera tests: real label frames as image bytes, and a loopback HTTP
//! snapshot camera (a tiny std server: no framework, so each test controls every byte).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use intake_hal::camera::auth::{Challenge, choose_challenge, digest};
use intake_hal::camera::{LabelSpec, Scene, compose, render_label};

pub const WAYBILL: &str = "EE123456785GB";

/// A 1280×720 camera frame with a label on it, turned 20°.
pub fn label_frame(waybill: &str) -> image::GrayImage {
    let label = render_label(&LabelSpec::new(waybill)).unwrap();
    let scene = Scene {
        angle_deg: 20.0,
        ..Scene::centered(1280, 720, 3)
    };
    compose(Some(&label), &scene)
}

/// The frame encoded in `format`.
pub fn encoded(img: &image::GrayImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let dynamic = image::DynamicImage::ImageLuma8(img.clone());
    match format {
        image::ImageFormat::WebP => dynamic.to_rgba8().write_to(&mut out, format).unwrap(),
        image::ImageFormat::Jpeg | image::ImageFormat::Gif | image::ImageFormat::Bmp => {
            dynamic.to_rgb8().write_to(&mut out, format).unwrap()
        }
        _ => dynamic.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

pub const USER: &str = "intake";
pub const PASSWORD: &str = "dock 7 camera";

/// A snapshot camera on 127.0.0.1. Paths: `/snap.jpg` (a label JPEG), `/slow.jpg` (never
/// answers), `/basic.jpg` (basic auth), `/digest.jpg` (digest auth, SHA-256 or MD5 offered,
/// nonce kept across requests), anything else 404.
pub struct Camera {
    pub port: u16,
    /// The `Authorization` headers the server was sent, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Camera {
    pub fn start(jpeg: Vec<u8>) -> Camera {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            // Connections held open unanswered (the slow camera).
            let mut held = Vec::new();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                if let Some(c) = serve(conn, &jpeg, &log) {
                    held.push(c);
                }
            }
        });
        Camera { port, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

const NONCE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn serve(mut conn: TcpStream, jpeg: &[u8], seen: &Mutex<Vec<String>>) -> Option<TcpStream> {
    // One request per connection (we answer with Connection: close).
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            auth = Some(v.trim().to_owned());
        }
    }
    if let Some(a) = &auth {
        seen.lock().unwrap().push(a.clone());
    }
    let reply = |conn: &mut TcpStream, status: &str, headers: &[String], body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for h in headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let _ = conn.write_all(out.as_bytes());
        let _ = conn.write_all(body);
    };
    let jpeg_ok = |conn: &mut TcpStream| {
        reply(conn, "200 OK", &["Content-Type: image/jpeg".into()], jpeg);
    };
    match path.as_str() {
        "/snap.jpg" => jpeg_ok(&mut conn),
        "/slow.jpg" => return Some(conn),
        "/basic.jpg" => {
            let want = intake_hal::camera::auth::basic(USER, PASSWORD);
            if auth.as_deref() == Some(want.as_str()) {
                jpeg_ok(&mut conn);
            } else {
                reply(
                    &mut conn,
                    "401 Unauthorized",
                    &["WWW-Authenticate: Basic realm=\"camera\"".into()],
                    b"",
                );
            }
        }
        "/digest.jpg" => {
            let challenges = [
                format!(
                    "WWW-Authenticate: Digest realm=\"camera\", qop=\"auth\", algorithm=MD5, nonce=\"{NONCE}\", opaque=\"xyz\""
                ),
                format!(
                    "WWW-Authenticate: Digest realm=\"camera\", qop=\"auth\", algorithm=SHA-256, nonce=\"{NONCE}\", opaque=\"xyz\""
                ),
            ];
            if auth.as_deref().is_some_and(|a| digest_ok(a, &challenges)) {
                jpeg_ok(&mut conn);
            } else {
                reply(&mut conn, "401 Unauthorized", &challenges, b"");
            }
        }
        _ => reply(&mut conn, "404 Not Found", &[], b"no such page"),
    }
    None
}

fn field<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(", ").find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim_start_matches("Digest ") == name).then(|| v.trim_matches('"'))
    })
}

/// Checks the client's answer the way a camera does: recompute the response from the
/// client's cnonce and nc with the password only the server and the client know.
fn digest_ok(header: &str, challenges: &[String]) -> bool {
    let offered: Vec<&str> = challenges
        .iter()
        .map(|c| c.trim_start_matches("WWW-Authenticate: "))
        .collect();
    let Ok(Challenge::Digest(c)) = choose_challenge(offered) else {
        return false;
    };
    let (Some(nc), Some(cnonce), Some(uri)) = (
        field(header, "nc"),
        field(header, "cnonce"),
        field(header, "uri"),
    ) else {
        return false;
    };
    let nc = u32::from_str_radix(nc, 16).unwrap_or(0);
    digest(&c, USER, PASSWORD, "GET", uri, nc, cnonce) == header
}

/// The shipped station config, beside its rate card and manifest in `dir`, with its
/// `[camera]` table replaced by `camera`; the simulated scale settles quicker and the
/// simulated dock draws only good parcels.
pub fn station_with_camera(dir: &std::path::Path, camera: &str) -> std::path::PathBuf {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for f in ["rates.toml", "manifest-sample.csv"] {
        std::fs::copy(shipped.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(shipped.join("station.toml")).unwrap();
    let start = text.find("[camera]").unwrap();
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 1 + i);
    let mut cfg = format!("{}[camera]\n{camera}\n{}", &text[..start], &text[end..])
        .replace("settle = \"400ms\"", "settle = \"150ms\"");
    // Only good parcels: a verdict here depends on the label alone.
    for share in ["over_weight", "over_size", "torn_label", "unknown_waybill"] {
        cfg = cfg.replace(
            &format!("{share}_permille = 60"),
            &format!("{share}_permille = 0"),
        );
    }
    let path = dir.join("station.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}
