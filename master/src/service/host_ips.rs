//! The host's interface addresses, for the console's "Autodiscover" button (the
//! advertised IP of a REGISTER gateway profile, `GET /api/v2/gateway/ips`).
//!
//! Owns: reading the interface list (`getifaddrs`, the one `unsafe` block here, which
//! copies each address out before the list is freed) and putting it in the order a
//! user picks from: non-loopback IPv4 first, then global IPv6, then loopback. IPv6
//! link-local addresses (`fe80::/10`) are left out: a registrar cannot reach them
//! without a zone. Must not: ask anything outside the host (no public-address lookup).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HostIp {
    pub(crate) ip: IpAddr,
    /// `ipv4` or `ipv6`.
    pub(crate) family: &'static str,
    /// The interface's name (`eth0`, `lo`).
    pub(crate) interface: String,
    pub(crate) loopback: bool,
}

/// The host's addresses, in pick order (see the module doc), each once.
pub(crate) fn list() -> std::io::Result<Vec<HostIp>> {
    Ok(ordered(read()?))
}

/// Puts `(interface, address)` pairs in pick order, without duplicates, link-local
/// IPv6, or unspecified addresses.
pub(crate) fn ordered(raw: Vec<(String, IpAddr)>) -> Vec<HostIp> {
    let rank = |ip: &IpAddr| match ip {
        _ if ip.is_loopback() => 3,
        IpAddr::V4(_) => 0,
        IpAddr::V6(_) => 1,
    };
    let mut out: Vec<HostIp> = Vec::new();
    for (interface, ip) in raw {
        let link_local_v6 = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if ip.is_unspecified() || link_local_v6 || out.iter().any(|h| h.ip == ip) {
            continue;
        }
        out.push(HostIp {
            ip,
            family: if ip.is_ipv4() { "ipv4" } else { "ipv6" },
            interface,
            loopback: ip.is_loopback(),
        });
    }
    // Stable: the kernel's interface order stays within a rank.
    out.sort_by_key(|h| rank(&h.ip));
    out
}

/// Every `(interface, address)` of the kernel's list, IPv4 and IPv6.
#[allow(unsafe_code)]
fn read() -> std::io::Result<Vec<(String, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we own into `head` (freed below).
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed; every
        // pointer read from it is checked for null, and `ifa_addr`'s family says which
        // sockaddr it points to. Everything kept is copied out before freeifaddrs.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && !ifa.ifa_name.is_null() {
                let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                    .to_string_lossy()
                    .into_owned();
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                        out.push((name, IpAddr::V4(ip)));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push((name, IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: frees the list getifaddrs made, once; no pointer into it is kept.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_in_pick_order_without_link_local_or_duplicates() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let got = ordered(vec![
            ("lo".into(), ip("127.0.0.1")),
            ("lo".into(), ip("::1")),
            ("eth0".into(), ip("fe80::1")),
            ("eth0".into(), ip("2001:db8::5")),
            ("eth0".into(), ip("192.0.2.10")),
            ("eth1".into(), ip("10.0.0.5")),
            ("eth1".into(), ip("10.0.0.5")),
            ("x".into(), ip("0.0.0.0")),
        ]);
        let ips: Vec<String> = got.iter().map(|h| h.ip.to_string()).collect();
        assert_eq!(
            ips,
            ["192.0.2.10", "10.0.0.5", "2001:db8::5", "127.0.0.1", "::1"]
        );
        assert_eq!((got[0].family, got[0].interface.as_str()), ("ipv4", "eth0"));
        assert!(got[3].loopback && !got[0].loopback);
    }

    #[test]
    fn this_host_has_at_least_its_loopback() {
        let all = list().unwrap();
        assert!(
            all.iter().any(|h| h.ip == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{all:?}"
        );
    }
}
