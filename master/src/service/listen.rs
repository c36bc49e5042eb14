//! `gossipper ui --listen`: the accepted forms of the listening address.
//!
//! Owns: turning `8080`, `:8080`, `HOST:8080` and `[IPv6]:8080` into the `host:port` text
//! the HTTP server binds, and the error that lists those forms. Must not: bind (the
//! server does) or resolve names.

/// What `--listen` accepts, for error messages and `--help`.
pub(crate) const FORMS: &str = "PORT (all interfaces), :PORT, HOST:PORT or [IPv6]:PORT, e.g. 8080, :8080, 127.0.0.1:8080, [::1]:8080";

fn port(flag: &str, text: &str, whole: &str) -> Result<u16, String> {
    text.parse::<u16>().map_err(|_| {
        format!("{flag} \"{whole}\": \"{text}\" is not a port (0 to 65535); use {FORMS}")
    })
}

/// The address to bind for a `--listen` value.
pub(crate) fn parse(listen: &str) -> Result<String, String> {
    parse_flag("--listen", listen)
}

/// The address to bind for the value of `flag` (`--listen`, or `gossipper server`'s
/// `-api_addr`); errors name `flag`.
pub(crate) fn parse_flag(flag: &str, listen: &str) -> Result<String, String> {
    let s = listen.trim();
    if s.is_empty() {
        return Err(format!("{flag} is empty; use {FORMS}"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("0.0.0.0:{}", port(flag, s, listen)?));
    }
    if let Some(p) = s.strip_prefix(':') {
        return Ok(format!("0.0.0.0:{}", port(flag, p, listen)?));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, p)) = rest.split_once("]:") else {
            return Err(format!(
                "{flag} \"{listen}\": an IPv6 address needs a port after \"]:\"; use {FORMS}"
            ));
        };
        return Ok(format!("[{host}]:{}", port(flag, p, listen)?));
    }
    match s.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(format!(
            "{flag} \"{listen}\": put an IPv6 address in brackets; use {FORMS}"
        )),
        Some(("", _)) | None => Err(format!(
            "{flag} \"{listen}\" is not an address with a port; use {FORMS}"
        )),
        Some((host, p)) => Ok(format!("{host}:{}", port(flag, p, listen)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_is_accepted() {
        assert_eq!(parse("8080").unwrap(), "0.0.0.0:8080");
        assert_eq!(parse(":8080").unwrap(), "0.0.0.0:8080");
        assert_eq!(parse("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert_eq!(parse("localhost:9000").unwrap(), "localhost:9000");
        assert_eq!(parse("[::1]:9000").unwrap(), "[::1]:9000");
    }

    #[test]
    fn other_forms_are_answered_with_the_accepted_ones() {
        for bad in [
            "",
            "http://x:80",
            "host",
            "::1",
            "[::1]",
            "h:99999",
            "h:x",
            ":",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("PORT") && e.contains("8080"), "{bad}: {e}");
        }
    }
}
