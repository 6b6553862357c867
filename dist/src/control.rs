//! The package's `DEBIAN/control` file.

use crate::{PACKAGE, VERSION};

/// Who answers for the package.
pub const MAINTAINER: &str = "anchor maintainers <maintainers@anchor.invalid>";

/// The control file for `architecture` (`dpkg --print-architecture`), an installed size in KiB
/// and the binary's highest glibc symbol version (`(2, 34)`: `libc6 (>= 2.34)`).
pub fn control(architecture: &str, installed_size_kib: u64, glibc: Option<(u32, u32)>) -> String {
    let libc = match glibc {
        Some((major, minor)) => format!("libc6 (>= {major}.{minor})"),
        None => "libc6".to_owned(),
    };
    format!(
        "Package: {PACKAGE}\n\
         Version: {VERSION}\n\
         Architecture: {architecture}\n\
         Maintainer: {MAINTAINER}\n\
         Installed-Size: {installed_size_kib}\n\
         Depends: {libc}, libgcc-s1\n\
         Suggests: bird2, strongswan-charon, strongswan-swanctl, libstrongswan-standard-plugins\n\
         Section: net\n\
         Priority: optional\n\
         Description: per-/64 mobility anchor for IPv6 routers, with an XDP data plane\n \
         anchor anchors the /64 prefixes an access router delegates and keeps\n \
         anchoring them after a mobile node moves away (RFC 8818 distributed\n \
         mobility management): its XDP program tunnels a prefix's traffic to\n \
         the router now serving the node. `anchor run` is the router's daemon\n \
         (optionally a MAAR of RFC 8885), `anchor cmd` the central mobility\n \
         database; both come with systemd units. Sample configurations\n \
         (anchor, CMD, strongSwan, BIRD) are in /usr/share/doc/anchor.\n"
    )
}

/// The highest `GLIBC_X.Y` symbol version named in an ELF binary (in its `.dynstr`), which the
/// dynamic loader requires of libc.
pub fn glibc_needed(binary: &[u8]) -> Option<(u32, u32)> {
    const TAG: &[u8] = b"GLIBC_";
    let mut highest = None;
    let mut rest = binary;
    while let Some(at) = rest.windows(TAG.len()).position(|w| w == TAG) {
        rest = &rest[at + TAG.len()..];
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        let Ok(text) = std::str::from_utf8(&rest[..end]) else {
            continue;
        };
        let Some((major, minor)) = text.split_once('.') else {
            continue;
        };
        // `GLIBC_2.2.5` counts as 2.2; `GLIBC_PRIVATE` is not a version.
        let minor = minor.split('.').next().unwrap_or(minor);
        if let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) {
            highest = highest.max(Some((major, minor)));
        }
    }
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_file() {
        let text = control("amd64", 12345, Some((2, 34)));
        let fields: Vec<&str> = text.lines().filter(|line| !line.starts_with(' ')).collect();
        assert_eq!(
            fields,
            [
                "Package: anchor",
                &format!("Version: {VERSION}"),
                "Architecture: amd64",
                "Maintainer: anchor maintainers <maintainers@anchor.invalid>",
                "Installed-Size: 12345",
                "Depends: libc6 (>= 2.34), libgcc-s1",
                "Suggests: bird2, strongswan-charon, strongswan-swanctl, libstrongswan-standard-plugins",
                "Section: net",
                "Priority: optional",
                "Description: per-/64 mobility anchor for IPv6 routers, with an XDP data plane",
            ]
        );
        // The long description: 7 lines of one leading space, none blank, none over 80.
        let long: Vec<&str> = text.lines().filter(|line| line.starts_with(' ')).collect();
        assert_eq!(long.len(), 7);
        assert!(
            long.iter()
                .all(|l| !l[1..].starts_with(' ') && l.len() <= 80 && l.len() > 1)
        );
        assert!(text.ends_with("/usr/share/doc/anchor.\n"));
        assert!(control("arm64", 1, None).contains("\nDepends: libc6, libgcc-s1\n"));
    }

    #[test]
    fn glibc_version() {
        let dynstr =
            b"\0libc.so.6\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_PRIVATE\0GLIBC_2.9\0GLIBC_2.3.4\0";
        assert_eq!(glibc_needed(dynstr), Some((2, 34)));
        assert_eq!(glibc_needed(b"\0GLIBC_PRIVATE\0"), None);
        assert_eq!(glibc_needed(b"no libc here"), None);
    }
}
