//! A TCP relay that can cut the link it carries: put between one process and a service (a
//! shard server and etcd), it isolates that process from the service alone while every other
//! path stays up. A cut resets the connections it carries and refuses new ones until healed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct FaultProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    /// Both ends of every connection relayed so far, to shut them on a cut (and on drop).
    open: Arc<Mutex<Vec<TcpStream>>>,
    closing: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Relays 127.0.0.1:<port> to `upstream` (host:port).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        let port = listener.local_addr().expect("local address").port();
        let proxy = FaultProxy {
            port,
            cut: Arc::default(),
            open: Arc::default(),
            closing: Arc::default(),
        };
        let (cut, open, closing) = (proxy.cut.clone(), proxy.open.clone(), proxy.closing.clone());
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if closing.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                if cut.load(Ordering::Acquire) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                relay(&client, &server, &open);
            }
        });
        proxy
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Resets every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.shut_all();
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::Release);
    }

    fn shut_all(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        self.shut_all();
        // Wakes the accepting thread so it sees `closing`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies both ways between `client` and `server` on two threads.
fn relay(client: &TcpStream, server: &TcpStream, open: &Mutex<Vec<TcpStream>>) {
    let handles = [client, server, client, server].map(|s| s.try_clone());
    let [Ok(from_client), Ok(to_server), Ok(to_client), Ok(from_server)] = handles else {
        return;
    };
    if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
        open.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([a, b]);
    }
    std::thread::spawn(move || copy(from_client, to_server));
    std::thread::spawn(move || copy(from_server, to_client));
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
