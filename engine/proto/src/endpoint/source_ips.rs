//! `-t ui`: each client call leaves from the IP address of its injection row
//! (`-ip_field`, default field 0), as SIPp's "one socket per IP address" does.
//!
//! Owns: the run's distinct source addresses (in first-seen order: the shell binds one
//! socket per address, the same port as the shard's, in this order) and which one a call
//! uses. Must not: bind anything, or read the injection file (its rows come parsed).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::call::inject::InjectFile;
use crate::rng::Rng;

/// The most distinct source addresses a run may name (one socket each, per shard).
pub const MAX_SOURCE_IPS: usize = 4096;

/// `Transmit::flow` of a datagram that leaves from a per-IP socket: this bit and the
/// address's index. Call numbers (the flow of other calls) never reach bit 63.
pub const PER_IP_FLOW: u64 = 1 << 63;

/// The addresses of one run's injection field.
#[derive(Clone, Debug)]
pub struct SourceIps {
    field: usize,
    ips: Vec<IpAddr>,
    index: HashMap<IpAddr, u32>,
}

impl SourceIps {
    /// Every row's field `field` of `file`, each an IP address of `family` (IPv4 when the
    /// shard's socket is). The error names the row (its data line, 1-based), the field
    /// and the value.
    pub fn of(file: &InjectFile, field: usize, ipv6: bool) -> Result<SourceIps, String> {
        let mut ips = Vec::new();
        let mut index = HashMap::new();
        for (row, _) in file.rows.iter().enumerate() {
            let text = file.field(row, field).ok_or_else(|| {
                format!(
                    "{}: data line {} has no field {field} (-ip_field)",
                    file.name,
                    row + 1
                )
            })?;
            let text = String::from_utf8_lossy(text);
            let ip: IpAddr = text.trim().parse().map_err(|_| {
                format!(
                    "{}: data line {}, field {field} (-ip_field): \"{text}\" is not an IP address",
                    file.name,
                    row + 1
                )
            })?;
            if ip.is_ipv6() != ipv6 {
                return Err(format!(
                    "{}: data line {}, field {field} (-ip_field): {ip} is not an {} address like the local one",
                    file.name,
                    row + 1,
                    if ipv6 { "IPv6" } else { "IPv4" }
                ));
            }
            let next = ips.len();
            if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(ip) {
                if next == MAX_SOURCE_IPS {
                    return Err(format!(
                        "{}: more than {MAX_SOURCE_IPS} distinct addresses in field {field} (-ip_field)",
                        file.name
                    ));
                }
                slot.insert(next as u32);
                ips.push(ip);
            }
        }
        Ok(SourceIps { field, ips, index })
    }

    /// The distinct addresses, in the order their sockets are bound.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.ips
    }

    /// The address (and its index) call `number` of user `user` leaves from: its row's
    /// field, the row picked as `[fieldN]` picks it.
    pub fn for_call(&self, file: &InjectFile, number: u64, user: u64) -> Option<(IpAddr, u32)> {
        let row = file.row_for(number, user, &mut Rng::new(number));
        let text = file.field(row, self.field)?;
        let ip: IpAddr = std::str::from_utf8(text).ok()?.trim().parse().ok()?;
        self.index.get(&ip).map(|i| (ip, *i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> InjectFile {
        InjectFile::parse("ips.csv", text.as_bytes()).unwrap()
    }

    #[test]
    fn each_call_takes_its_rows_address_and_addresses_are_listed_once() {
        let f = file("SEQUENTIAL\n127.0.0.2;alice\n127.0.0.3;bob\n127.0.0.2;carol\n");
        let s = SourceIps::of(&f, 0, false).unwrap();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(s.addresses(), [a, b]);
        assert_eq!(s.for_call(&f, 1, 0), Some((a, 0)));
        assert_eq!(s.for_call(&f, 2, 0), Some((b, 1)));
        assert_eq!(s.for_call(&f, 3, 0), Some((a, 0)));
        assert_eq!(s.for_call(&f, 4, 0), Some((a, 0)), "rows cycle");
        let by_field = SourceIps::of(&file("SEQUENTIAL\nx;10.0.0.1\n"), 1, false).unwrap();
        assert_eq!(
            by_field.addresses(),
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn a_row_that_is_not_an_address_of_the_right_family_is_refused_naming_it() {
        let e = SourceIps::of(&file("SEQUENTIAL\n127.0.0.2\nbob\n"), 0, false).unwrap_err();
        assert!(e.contains("data line 2") && e.contains("\"bob\""), "{e}");
        let e = SourceIps::of(&file("SEQUENTIAL\n127.0.0.2\n"), 3, false).unwrap_err();
        assert!(e.contains("no field 3"), "{e}");
        let e = SourceIps::of(&file("SEQUENTIAL\n::1\n"), 0, false).unwrap_err();
        assert!(e.contains("not an IPv4 address"), "{e}");
        assert!(SourceIps::of(&file("SEQUENTIAL\n::1\n"), 0, true).is_ok());
    }
}
