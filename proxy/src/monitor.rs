//! MONITOR through the proxy: the client is sent what every shard server's MONITOR shows,
//! each server's lines in its order, as they come. A line names the connection that sent the
//! command to the server: a proxy's, for commands that came through one.

use crate::backend::{connect, read_reply};
use crate::session::{error_reply, Session};
use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use slotcache_protocol::tls::send;
use tokio::task::JoinHandle;

/// The tasks that relay the servers' MONITOR lines, stopped with the client.
#[derive(Default)]
pub struct Monitors(Vec<JoinHandle<()>>);

impl Drop for Monitors {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Session {
    /// MONITOR: a connection to every shard server in MONITOR mode; OK once all are.
    pub async fn monitor(&mut self) -> Bytes {
        let addrs = self.proxy.table.server_addrs();
        let started = join_all(addrs.iter().map(|addr| async move {
            let mut stream = connect(addr, 2).await?;
            send(&mut stream, b"*1\r\n$7\r\nMONITOR\r\n").await?;
            let mut input = BytesMut::new();
            let ok = read_reply(&mut stream, &mut input).await?;
            match ok.starts_with(b"+") {
                true => Ok((stream, input)),
                false => Err(std::io::Error::other(
                    String::from_utf8_lossy(&ok).into_owned(),
                )),
            }
        }))
        .await;
        let mut monitors = Monitors::default();
        for result in started {
            let (mut stream, mut input) = match result {
                Ok(started) => started,
                Err(err) => return error_reply(&format!("ERR MONITOR of a shard server: {err}")),
            };
            let lines = self.me.messages.clone();
            monitors.0.push(tokio::spawn(async move {
                while let Ok(line) = read_reply(&mut stream, &mut input).await {
                    if lines.send(line).is_err() {
                        return;
                    }
                }
            }));
        }
        self.monitors = Some(monitors);
        self.reply_bytes(|out| out.ok())
    }
}
