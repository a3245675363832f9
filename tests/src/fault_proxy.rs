//! A TCP proxy that tests switch off or slow down, to simulate a storage backend that is
//! unreachable or slow while the real one keeps running behind it.
//!
//! It runs its own tokio runtime on its own thread, so one proxy outlives the runtimes of
//! the `#[tokio::test]`s that use it, and its switches are plain sync calls.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

#[derive(Clone, Copy)]
struct Settings {
    up: bool,
    delay: Duration,
}

/// A proxy on a loopback port in front of `upstream`; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    settings: watch::Sender<Settings>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream`, up and without delay. Panics if it cannot.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        // Bound here rather than on the proxy's thread so the address is known on return.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("cannot bind a loopback port for the fault proxy");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        listener
            .set_nonblocking(true)
            .expect("cannot make the fault proxy's listener non-blocking");
        let (settings, settings_rx) = watch::channel(Settings {
            up: true,
            delay: Duration::ZERO,
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the fault proxy's runtime");
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener)
                        .expect("cannot register the fault proxy's listener");
                    tokio::select! {
                        _ = shutdown_rx => {}
                        () = accept_loop(listener, upstream, settings_rx) => {}
                    }
                });
                // Dropping the runtime here drops every connection task, closing its sockets.
            })
            .expect("cannot spawn the fault proxy's thread");
        FaultProxy {
            addr,
            settings,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for clients that take an endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Down: open connections are closed and new ones closed as soon as accepted, so clients
    /// see the connection drop, not a timeout. Up: connections made from then on are
    /// forwarded again (closed ones stay closed).
    pub fn set_up(&self, up: bool) {
        self.settings.send_modify(|settings| settings.up = up);
    }

    /// Holds back every chunk read from upstream for `delay` before passing it on, on open
    /// and new connections alike; `Duration::ZERO` forwards at once again.
    pub fn set_delay(&self, delay: Duration) {
        self.settings.send_modify(|settings| settings.delay = delay);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    settings: watch::Receiver<Settings>,
) {
    loop {
        // Accept errors (such as running out of file descriptors) are transient: go on,
        // after a pause so as not to spin while they last.
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if settings.borrow().up {
            tokio::spawn(forward(client, upstream, settings.clone()));
        }
        // Otherwise `client` is dropped here, closing the connection.
    }
}

/// Forwards one connection until both sides are done, either side fails, or the proxy goes
/// down; dropping the sockets then closes both ends.
async fn forward(client: TcpStream, upstream: SocketAddr, mut settings: watch::Receiver<Settings>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let delays = settings.clone();
    let pipes = async move {
        tokio::try_join!(
            pipe(client_read, server_write, None),
            pipe(server_read, client_write, Some(delays)),
        )
    };
    tokio::select! {
        _ = pipes => {}
        // Also ends when the proxy is dropped, which drops the settings' sender.
        _ = settings.wait_for(|settings| !settings.up) => {}
    }
}

/// Copies `from` to `to` until end of input, then passes the end on. With `delay` set, each
/// chunk waits for the delay configured at the time it was read.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Option<watch::Receiver<Settings>>,
) -> std::io::Result<()> {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        if let Some(settings) = &delay {
            let delay = settings.borrow().delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        to.write_all(&buffer[..read]).await?;
    }
}
