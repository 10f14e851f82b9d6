//! Support for the failure tests: the real binary as a child process, and a
//! throwaway PostgreSQL cluster of its own that a test may stop and start.

#![allow(dead_code)] // Each test file uses part of it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_exsvc");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    let writer = sink.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = writer.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    sink
}

/// How a server ended, and everything it printed.
pub struct Exited {
    pub status: ExitStatus,
    /// The request and event log (JSON lines).
    pub stdout: String,
    /// Start-up messages and errors.
    pub stderr: String,
}

impl Exited {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A running `exsvc serve`; killed when dropped if the test did not stop it.
pub struct Server {
    child: Child,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the binary in `dir` with a clean `EXSVC_*` environment plus `vars`
    /// on a free port, and waits until /healthz answers.
    pub async fn start(dir: &Path, vars: &[(&str, &str)]) -> Server {
        Self::start_with(dir, vars, None).await
    }

    /// As `start`, under a soft limit of `file_limit` open files (`ulimit -n`).
    pub async fn start_with(dir: &Path, vars: &[(&str, &str)], file_limit: Option<u32>) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut command = match file_limit {
            None => Command::new(BIN),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
                    BIN,
                ]);
                shell
            }
        };
        command.arg("serve");
        for (key, _) in std::env::vars() {
            if key.starts_with("EXSVC_") {
                command.env_remove(key);
            }
        }
        command
            .envs(vars.iter().copied())
            .env("EXSVC_LISTEN", &listen)
            .env("EXSVC_LOG_FORMAT", "json")
            .current_dir(dir);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let mut server = Server {
            child,
            base: format!("http://{listen}"),
            stdout,
            stderr,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_err()
        {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "exited with {status} before serving: {}",
                    server.stderr.lock().unwrap()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "did not start: {}",
                server.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// The admin token the development-mode banner printed (as the line
    /// `export EXSVC_TOKEN=…`, which the `exsvc` client reads).
    pub fn dev_token(&self) -> String {
        let banner = self.stderr.lock().unwrap().clone();
        banner
            .lines()
            .find_map(|l| l.trim().strip_prefix("export EXSVC_TOKEN="))
            .unwrap_or_else(|| panic!("no token printed: {banner}"))
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's process id (its memory is read from /proc).
    #[allow(dead_code)] // Not every test binary reads it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Waits (at most `limit`) for the process to exit after a signal already
    /// sent; returns its status and everything it printed.
    pub async fn wait_exit(&mut self, limit: Duration) -> Exited {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {limit:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Let the reader threads drain the pipes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Exited {
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// SIGTERM, then the exit (within 35 s: the 30 s grace and some).
    pub async fn stop(mut self) -> Exited {
        self.sigterm();
        self.wait_exit(Duration::from_secs(35)).await
    }

    pub fn logs(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Where the PostgreSQL server binaries are: `EXSVC_TEST_PG_BIN`, else the
/// Debian path of PostgreSQL 15. Missing binaries fail the test.
fn pg_bin(program: &str) -> PathBuf {
    let dir = std::env::var("EXSVC_TEST_PG_BIN")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned());
    Path::new(&dir).join(program)
}

fn require_pg_bin(program: &str) -> PathBuf {
    let path = pg_bin(program);
    assert!(
        path.is_file(),
        "PostgreSQL's {program} is required for this test and is not at {} (set EXSVC_TEST_PG_BIN)",
        path.display()
    );
    path
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// `program` as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(program: &str) -> Command {
    let path = pg_bin(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run_ok(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of the test's own on a spare port (trust
/// authentication, user `postgres`); stopped and removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    pub fn start() -> Self {
        for program in ["initdb", "pg_ctl"] {
            require_pg_bin(program);
        }
        let dir = std::env::temp_dir().join(format!("exsvc-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = Cluster {
            dir,
            port: free_port(),
        };
        if running_as_root() {
            run_ok(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&cluster.dir),
            );
        }
        run_ok(
            as_postgres("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(cluster.data()),
        );
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        run_ok(
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.join("log"))
                .args(["-w", "start"]),
        );
    }

    /// `pg_ctl stop -m mode`: `immediate` kills every backend at once.
    pub fn down(&self, mode: &str) {
        run_ok(
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", mode, "-w", "stop"]),
        );
    }
}

impl Cluster {
    /// The postmaster and its children (backends, background workers).
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .unwrap();
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        pids
    }

    /// A database that hangs instead of failing: every process of the cluster
    /// stopped (SIGSTOP). Connections open and queries are sent, nothing answers.
    pub fn freeze(&self) {
        run_ok(Command::new("kill").arg("-STOP").args(self.processes()));
    }

    pub fn thaw(&self) {
        run_ok(Command::new("kill").arg("-CONT").args(self.processes()));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A frozen cluster cannot stop.
        if self.data().join("postmaster.pid").exists() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .args(self.processes())
                .status();
        }
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
