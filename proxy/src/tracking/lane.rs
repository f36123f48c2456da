//! The shard-server side of a tracking client's own lanes: each lane turns tracking on at its
//! server as the client asked, and passes the server's invalidation messages on to the
//! client. A RESP3 lane gets them in-band, between its replies. A RESP2 connection cannot
//! carry them, so a RESP2 lane opens a RESP3 listener connection beside it and has its server
//! redirect them there.

use crate::backend::{connect, read_reply};
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use slotcache_protocol::resp::request::encode;
use slotcache_protocol::tls::{send, Stream};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message from a shard server for the client (a RESP3 push frame).
pub struct Push {
    pub frame: Bytes,
    /// The shard server it came from.
    pub from: Arc<str>,
    /// It came while a request was waiting for its reply: Redis would have written it first.
    pub before_reply: bool,
}

/// Where the shard servers' messages for one client arrive. The channel is made the first
/// time the client turns tracking on: most never do, and an idle connection costs less.
#[derive(Default)]
pub struct PushChannel {
    ends: Option<(mpsc::UnboundedSender<Push>, mpsc::UnboundedReceiver<Push>)>,
}

impl PushChannel {
    pub fn sender(&mut self) -> mpsc::UnboundedSender<Push> {
        self.ends
            .get_or_insert_with(mpsc::unbounded_channel)
            .0
            .clone()
    }

    pub fn try_recv(&mut self) -> Option<Push> {
        self.ends.as_mut()?.1.try_recv().ok()
    }

    /// The next message; never, while tracking was never on.
    pub async fn recv(&mut self) -> Option<Push> {
        match &mut self.ends {
            Some((_, receiver)) => receiver.recv().await,
            None => std::future::pending().await,
        }
    }
}

/// The message that drops a client's whole cache: a flush, or a lost connection whose
/// server-side tracking is gone with it.
const FLUSH: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";

impl Push {
    pub fn flush(from: Arc<str>) -> Push {
        Push {
            frame: Bytes::from_static(FLUSH),
            from,
            before_reply: false,
        }
    }
}

/// What a tracking client's lanes share.
pub struct LaneTracking {
    /// The client's CLIENT TRACKING ON requests so far, without REDIRECT: a new lane
    /// replays them.
    pub commands: Mutex<Vec<Vec<Bytes>>>,
    pub pushes: mpsc::UnboundedSender<Push>,
}

/// A RESP2 lane's listener connection: its client id at the server, and the task reading it
/// (stopped with the lane).
pub struct Listener {
    pub id: i64,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CLIENT TRACKING `args`, redirected to `listener` if given.
pub fn tracking_request(args: &[Bytes], listener: Option<i64>) -> Bytes {
    match listener {
        None => encode(args),
        Some(id) => {
            let mut args = args.to_vec();
            args.push(Bytes::from_static(b"REDIRECT"));
            args.push(Bytes::from(id.to_string()));
            encode(&args)
        }
    }
}

impl LaneTracking {
    /// Turns tracking on at a new lane's connection as the client asked so far.
    pub async fn start(
        &self,
        mut stream: Stream,
        addr: &str,
        resp: u8,
    ) -> std::io::Result<(Stream, Option<Listener>)> {
        let listener = match resp {
            2 => Some(self.listen(addr).await?),
            _ => None,
        };
        let commands = self.commands.lock().clone();
        let mut input = BytesMut::new();
        for args in &commands {
            let request = tracking_request(args, listener.as_ref().map(|l| l.id));
            send(&mut stream, &request).await?;
            read_reply(&mut stream, &mut input).await?;
        }
        Ok((stream, listener))
    }

    /// Opens a RESP3 connection that receives a RESP2 lane's invalidation messages.
    async fn listen(&self, addr: &str) -> std::io::Result<Listener> {
        let mut stream = connect(addr, 3).await?;
        send(&mut stream, b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n").await?;
        let mut input = BytesMut::new();
        let reply = read_reply(&mut stream, &mut input).await?;
        let id = std::str::from_utf8(&reply)
            .ok()
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.trim_end().parse::<i64>().ok())
            .ok_or_else(|| std::io::Error::other("CLIENT ID refused"))?;
        let pushes = self.pushes.clone();
        let from: Arc<str> = addr.into();
        let task = tokio::spawn(async move {
            loop {
                match read_reply(&mut stream, &mut input).await {
                    Ok(frame) if frame.starts_with(b">") => {
                        let _ = pushes.send(Push {
                            frame,
                            from: from.clone(),
                            before_reply: false,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = pushes.send(Push::flush(from));
                        return;
                    }
                }
            }
        });
        Ok(Listener { id, task })
    }
}
