//! Real DynamoDB Local (AWS's Java build) for tests.
//!
//! The jar is installed by `scripts/install-test-deps.sh` into
//! `.tools/dynamodb-local/dist/DynamoDBLocal.jar`; `DYNAMODB_LOCAL_JAR` points elsewhere
//! instead (its `DynamoDBLocal_lib` folder must sit beside it). Java 17+ must be on `PATH`.
//!
//! Every instance runs with:
//! - `-inMemory`: nothing is written to disk, and a restart starts from an empty database
//!   (except those of [`DynamoDbLocal::start_on_disk`], for load runs that restart it);
//! - `-sharedDb`: all clients see the same tables whatever access key and region they sign
//!   with. Without it DynamoDB Local keeps one database per key and region, and a test and
//!   the code under test configured differently would silently miss each other's tables;
//! - `-disableTelemetry`: otherwise it tries to reach AWS and leaves a metadata file in its
//!   working directory.
//!
//! It listens on every interface (it has no option for loopback only); clients are given
//! `127.0.0.1`.
//!
//! Tests in one binary share one instance through [`shared`] and keep apart by creating
//! tables named by [`unique_table_name`]; a test that stops or restarts the server starts
//! its own with [`DynamoDbLocal::start`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use crate::supervised::{Supervised, free_port};

/// How long a JVM may take to answer its first request: about 2 s on a 2-core machine,
/// longer while other JVMs or builds compete for it.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Launches on fresh ports before giving up: the port is only probed free, and another
/// process may take it before the JVM binds it.
const START_ATTEMPTS: usize = 3;

/// A DynamoDB Local server on a loopback port.
///
/// Dropping it stops the JVM; so does the end of the test process, even when the value is
/// never dropped (as with [`shared`]).
pub struct DynamoDbLocal {
    addr: SocketAddr,
    endpoint: String,
    jar: PathBuf,
    storage: Storage,
    server: Option<Server>,
}

/// Where a server keeps its database.
#[derive(Clone)]
enum Storage {
    /// In memory, with only the quick JIT tier: it about halves start-up on a busy 2-core
    /// machine, and a test's server never runs long enough for the slow tier to pay off.
    Memory,
    /// In this folder (`-dbPath`), surviving a restart, with the full JIT: for long runs.
    Disk(PathBuf),
}

impl DynamoDbLocal {
    /// Starts a new server on a free port and waits until it answers requests.
    ///
    /// Installs the jar first (once per process) unless `DYNAMODB_LOCAL_JAR` names one.
    /// Panics when it cannot be installed or the server does not come up.
    pub async fn start() -> DynamoDbLocal {
        Self::start_with(Storage::Memory).await
    }

    /// Like [`Self::start`], the database kept in `dir` so that [`Self::restart`] finds it
    /// again, as a killed and restarted DynamoDB would.
    pub async fn start_on_disk(dir: &Path) -> DynamoDbLocal {
        std::fs::create_dir_all(dir).expect("DynamoDB Local's data folder");
        Self::start_with(Storage::Disk(dir.to_owned())).await
    }

    async fn start_with(storage: Storage) -> DynamoDbLocal {
        let jar = tokio::task::spawn_blocking(|| jar().clone())
            .await
            .expect("locating DynamoDB Local panicked")
            .unwrap_or_else(|error| panic!("DynamoDB Local is not available: {error}"));
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match Server::launch(&jar, &storage, port).await {
                Ok(server) => {
                    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                    return DynamoDbLocal {
                        addr,
                        endpoint: format!("http://{addr}"),
                        jar,
                        storage,
                        server: Some(server),
                    };
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "DynamoDB Local did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        )
    }

    /// The URL to configure an AWS SDK client with: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket address behind [`Self::endpoint`], e.g. as a fault proxy's upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the JVM and waits for it to exit; requests then fail with connection refused.
    /// Does nothing when already stopped.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Stops the server if running and starts a new one on the same port.
    ///
    /// A database in memory loses every table and item; one on disk is found again. Panics if the
    /// new server does not come up (for instance because another process took the port
    /// while it was free).
    pub async fn restart(&mut self) {
        self.stop();
        match Server::launch(&self.jar, &self.storage, self.addr.port()).await {
            Ok(server) => self.server = Some(server),
            Err(failure) => panic!("DynamoDB Local did not restart on {}: {failure}", self.addr),
        }
    }
}

/// The server shared by all tests of this test binary, started by the first caller.
///
/// It is a separate process, so it serves every test's tokio runtime alike. It runs until
/// the test process exits.
pub async fn shared() -> &'static DynamoDbLocal {
    static SHARED: OnceCell<DynamoDbLocal> = OnceCell::const_new();
    SHARED.get_or_init(DynamoDbLocal::start).await
}

/// A table name no other test of this run uses: `PREFIX-PID-N`.
///
/// The process id keeps binaries apart should they ever share a server.
/// Panics if the prefix would make an invalid DynamoDB table name.
pub fn unique_table_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(
        name.len() <= 255
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')),
        "invalid DynamoDB table name {name:?}: allowed are 3 to 255 of a-z A-Z 0-9 _ - ."
    );
    name
}

