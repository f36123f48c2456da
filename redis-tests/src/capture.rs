//! A packet capture on the loopback interface (an `AF_PACKET` socket, so root, as the fault
//! tests are): the TCP segments that crossed it, for tests that check what a link carries.
//! Written here rather than driving tcpdump, which Debian's base system lacks.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One TCP segment seen on loopback (each is seen twice: sent and received).
pub struct Segment {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl Segment {
    /// Whether either end of the segment's connection is `port`.
    pub fn touches(&self, port: u16) -> bool {
        self.src_port == port || self.dst_port == port
    }

    pub fn contains(&self, needle: &[u8]) -> bool {
        self.payload.windows(needle.len()).any(|w| w == needle)
    }
}

/// A capture running on a thread of its own until [`Capture::finish`].
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Segment>>>,
}

struct Socket(libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

const ETH_P_ALL: u16 = 0x0003;
const ETH_HEADER: usize = 14;

impl Capture {
    pub fn start() -> io::Result<Capture> {
        let protocol = ETH_P_ALL.to_be();
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = Socket(fd);
        let index = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = index as i32;
        let bound = unsafe {
            libc::bind(
                fd,
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        let buffer: libc::c_int = 32 << 20;
        unsafe {
            let set = |option, value: *const libc::c_void, len| {
                libc::setsockopt(fd, libc::SOL_SOCKET, option, value, len as u32)
            };
            set(
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>(),
            );
            set(
                libc::SO_RCVBUF,
                (&buffer as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>(),
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            // The whole socket moves here, so it closes when the capture ends, not before.
            let socket = socket;
            let mut segments = Vec::new();
            let mut frame = vec![0u8; 1 << 17];
            // Once stopped, what is queued is still read, without waiting for more.
            loop {
                let stopping = stopped.load(Ordering::Relaxed);
                let flags = if stopping { libc::MSG_DONTWAIT } else { 0 };
                let buffer = frame.as_mut_ptr().cast();
                let len = unsafe { libc::recv(socket.0, buffer, frame.len(), flags) };
                if len > 0 {
                    segments.extend(tcp_segment(&frame[..len as usize]));
                } else if stopping {
                    return segments;
                }
            }
        });
        Ok(Capture {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the capture; what it saw.
    pub fn finish(mut self) -> Vec<Segment> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("a running capture");
        thread.join().unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The TCP segment in an Ethernet frame carrying IPv4, if that is what it is.
fn tcp_segment(frame: &[u8]) -> Option<Segment> {
    let ip = frame.get(ETH_HEADER..)?;
    if frame.get(12..14)? != [0x08, 0x00] || ip.first()? >> 4 != 4 || *ip.get(9)? != 6 {
        return None;
    }
    let header = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let tcp = ip.get(header..total.min(ip.len()))?;
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    Some(Segment {
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        payload: tcp.get(offset..)?.to_vec(),
    })
}
