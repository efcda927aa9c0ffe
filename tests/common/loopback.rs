//! Real listeners on 127.0.0.1 for the readiness tests, and a way to watch a running usher's
//! log so a test can act when usher reaches a point instead of sleeping a fixed time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Run;

/// A port nothing listens on (bound, then released; the kernel does not hand it out again
/// at once).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// What the test server answers to the Nth request (0-based).
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// A full status line such as `"200 OK"`, with an empty body.
    Status(&'static str),
    /// Accept, read the request, and never answer (the connection stays open).
    Silence,
}

/// A tiny HTTP server on 127.0.0.1 that answers by a script and records every request.
pub struct HttpServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl HttpServer {
    /// Listens on a fresh port; `answer(n)` decides the Nth answer.
    pub fn start(answer: impl Fn(usize) -> Answer + Send + 'static) -> HttpServer {
        Self::start_on(0, answer)
    }

    /// Listens on `port` (0: any).
    pub fn start_on(port: u16, answer: impl Fn(usize) -> Answer + Send + 'static) -> HttpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test HTTP server");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = std::thread::spawn(move || {
            // Silent connections are kept here so they stay open until the test ends.
            let mut held = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let request = read_request(&mut stream);
                seen.lock().unwrap().push(request);
                match answer(n) {
                    Answer::Status(status) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    Answer::Silence => held.push(stream),
                }
            }
        });
        HttpServer {
            port,
            requests,
            stopping,
            thread,
        }
    }

    /// Closes the listening socket (and any held connection): from now on a connection to the
    /// port is refused, as when the server process is gone.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept, which then sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.thread.join().expect("the test HTTP server thread");
    }

    /// Every request received so far, as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Reads up to the blank line that ends a request's headers.
fn read_request(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    while !text.ends_with(b"\r\n\r\n") && text.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(1) => text.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// A running usher whose stderr is collected line by line as it comes.
pub struct Watched {
    shown: String,
    child: Child,
    stderr: Arc<(Mutex<Vec<String>>, Condvar)>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
}

impl Watched {
    pub fn spawn(cmd: &mut Command) -> Watched {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        let stderr = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let lines = Arc::clone(&stderr);
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.0.lock().unwrap().push(line);
                lines.1.notify_all();
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        Watched {
            shown,
            child,
            stderr,
            stdout,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Blocks until a stderr line contains `needle`; panics with what was seen after 30 s.
    #[track_caller]
    pub fn wait_for_stderr(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (lines, ready) = &*self.stderr;
        let mut seen = lines.lock().unwrap();
        while !seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no stderr line with {needle:?} within 30 s\ncommand: {}\n--- stderr ---\n{}",
                self.shown,
                seen.join("\n")
            );
            seen = ready.wait_timeout(seen, left).unwrap().0;
        }
    }

    /// Waits for the exit (killing usher after `limit`), and returns the run with how long
    /// it took from this call.
    pub fn finish(mut self, limit: Duration) -> (Run, Duration) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for usher") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                break self.child.wait().expect("wait for usher");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = start.elapsed();
        let stdout = self.stdout.join().unwrap_or_default();
        // The reader thread ends at EOF, which follows the exit; give it a moment.
        let lines_deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.stderr) > 1 && Instant::now() < lines_deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stderr = self.stderr.0.lock().unwrap().join("\n");
        let run = Run {
            shown: self.shown,
            output: Output {
                status,
                stdout,
                stderr: stderr.into_bytes(),
            },
        };
        (run, took)
    }
}
