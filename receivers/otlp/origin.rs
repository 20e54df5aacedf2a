//! CORS `allowed_origins`: each is matched byte for byte against the `Origin` header browsers
//! send, which is `scheme://host[:port]` in lowercase with no path. An entry of any other shape
//! can never match, so it is a config error rather than a silent refusal of every browser.

/// The problem with one `allowed_origins` entry, if any.
pub fn problem(origin: &str) -> Option<String> {
    if origin == "*" {
        return None;
    }
    let expected = "expected \"*\" or scheme://host[:port] with scheme http or https and no path";
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some(format!("{expected}, found {origin:?}"));
    };
    if scheme != "http" && scheme != "https" {
        return Some(format!(
            "{expected}, found the scheme {scheme:?} in {origin:?}"
        ));
    }
    if let Some(at) = rest.find(['/', '?', '#']) {
        return Some(format!(
            "{expected}, found {:?} after the host in {origin:?} (browsers send no path)",
            &rest[at..]
        ));
    }
    let (host, port) = split_port(rest);
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Some(format!(
            "{expected}, found the port {:?} in {origin:?}",
            port.unwrap_or_default()
        ));
    }
    let bracketed_ipv6 = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok();
    let host_name = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !bracketed_ipv6 && !host_name {
        return Some(format!(
            "{expected}, found the host {host:?} in {origin:?} (browsers send it in lowercase; letters, digits, '.' and '-', or a bracketed IPv6 address)"
        ));
    }
    None
}

fn split_port(authority: &str) -> (&str, Option<&str>) {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    match authority[host_end..].strip_prefix(':') {
        Some(port) => (&authority[..host_end], Some(port)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn accepts_what_browsers_send() {
        for origin in [
            "*",
            "https://app.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "https://[::1]:8443",
        ] {
            assert_eq!(problem(origin), None, "{origin}");
        }
    }

    #[test]
    fn refuses_what_can_never_match() {
        for (origin, expected) in [
            ("not a url", "found \"not a url\""),
            ("https://x/path", "found \"/path\" after the host"),
            ("https://x/", "found \"/\" after the host"),
            ("ftp://x", "found the scheme \"ftp\""),
            ("https://", "found the host \"\""),
            ("https://App.example.com", "in lowercase"),
            ("https://x:99999", "found the port \"99999\""),
            ("app.example.com", "found \"app.example.com\""),
        ] {
            let found = problem(origin).unwrap_or_else(|| panic!("{origin} passed"));
            assert!(found.contains(expected), "{origin}: {found}");
        }
    }
}
