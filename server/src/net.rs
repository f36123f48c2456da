//! The RESP front: accepts connections, reads requests, runs every complete request of a read as
//! one batch under a single keyspace lock, and writes all their replies in one write.

use crate::client::{Client, ClientInfo};
use crate::dispatch::{execute, Batch};
use crate::resp::{ParseLimits, Reply, RequestParser};
use crate::state::{now_ms, Server, Stats};
use bytes::{Buf, BytesMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// Accepts clients until the listener fails.
pub async fn serve(server: Arc<Server>, listener: TcpListener) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "accepting connections");
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                // Running out of descriptors must not end the server; back off and retry.
                warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        Stats::add(&server.stats.connections_received, 1);
        let server = server.clone();
        tokio::spawn(async move {
            let laddr = stream.local_addr().unwrap_or(addr);
            if let Err(err) = handle(server, stream, addr, laddr).await {
                debug!(%addr, %err, "connection ended with an error");
            }
        });
    }
}

async fn handle(
    server: Arc<Server>,
    mut stream: TcpStream,
    addr: std::net::SocketAddr,
    laddr: std::net::SocketAddr,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (maxclients, needs_auth) = {
        let config = server.config.read();
        (config.maxclients, !config.requirepass.is_empty())
    };
    let id = server.next_client_id();
    let info = Arc::new(ClientInfo::new(id, addr, laddr));
    let admitted = {
        let mut clients = server.clients.lock();
        let room = (clients.len() as u64) < maxclients;
        if room {
            clients.insert(id, info.clone());
        }
        room
    };
    if !admitted {
        Stats::add(&server.stats.rejected_connections, 1);
        stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await?;
        return Ok(());
    }
    let mut client = Client::new(info, !needs_auth);
    let result = connection_loop(&server, &mut stream, &mut client).await;
    if !client.watched.is_empty() {
        client.unwatch_all(&mut server.keyspace.lock());
    }
    server.clients.lock().remove(&id);
    result
}

/// Reads and writes concurrently: replies that the client has not read yet stay buffered while
/// its next requests are still read and run, as Redis does, so a client that pipelines without
/// reading can never deadlock against the server.
async fn connection_loop(
    server: &Server,
    stream: &mut TcpStream,
    client: &mut Client,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.split();
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    let mut out = Reply::new(client.proto);
    let info = client.info.clone();
    loop {
        let idle_timeout = server.config.read().timeout;
        let reading = !client.close_after_reply;
        let writing = !out.buf.is_empty();
        if !reading && !writing {
            return Ok(());
        }
        let idle = async {
            if idle_timeout > 0 {
                tokio::time::sleep(Duration::from_secs(idle_timeout)).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            read = reader.read_buf(&mut input), if reading => {
                let n = read?;
                if n == 0 || info.killed.load(Ordering::Acquire) {
                    return Ok(());
                }
                Stats::add(&server.stats.net_input_bytes, n as u64);
                *info.last_interaction.lock() = std::time::Instant::now();
                run_requests(server, client, &mut parser, &mut input, &mut out);
            }
            written = writer.write(&out.buf), if writing => {
                let n = written?;
                Stats::add(&server.stats.net_output_bytes, n as u64);
                out.buf.advance(n);
                // Don't keep a huge buffer around after one big reply.
                if out.buf.is_empty() && out.buf.capacity() > 1024 * 1024 {
                    out.buf = BytesMut::with_capacity(16 * 1024);
                }
            }
            _ = info.kill_signal.notified() => return Ok(()),
            _ = idle, if !writing => return Ok(()),
        }
    }
}

/// Runs every complete request in `input` as one batch under one keyspace lock. Until the
/// client has authenticated, requests run one at a time so Redis's small pre-AUTH limits apply
/// exactly to the requests sent before AUTH.
fn run_requests(
    server: &Server,
    client: &mut Client,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    out: &mut Reply,
) {
    while !client.close_after_reply {
        let limits = ParseLimits {
            max_bulk_len: server.config.read().proto_max_bulk_len as usize,
            unauthenticated: !client.authenticated,
            ..ParseLimits::default()
        };
        let mut batch = Vec::new();
        let mut protocol_error = None;
        while !limits.unauthenticated || batch.is_empty() {
            match parser.next_request(input, &limits) {
                Ok(Some(args)) => batch.push(args),
                Ok(None) => break,
                Err(err) => {
                    protocol_error = Some(err);
                    break;
                }
            }
        }
        if batch.is_empty() && protocol_error.is_none() {
            return;
        }
        if !batch.is_empty() {
            let mut shared = Batch::for_server(server);
            {
                let mut ks = server.keyspace.lock();
                for args in &batch {
                    execute(server, client, &mut ks, out, args, &mut shared);
                    if client.close_after_reply {
                        break;
                    }
                }
            }
            shared.flush(server);
            client
                .info
                .last_command
                .store(client.last_command, Ordering::Relaxed);
        }
        if let Some(err) = protocol_error {
            out.error(&format!("ERR {err}"));
            client.close_after_reply = true;
        }
    }
}

/// Active expiry: every 1/hz seconds, sweep each database's deadlines in short slices so due
/// keys go away even when nobody reads them, without holding the keyspace lock for long.
pub async fn expiry_cycle(server: Arc<Server>) {
    loop {
        let hz = server.config.read().hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        for (_, keyspace) in server.engine.all() {
            let databases = keyspace.lock().dbs.len();
            for db in 0..databases {
                for _ in 0..10 {
                    let mut ks = keyspace.lock();
                    let Some(db) = ks.dbs.get_mut(db) else { break };
                    if db.volatile_len() == 0 {
                        break;
                    }
                    if db.expire_sweep(now_ms(), Duration::from_millis(1)) == 0 {
                        break;
                    }
                }
            }
        }
    }
}
