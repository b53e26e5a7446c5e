//! A small SMTP receiving server for the mail tests: a real process speaking SMTP over TCP on a
//! loopback address, so the shop's delivery goes through `lettre` and a socket exactly as it would to a
//! mail server. It speaks EHLO/HELO, AUTH PLAIN (when started with `--auth user:password`), MAIL,
//! RCPT, DATA (dot-unstuffed), RSET, NOOP and QUIT, and stores each accepted message as
//! `<dir>/<n>.eml` with its envelope's recipients in `<n>.rcpt` and the number of the connection it
//! came over in `<n>.conn` (each written to a temporary name first, then renamed, the message last,
//! so a reader never sees half a message).
//!
//! With `--tls starttls` it offers STARTTLS and takes nothing before it; with `--tls implicit` it speaks
//! TLS from the first byte (rustls with ring), with the certificate and key of `--cert` and `--key`.
//!
//! `smtp-sink --listen 127.0.0.1:0 --dir DIR [--auth user:password] [--tls starttls|implicit --cert
//! PEM --key PEM]` prints `listening on ADDR` once it listens. Loopback addresses only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How the sink protects its connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Starttls,
    Implicit,
}

struct Sink {
    dir: PathBuf,
    auth: Option<String>,
    count: AtomicU64,
    connections: AtomicU64,
    mode: Mode,
    tls: Option<Arc<ServerConfig>>,
}

/// A connection, before or after TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

fn tls_config(cert: &Path, key: &Path) -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(cert)
        .expect("--cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("--cert holds PEM certificates");
    let key = PrivateKeyDer::from_pem_file(key).expect("--key holds a PEM private key");
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("the certificate and its key");
    Arc::new(config)
}

fn wrap(sink: &Sink, stream: TcpStream) -> std::io::Result<Stream> {
    let config = sink.tls.clone().expect("TLS needs --cert and --key");
    let connection = ServerConnection::new(config).map_err(std::io::Error::other)?;
    Ok(Stream::Tls(Box::new(StreamOwned::new(connection, stream))))
}

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut dir = None;
    let mut auth = None;
    let mut mode = Mode::Plain;
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--listen", Some(value)) => listen = value,
            ("--dir", Some(value)) => dir = Some(PathBuf::from(value)),
            ("--auth", Some(value)) => auth = Some(value),
            ("--tls", Some(value)) if value == "starttls" => mode = Mode::Starttls,
            ("--tls", Some(value)) if value == "implicit" => mode = Mode::Implicit,
            ("--cert", Some(value)) => cert = Some(PathBuf::from(value)),
            ("--key", Some(value)) => key = Some(PathBuf::from(value)),
            _ => {
                eprintln!(
                    "usage: smtp-sink --listen 127.0.0.1:PORT --dir DIR [--auth user:password]"
                );
                std::process::exit(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("smtp-sink: --dir is required");
        std::process::exit(2);
    };
    let address: SocketAddr = listen
        .parse()
        .expect("--listen takes an address like 127.0.0.1:0");
    assert!(
        address.ip().is_loopback(),
        "smtp-sink listens on loopback addresses only"
    );
    std::fs::create_dir_all(&dir).expect("create --dir");
    let listener = TcpListener::bind(address).expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local address")
    );
    std::io::stdout().flush().expect("stdout");
    let tls = match (&cert, &key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)),
        _ => None,
    };
    let sink = Arc::new(Sink {
        dir,
        auth,
        count: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        mode,
        tls,
    });
    for stream in listener.incoming().flatten() {
        let sink = sink.clone();
        std::thread::spawn(move || {
            let _ = session(&sink, stream);
        });
    }
}