/// A DynamoDB response read by [`raw_request`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
}

/// Sends one DynamoDB JSON API call (`operation` such as `ListTables`) over a fresh HTTP/1.1
/// connection and reads the whole response.
///
/// DynamoDB Local does not check signatures, so the `Authorization` header is a dummy; that
/// spares tests of the plumbing an AWS SDK. Errors when the connection fails or is closed
/// before a status line arrives. The body is taken as sent: DynamoDB Local answers with a
/// `Content-Length`, not chunked.
pub async fn raw_request(addr: SocketAddr, operation: &str, body: &str) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "POST / HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Content-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.{operation}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=x/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("incomplete HTTP response: {response:?}"),
        )
    })?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line: {head:?}"),
            )
        })?;
    Ok(RawResponse {
        status,
        body: body.to_owned(),
    })
}

/// The jar to run, installed on first use unless `DYNAMODB_LOCAL_JAR` names one.
///
/// The install script runs at most once per process, and always when no override is set, so
/// a bumped pin reaches every checkout; it returns at once when the install is current.
fn jar() -> &'static Result<PathBuf, String> {
    static JAR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    JAR.get_or_init(|| {
        if let Some(jar) = std::env::var_os("DYNAMODB_LOCAL_JAR") {
            let jar = PathBuf::from(jar);
            return if jar.is_file() {
                Ok(jar)
            } else {
                Err(format!("DYNAMODB_LOCAL_JAR={} is no file", jar.display()))
            };
        }
        let stdout = crate::supervised::install_test_deps()?;
        // The script prints the jar's path as its last line.
        let jar = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        if jar.is_file() {
            Ok(jar)
        } else {
            Err(format!(
                "scripts/install-test-deps.sh printed no jar path; it printed {stdout:?}"
            ))
        }
    })
}

/// One running JVM under its supervisor; dropping it stops the JVM.
struct Server {
    process: Supervised,
}

impl Server {
    /// Spawns DynamoDB Local on `port` and waits until it answers `ListTables`.
    ///
    /// Errs with the JVM's output when it exits before answering, which is worth a retry
    /// on another port. Panics when it stays up but never answers, which is not.
    async fn launch(jar: &Path, storage: &Storage, port: u16) -> Result<Server, String> {
        let lib = jar
            .parent()
            .expect("a jar path has a parent")
            .join("DynamoDBLocal_lib");
        let mut java = Command::new("java");
        if matches!(storage, Storage::Memory) {
            java.arg("-XX:TieredStopAtLevel=1");
        }
        // DynamoDB Local 3.x unpacks SQLite's native library from its own jar and ignores
        // this; it is what AWS documents, and what older releases need.
        java.arg(format!("-Djava.library.path={}", lib.display()))
            .arg("-jar")
            .arg(jar);
        match storage {
            Storage::Memory => java.arg("-inMemory"),
            Storage::Disk(dir) => java.arg("-dbPath").arg(dir),
        };
        java.args(["-sharedDb", "-disableTelemetry", "-port"])
            .arg(port.to_string());
        let mut server = Server {
            process: Supervised::spawn(&format!("DynamoDB Local on port {port}"), &java),
        };

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = server.process.exited() {
                return Err(format!(
                    "java exited ({status}) before answering on port {port}; its output:\n{}",
                    server.process.output()
                ));
            }
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                raw_request(addr, "ListTables", "{}"),
            )
            .await;
            if matches!(answer, Ok(Ok(RawResponse { status: 200, .. }))) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                let output = server.process.output();
                drop(server);
                panic!(
                    "DynamoDB Local did not answer on port {port} within {READY_TIMEOUT:?} \
                     (last attempt: {answer:?}); its output:\n{output}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
