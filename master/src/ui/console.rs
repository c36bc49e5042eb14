//! The embedded web console: static files from `assets/console/`, compiled into the
//! binary with `include_bytes!`, so `cargo build` alone yields a complete master.
//!
//! Owns: the table of embedded files and the URL → file mapping (`/` is `index.html`;
//! `/assets/<f>` and `/console/<f>` are files of the table). To add a file, add one line
//! to [`FILES`]. Must not: read the disk at run time.

/// (path under `assets/console/`, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[(
    "index.html",
    "text/html; charset=utf-8",
    include_bytes!("../../../assets/console/index.html"),
)];

/// The embedded file for a URL path, with its content type.
pub(crate) fn asset(url_path: &str) -> Option<(&'static str, &'static [u8])> {
    let name = match url_path {
        "/" | "/index.html" | "/console" | "/console/" => "index.html",
        p => p
            .strip_prefix("/assets/")
            .or_else(|| p.strip_prefix("/console/"))?,
    };
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| (*ct, *body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_serves_the_embedded_index() {
        let (ct, body) = asset("/").unwrap();
        assert!(ct.starts_with("text/html"));
        assert!(String::from_utf8_lossy(body).contains("gossipper console"));
        assert_eq!(asset("/console/index.html").map(|a| a.1), Some(body));
    }

    #[test]
    fn unknown_and_traversal_paths_are_not_found() {
        assert!(asset("/assets/../Cargo.toml").is_none());
        assert!(asset("/assets/nope.js").is_none());
        assert!(asset("/etc/passwd").is_none());
    }
}
