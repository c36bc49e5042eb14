//! `-t un` for clients: the per-call UDP sockets of one shard (SIPp's "one socket per
//! call"), the I/O half of `port_pool`.
//!
//! Owns: binding the sockets (on the local IP, port 0) before the calls that need them
//! open, one receive task per socket (it waits with a peek, drains with recvmmsg and
//! feeds `ShardCore::handle_datagram`), picking the socket a datagram leaves from (the
//! `Transmit::flow` of a `un` call is its local port) and closing the sockets of ended
//! calls. Must not: decide which call uses which port (`ShardCore` and `PortPool` do),
//! or touch the `u1` path, which stays on the shard's one socket.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

use super::{Received, ShardCore, clock, drain_udp, mmsg, os};

/// How a shard binds its per-call sockets.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `-i` (or the unspecified address).
    pub bind_ip: IpAddr,
    /// `-buff_size` when given; else the kernel default (a call socket carries one call).
    pub buff_size: Option<usize>,
    /// This shard's share of `-max_socket`.
    pub max_sockets: usize,
}

struct Entry {
    sock: Rc<glommio::net::UdpSocket>,
    /// Dropping the task cancels it (and releases its reference to the socket).
    _task: glommio::Task<()>,
}

/// The open per-call sockets of a shard, by local port.
pub struct CallSockets {
    core: Rc<RefCell<ShardCore>>,
    settings: Settings,
    socks: HashMap<u16, Entry>,
    /// One receive buffer shared by every socket's task (tasks never hold it across an
    /// await, and a shard runs one task at a time).
    rx: Rc<RefCell<mmsg::RecvBatch>>,
    /// Tells the shard loop a task fed the core (so it sends the replies now).
    wake: Rc<LocalSender<()>>,
    closed: Vec<u16>,
}

impl CallSockets {
    /// Enables `-t un` in `core`; the receiver wakes the shard loop after each receive.
    pub fn new(
        core: Rc<RefCell<ShardCore>>,
        settings: Settings,
    ) -> (CallSockets, LocalReceiver<()>) {
        core.borrow_mut().enable_udp_per_call(settings.max_sockets);
        let (wake, woken) = local_channel::new_bounded(1);
        let s = CallSockets {
            core,
            settings,
            socks: HashMap::new(),
            rx: Rc::new(RefCell::new(mmsg::RecvBatch::default())),
            wake: Rc::new(wake),
            closed: Vec::new(),
        };
        (s, woken)
    }

    /// Binds as many sockets as the calls due at `now` need and hands their ports to the
    /// core. A bind failure (out of file descriptors, ports) is reported once, and calls
    /// then share the sockets already open.
    pub fn top_up(&mut self, now: Instant) {
        let wanted = self.core.borrow().udp_ports_wanted(now);
        for _ in 0..wanted {
            let addr = SocketAddr::new(self.settings.bind_ip, 0);
            let bound = bind(addr, self.settings.buff_size);
            match bound {
                Ok((s, port)) => {
                    let sock = Rc::new(os::into_glommio_udp(s));
                    let task = glommio::spawn_local(receive(
                        Rc::clone(&sock),
                        Rc::clone(&self.core),
                        Rc::clone(&self.rx),
                        Rc::clone(&self.wake),
                    ));
                    self.socks.insert(port, Entry { sock, _task: task });
                    self.core.borrow_mut().supply_udp_port(port);
                }
                Err(e) => {
                    self.core
                        .borrow_mut()
                        .udp_port_bind_failed(format!("cannot bind a UDP socket on {addr}: {e}"));
                    break;
                }
            }
        }
    }

    /// Per-call sockets open now.
    pub fn open_count(&self) -> usize {
        self.socks.len()
    }

    /// The socket of the call that queued a datagram (`Transmit::flow`); `None`: the
    /// shard's own socket.
    pub fn socket(&self, flow: u64) -> Option<&Rc<glommio::net::UdpSocket>> {
        let port = u16::try_from(flow).ok()?;
        self.socks.get(&port).map(|e| &e.sock)
    }

    /// Notes the sockets whose last call ended so far: call it when taking the batch to
    /// send, so their last datagrams are in that batch.
    pub fn take_ended(&mut self) {
        self.core
            .borrow_mut()
            .take_closed_udp_ports(&mut self.closed);
    }

    /// Closes the sockets noted by `take_ended`, once the batch went out. (Calls that end
    /// while it is being sent are closed after the next batch.)
    pub fn close_ended(&mut self) {
        for port in self.closed.drain(..) {
            self.socks.remove(&port);
        }
    }
}

/// A non-blocking UDP socket bound to `addr` (port 0: the kernel picks), and its port.
fn bind(addr: SocketAddr, buff_size: Option<usize>) -> std::io::Result<(socket2::Socket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(b) = buff_size {
        let _ = s.set_recv_buffer_size(b);
        let _ = s.set_send_buffer_size(b);
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let port = s
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("the bound socket has no IP address"))?;
    Ok((s, port))
}

/// One socket's receive loop: wait until a datagram is there (a peek consumes nothing),
/// take every waiting one into the core, wake the shard loop to send the replies.
async fn receive(
    sock: Rc<glommio::net::UdpSocket>,
    core: Rc<RefCell<ShardCore>>,
    rx: Rc<RefCell<mmsg::RecvBatch>>,
    wake: Rc<LocalSender<()>>,
) {
    let mut probe = [0u8; 1];
    loop {
        if sock.peek_from(&mut probe).await.is_err() {
            // Not expected on an unconnected socket; do not spin if it happens.
            glommio::timer::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let (now, wall) = clock();
        let n = drain_udp(
            &sock,
            &mut rx.borrow_mut(),
            &core,
            None,
            Received::at_once(now, wall),
        );
        if n > 0 {
            // Full: the loop is already due to wake.
            let _ = wake.try_send(());
            glommio::yield_if_needed().await;
        } else {
            // A peek said ready but nothing came (an error queued): do not spin.
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}