/// The base64 of AUTH PLAIN's `\0user\0password`.
fn plain_token(credentials: &str) -> String {
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    base64(format!("\0{user}\0{password}").as_bytes())
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn session(sink: &Sink, stream: TcpStream) -> std::io::Result<()> {
    let stream = match sink.mode {
        Mode::Implicit => wrap(sink, stream)?,
        _ => Stream::Plain(stream),
    };
    let mut input = BufReader::new(stream);
    fn reply(input: &mut BufReader<Stream>, text: &str) -> std::io::Result<()> {
        let out = input.get_mut();
        out.write_all(text.as_bytes())?;
        out.write_all(b"\r\n")?;
        out.flush()
    }
    let connection = sink.connections.fetch_add(1, Ordering::SeqCst) + 1;
    reply(&mut input, "220 smtp-sink ready")?;
    let mut secure = sink.mode == Mode::Implicit;
    let mut authenticated = sink.auth.is_none();
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let upper = command.to_ascii_uppercase();
        if sink.mode == Mode::Starttls
            && !secure
            && !(upper.starts_with("EHLO") || upper == "STARTTLS" || upper == "QUIT")
        {
            reply(&mut input, "530 5.7.0 Must issue a STARTTLS command first")?;
            continue;
        }
        if upper.starts_with("EHLO") {
            let mut lines = vec!["250-smtp-sink", "250-8BITMIME"];
            if sink.mode == Mode::Starttls && !secure {
                lines.push("250-STARTTLS");
            } else if sink.auth.is_some() {
                lines.push("250-AUTH PLAIN");
            }
            lines.push("250 SMTPUTF8");
            reply(&mut input, &lines.join("\r\n"))?;
        } else if upper == "STARTTLS" && sink.mode == Mode::Starttls && !secure {
            reply(&mut input, "220 2.0.0 Ready to start TLS")?;
            let Stream::Plain(tcp) = input.into_inner() else {
                return Ok(());
            };
            input = BufReader::new(wrap(sink, tcp)?);
            secure = true;
            from = None;
            recipients.clear();
        } else if upper.starts_with("HELO") {
            reply(&mut input, "250 smtp-sink")?;
        } else if upper.starts_with("AUTH PLAIN") {
            let expected = sink.auth.as_deref().map(plain_token);
            let given = command.get(11..).map(str::trim).unwrap_or("");
            if expected.as_deref() == Some(given) && !given.is_empty() {
                authenticated = true;
                reply(&mut input, "235 2.7.0 Authentication successful")?;
            } else {
                reply(&mut input, "535 5.7.8 Authentication credentials invalid")?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if !authenticated {
                reply(&mut input, "530 5.7.0 Authentication required")?;
                continue;
            }
            from = Some(command[10..].trim().to_owned());
            recipients.clear();
            reply(&mut input, "250 2.1.0 Ok")?;
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                reply(&mut input, "503 5.5.1 MAIL first")?;
                continue;
            }
            let to = command[8..].trim().trim_start_matches('<');
            let to = to.split('>').next().unwrap_or("").to_owned();
            recipients.push(to);
            reply(&mut input, "250 2.1.5 Ok")?;
        } else if upper == "DATA" {
            if recipients.is_empty() {
                reply(&mut input, "503 5.5.1 RCPT first")?;
                continue;
            }
            reply(&mut input, "354 End data with <CR><LF>.<CR><LF>")?;
            let mut message = Vec::new();
            let mut data = Vec::new();
            loop {
                data.clear();
                if input.read_until(b'\n', &mut data)? == 0 {
                    return Ok(());
                }
                if data == b".\r\n" || data == b".\n" {
                    break;
                }
                let unstuffed = if data.starts_with(b"..") {
                    &data[1..]
                } else {
                    &data[..]
                };
                message.extend_from_slice(unstuffed);
            }
            let n = sink.count.fetch_add(1, Ordering::SeqCst) + 1;
            let stamp = format!("{}-{n:04}", std::process::id());
            store(&sink.dir, &stamp, &message, &recipients, connection)?;
            from = None;
            recipients.clear();
            reply(&mut input, &format!("250 2.0.0 Ok: queued as {stamp}"))?;
        } else if upper == "RSET" {
            from = None;
            recipients.clear();
            reply(&mut input, "250 2.0.0 Ok")?;
        } else if upper == "NOOP" {
            reply(&mut input, "250 2.0.0 Ok")?;
        } else if upper == "QUIT" {
            reply(&mut input, "221 2.0.0 Bye")?;
            return Ok(());
        } else {
            reply(&mut input, "502 5.5.2 Command not recognized")?;
        }
    }
}

fn store(
    dir: &Path,
    stamp: &str,
    message: &[u8],
    recipients: &[String],
    connection: u64,
) -> std::io::Result<()> {
    let partial = dir.join(format!("{stamp}.partial"));
    std::fs::write(&partial, recipients.join("\n"))?;
    std::fs::rename(&partial, dir.join(format!("{stamp}.rcpt")))?;
    std::fs::write(&partial, connection.to_string())?;
    std::fs::rename(&partial, dir.join(format!("{stamp}.conn")))?;
    std::fs::write(&partial, message)?;
    std::fs::rename(&partial, dir.join(format!("{stamp}.eml")))
}
