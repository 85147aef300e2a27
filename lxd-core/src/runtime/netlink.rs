//! The few route-netlink requests the monitor makes itself, synchronously and without a
//! runtime: listing a namespace's interfaces, moving one to another namespace (renamed), and
//! setting one up. The monitor carries a container's nics over a reboot and hands physical
//! nics back to the host with these; everything else about networks is lxd-net's.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sched::{setns, CloneFlags};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
/// Size of `struct nlmsghdr`.
const NLMSG_HDR: usize = 16;
/// Size of `struct ifinfomsg`.
const IFINFO: usize = 16;

/// An interface of a network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub index: i32,
    /// Its name.
    pub name: String,
}

/// A route-netlink socket, bound to the network namespace it was opened in.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Rtnl {
    /// Opens a socket in the current network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Opens a socket in the network namespace `netns`, returning to `own` afterwards (the
    /// calling thread must be the process's only one, as in the monitor).
    pub fn open_in(netns: BorrowedFd<'_>, own: BorrowedFd<'_>) -> io::Result<Self> {
        setns(netns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let sock = Rtnl::open();
        setns(own, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        sock
    }

    fn send(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
        msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: sockaddr_nl is plain data; zeroed means "the kernel".
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg and addr outlive the call, and their lengths are passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Reads replies to `seq`, handing each message's payload (after the header) to `each`,
    /// until the final ack or `NLMSG_DONE`.
    fn replies(&mut self, seq: u32, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: buf is valid for its length for the duration of the call.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let data = &buf[..n as usize];
            let mut at = 0;
            while at + NLMSG_HDR <= data.len() {
                let len = u32_at(data, at) as usize;
                if len < NLMSG_HDR || at + len > data.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let kind = u16_at(data, at + 4);
                let msg_seq = u32_at(data, at + 8);
                let payload = &data[at + NLMSG_HDR..at + len];
                at += align4(len);
                if msg_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code =
                            i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    _ => each(payload),
                }
            }
        }
    }

    /// The namespace's interfaces.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let body = [0u8; IFINFO];
        let seq = self.send(RTM_GETLINK, NLM_F_DUMP, &body)?;
        let mut out = Vec::new();
        self.replies(seq, |p| {
            if p.len() < IFINFO {
                return;
            }
            let index = i32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
            let mut at = IFINFO;
            while at + 4 <= p.len() {
                let len = u16_at(p, at) as usize;
                if len < 4 || at + len > p.len() {
                    break;
                }
                if u16_at(p, at + 2) == IFLA_IFNAME {
                    let raw = &p[at + 4..at + len];
                    let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
                    out.push(Link {
                        index,
                        name: String::from_utf8_lossy(raw).into_owned(),
                    });
                    break;
                }
                at += align4(len);
            }
        })?;
        Ok(out)
    }

    /// The index of the interface called `name`, if there is one.
    pub fn index_of(&mut self, name: &str) -> io::Result<Option<i32>> {
        Ok(self
            .links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index))
    }

    /// Changes interface `index`: moves it to the namespace `netns` (a namespace file
    /// descriptor), renames it, and sets it up or down; `None` leaves that part alone.
    pub fn set_link(
        &mut self,
        index: i32,
        netns: Option<RawFd>,
        name: Option<&str>,
        up: Option<bool>,
    ) -> io::Result<()> {
        let mut body = Vec::with_capacity(64);
        body.push(libc::AF_UNSPEC as u8);
        body.push(0);
        body.extend_from_slice(&0u16.to_ne_bytes());
        body.extend_from_slice(&index.to_ne_bytes());
        let (flags, change) = match up {
            Some(true) => (libc::IFF_UP as u32, libc::IFF_UP as u32),
            Some(false) => (0, libc::IFF_UP as u32),
            None => (0, 0),
        };
        body.extend_from_slice(&flags.to_ne_bytes());
        body.extend_from_slice(&change.to_ne_bytes());
        if let Some(fd) = netns {
            push_attr(&mut body, IFLA_NET_NS_FD, &(fd as u32).to_ne_bytes());
        }
        if let Some(n) = name {
            let mut raw = n.as_bytes().to_vec();
            raw.push(0);
            push_attr(&mut body, IFLA_IFNAME, &raw);
        }
        let seq = self.send(RTM_NEWLINK, NLM_F_ACK, &body)?;
        self.replies(seq, |_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded() {
        let mut b = Vec::new();
        push_attr(&mut b, IFLA_IFNAME, b"eth0\0");
        assert_eq!(b.len(), 12);
        assert_eq!(u16_at(&b, 0), 9);
        assert_eq!(u16_at(&b, 2), IFLA_IFNAME);
    }

    #[test]
    fn lists_the_loopback_of_this_namespace() {
        let mut nl = Rtnl::open().expect("netlink socket");
        let links = nl.links().expect("dump links");
        assert!(
            links.iter().any(|l| l.name == "lo" && l.index == 1),
            "{links:?}"
        );
        assert_eq!(nl.index_of("lo").unwrap(), Some(1));
        assert_eq!(nl.index_of("no-such-if0").unwrap(), None);
    }
}
