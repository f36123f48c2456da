//! A slow link between hosts, for the fault tests: this machine's kernel has no `netem`, so a
//! host in between relays TCP and holds every chunk it relays for a fixed delay each way
//! (order kept, nothing lost or reordered; loss is nftables' job).
//!
//! `slow-link --delay-ms 50 LISTEN=TARGET...` listens on each `LISTEN` address and relays
//! every connection to its `TARGET`. The link starts fast: SIGUSR1 turns the delay on, SIGUSR2
//! off, so a test can slow a link without its clients reconnecting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight one way before the reader waits: bounds what a fast sender can queue.
const IN_FLIGHT: usize = 1024;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (delay_ms, routes) = match args.as_slice() {
        [flag, ms, routes @ ..] if flag == "--delay-ms" && !routes.is_empty() => {
            (ms.parse::<u64>().expect("--delay-ms: milliseconds"), routes)
        }
        _ => panic!("usage: slow-link --delay-ms MS LISTEN=TARGET..."),
    };
    let delay = Arc::new(AtomicU64::new(0));
    for route in routes {
        let (listen, target) = route.split_once('=').expect("LISTEN=TARGET");
        let listener = TcpListener::bind(listen).await.expect("binding");
        tokio::spawn(relay_all(listener, target.to_string(), delay.clone()));
    }
    let (mut slow, mut fast) = (
        signal(SignalKind::user_defined1()).expect("SIGUSR1"),
        signal(SignalKind::user_defined2()).expect("SIGUSR2"),
    );
    loop {
        tokio::select! {
            _ = slow.recv() => delay.store(delay_ms, Ordering::Relaxed),
            _ = fast.recv() => delay.store(0, Ordering::Relaxed),
        }
    }
}

async fn relay_all(listener: TcpListener, target: String, delay: Arc<AtomicU64>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let (target, delay) = (target.clone(), delay.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                one_way(client_read, server_write, delay.clone()),
                one_way(server_read, client_write, delay),
            );
        });
    }
}

/// Relays `from` to `to`, each chunk written `delay` after it was read; an end or an error
/// on either side ends this direction (and shuts `to`'s writing down, as a FIN would).
async fn one_way(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Arc<AtomicU64>) {
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reading = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read @ 1..) = from.read(&mut buffer).await {
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::Relaxed));
            if sender.send((due, buffer[..read].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}
