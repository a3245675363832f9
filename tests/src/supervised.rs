//! Server processes for tests (DynamoDB Local's JVM, moto's Python server): started under a
//! supervisor that stops them when the test process ends however it ends, on loopback ports
//! no other server of the process has had, with their last lines of output kept for failure
//! messages. Also the one way tests install what they run (`scripts/install-test-deps.sh`).

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a stopped server may take to exit (a JVM takes about 0.3 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of a server's output kept for failure messages.
const LOG_LINES: usize = 200;

/// Runs its arguments (the server's command line) as a child that dies with the test process.
///
/// Its stdin is a pipe whose only writer is the test process, so the pipe closes when the
/// test process ends however it ends (a normal exit never drops statics, and a kill runs
/// nothing at all). The watcher's `cat` sees that as end of input and sends the server SIGTERM
/// (not SIGKILL, so a JVM deletes the SQLite native library it unpacked into /tmp); the
/// supervisor exits once the server has. It also exits when the server exits by itself, which
/// is how an early failure (such as losing the port) shows to [`Supervised::exited`]; it then
/// stops the watcher so that no late `kill` can hit a reused pid.
///
/// Ctrl-C signals the whole foreground process group, the supervisor too, while the server
/// and the watcher, as background jobs of a non-interactive shell, ignore SIGINT. So the
/// supervisor traps the usual termination signals and passes them on as SIGTERM rather
/// than die and leave the server behind.
///
/// Background jobs of a non-interactive shell read /dev/null unless redirected, hence the
/// pipe goes to the watcher as fd 3. `wait` is called until the server is gone because a
/// trapped signal interrupts it. (Not `wait -n`: bash 5.2's misses a job that ended before it.)
const SUPERVISOR: &str = r#"
trap 'kill "$server" 2>/dev/null' INT TERM HUP
exec 2>&1 3<&0 </dev/null
"$@" 3<&- &
server=$!
{ cat >/dev/null; kill "$server" 2>/dev/null; } <&3 >/dev/null 2>&1 3<&- &
watcher=$!
exec 3<&-
wait "$server"
status=$?
while kill -0 "$server" 2>/dev/null; do
    wait "$server"
    status=$?
done
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// A server process under its [`SUPERVISOR`]; dropping it stops the server.
pub struct Supervised {
    name: String,
    supervisor: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    log_reader: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Starts `command` (its program, arguments and environment; nothing else of it is used)
    /// under the supervisor. `name` says which server it is in messages.
    /// Panics when bash cannot be started.
    pub fn spawn(name: &str, command: &Command) -> Supervised {
        let mut supervisor = Command::new("bash");
        supervisor
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("test-server-supervisor")
            .arg(command.get_program())
            .args(command.get_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => supervisor.env(key, value),
                None => supervisor.env_remove(key),
            };
        }
        let mut supervisor = supervisor
            .spawn()
            .unwrap_or_else(|error| panic!("cannot spawn bash to run {name}: {error}"));
        let stdout = supervisor.stdout.take().expect("stdout is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let log_reader = Some(spawn_log_reader(stdout, Arc::clone(&log), name));
        Supervised {
            name: name.to_owned(),
            supervisor,
            log,
            log_reader,
        }
    }

    /// The exit status once the server has exited (its output is then complete).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.supervisor.try_wait().ok().flatten()?;
        // The output is complete once the reader has seen the pipe close.
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        Some(status)
    }

    /// The last lines the server printed (stdout and stderr).
    pub fn output(&self) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Closing the supervisor's stdin is what tells it to stop the server.
        drop(self.supervisor.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.supervisor.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        eprintln!(
            "{} did not stop within {STOP_TIMEOUT:?}; killing its supervisor. Its output:\n{}",
            self.name,
            self.output()
        );
        let _ = self.supervisor.kill();
        let _ = self.supervisor.wait();
    }
}

/// Keeps the last [`LOG_LINES`] lines of the server's output for failure messages; also
/// drains the pipe so a chatty server never blocks on it.
fn spawn_log_reader(
    stdout: ChildStdout,
    log: Arc<Mutex<VecDeque<String>>>,
    name: &str,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("{name} log"))
        .spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if log.len() == LOG_LINES {
                    log.pop_front();
                }
                log.push_back(String::from_utf8_lossy(&line).into_owned());
            }
        })
        .expect("cannot spawn a thread")
}

/// A loopback port that was free a moment ago and that no other server of this process
/// has had.
///
/// The probe's port is free again when this returns, so the kernel may hand it to a
/// concurrent probe too; and a stopped server's port is free until it restarts. Two of
/// this process's servers on one port would pass the readiness check through whichever
/// server won it, hence the record of ports given out.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("cannot bind a loopback port")
            .port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// Runs `scripts/install-test-deps.sh` (once per process) and returns what it printed.
///
/// Always run, so a bumped pin reaches every checkout; it returns at once when the install
/// is current.
pub fn install_test_deps() -> Result<String, String> {
    static OUTPUT: OnceLock<Result<String, String>> = OnceLock::new();
    OUTPUT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the tests crate sits inside the workspace");
            let script = root.join("scripts/install-test-deps.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
            if !output.status.success() {
                return Err(format!(
                    "{} failed ({}):\n{}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .clone()
}

/// The workspace's `.tools` folder, where `scripts/install-test-deps.sh` installs.
pub fn tools_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace")
        .join(".tools")
}
