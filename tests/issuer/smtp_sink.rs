//! A minimal SMTP server on an ephemeral loopback port that keeps what it receives, for the issuer's
//! e-mail tests: it can refuse every connection, or hold its answer to each message it takes.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest the sink holds its answer to a message (see [`SmtpSink::hold`]), so that a test that
/// fails before releasing it leaves no thread behind for long.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub recipients: Vec<String>,
    /// Headers and body, dot-stuffing undone.
    pub data: String,
}

impl Received {
    /// The `Message-ID` header's value.
    pub fn message_id(&self) -> Option<&str> {
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then_some(value.trim())
            })
    }
}

/// The sink; clones share it.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    /// While false, every connection is answered `421` (service not available) and hung up.
    pub accepting: Arc<AtomicBool>,
    holding: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start(accepting: bool) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP sink");
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            accepting: Arc::new(AtomicBool::new(accepting)),
            holding: Arc::default(),
            held: Arc::default(),
            received: Arc::default(),
        };
        let server = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let server = server.clone();
                std::thread::spawn(move || {
                    let _ = server.converse(stream);
                });
            }
        });
        sink
    }

    /// While `hold` is true, the sink takes each message at the end of its data but holds its answer
    /// (`250`) until the hold ends or the client hangs up. A client killed meanwhile has had its
    /// message taken without hearing so, as when a server's acceptance is lost on the way back.
    pub fn hold(&self, hold: bool) {
        self.holding.store(hold, Ordering::SeqCst);
    }

    /// How many conversations are held right now with their client still connected. A client that
    /// sends one message at a time has at most one.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Every message taken so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn converse(&self, stream: TcpStream) -> std::io::Result<()> {
        // A stuck client cannot keep the thread: every read gives up after a few seconds.
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = stream.try_clone()?;
        if !self.accepting.load(Ordering::SeqCst) {
            return out.write_all(b"421 4.3.2 sink.test not accepting mail yet\r\n");
        }
        out.write_all(b"220 sink.test ESMTP test sink\r\n")?;
        let mut reader = BufReader::new(stream);
        let mut recipients = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            let answer: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                b"250 sink.test\r\n"
            } else if command.starts_with("MAIL FROM:") {
                recipients.clear();
                b"250 2.1.0 ok\r\n"
            } else if command.starts_with("RCPT TO:") {
                let address = line.trim_end()["RCPT TO:".len()..].trim();
                recipients.push(address.trim_matches(['<', '>']).to_owned());
                b"250 2.1.5 ok\r\n"
            } else if command == "DATA" {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.received.lock().unwrap().push(Received {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                if !self.hold_answer(&out)? {
                    return Ok(());
                }
                b"250 2.0.0 queued\r\n"
            } else if command == "QUIT" {
                return out.write_all(b"221 2.0.0 bye\r\n");
            } else if command == "RSET" || command == "NOOP" {
                b"250 2.0.0 ok\r\n"
            } else {
                b"502 5.5.2 not implemented\r\n"
            };
            out.write_all(answer)?;
        }
    }

    /// Waits while the sink holds answers (see [`SmtpSink::hold`]); returns whether the client is
    /// still there to be answered.
    fn hold_answer(&self, stream: &TcpStream) -> std::io::Result<bool> {
        if !self.holding.load(Ordering::SeqCst) {
            return Ok(true);
        }
        self.held.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        let connected = loop {
            if !self.holding.load(Ordering::SeqCst) || start.elapsed() > HOLD_LIMIT {
                break true;
            }
            // The client says nothing until answered: end of stream or an error is its hanging up.
            match stream.peek(&mut [0]) {
                Ok(0) => break false,
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break false,
            }
        };
        self.held.fetch_sub(1, Ordering::SeqCst);
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(connected)
    }
}
