//! A TCP forwarder that keeps one address while the broker behind it restarts on another port (the harness
//! starts every process on a port the kernel picks). Start the broker with `advertise: <proxy addr>` so clients
//! reconnect through the proxy, and point it at the broker after each (re)start.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A TCP forwarder on a port that stays put while the broker's changes with every restart. The broker
/// advertises the proxy, so a client keeps reconnecting through it to whichever process is running.
pub struct Proxy {
    /// Where clients connect (and what the broker advertises).
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let target = Arc::new(Mutex::new(None::<SocketAddr>));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (target, stop) = (Arc::clone(&target), Arc::clone(&stop));
            thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let to = *target.lock().expect("proxy target");
                    // No broker yet, or the old one is gone: the client sees a closed connection and retries.
                    if let Some(upstream) = to.and_then(|to| TcpStream::connect(to).ok()) {
                        pipe(client, upstream);
                    }
                }
            })
        };
        Proxy {
            addr,
            target,
            stop,
            accept: Some(accept),
        }
    }

    /// Sends new connections to `broker` (after a start or restart: [`crate::Broker::addr`]).
    pub fn point_to(&self, broker: SocketAddr) {
        *self.target.lock().expect("proxy target") = Some(broker);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Copies both ways; when either side closes, both connections close, as a direct connection would.
fn pipe(client: TcpStream, upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(client, upstream), (upstream2, client2)] {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}
