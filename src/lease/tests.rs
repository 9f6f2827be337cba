#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::model::Lease;

/// The lease the lab's dhclient (4.4.3, from dnsmasq in labpeer) wrote, byte for byte.
pub(crate) const LAB_LEASE: &str = r#"lease {
  interface "labdh0";
  fixed-address 192.168.79.10;
  option subnet-mask 255.255.255.0;
  option routers 192.168.79.1;
  option dhcp-lease-time 3600;
  option dhcp-message-type 5;
  option domain-name-servers 192.168.79.1,192.168.79.53;
  option dhcp-server-identifier 192.168.79.1;
  option domain-search "dh0.lab.test.", "search.lab.test.";
  option dhcp-renewal-time 1800;
  option broadcast-address 192.168.79.255;
  option dhcp-rebinding-time 3150;
  option host-name "labclient-dh0";
  option domain-name "dh0.lab.test";
  renew 6 2026/11/28 01:54:56;
  rebind 6 2026/11/28 02:24:44;
  expire 6 2026/11/28 02:32:14;
}
"#;

/// A DHCPv6 lease as `write_client6_lease` writes it, with the DUID line dhclient puts first.
const LEASE6: &str = r#"default-duid "\000\001\000\001,\336\3558RT\000\0224V";
lease6 {
  interface "eth0";
  ia-na 1e:a5:c2:3d {
    starts 1700000000;
    renew 1800;
    rebind 2880;
    iaaddr 2001:db8::10 {
      starts 1700000000;
      preferred-life 3600;
      max-life 7200;
    }
  }
  option dhcp6.client-id 0:1:0:1:2c:de:ed:38:52:54:0:12:34:56;
  option dhcp6.name-servers 2001:db8::1,2001:db8::2;
  option dhcp6.domain-search "example.com.";
}
"#;

fn ok(text: &str) -> Vec<Lease> {
    match parse(text) {
        Ok(leases) => leases,
        Err(e) => panic!("expected {text:?} to parse, got {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(leases) => panic!("expected {text:?} to fail, got {leases:?}"),
        Err(e) => e,
    }
}

fn one(text: &str) -> Lease {
    let mut leases = ok(text);
    assert_eq!(leases.len(), 1, "{leases:?}");
    leases.remove(0)
}

/// A minimal block for `interface` with `body` inside.
fn block(interface: &str, body: &str) -> String {
    format!("lease {{\n  interface \"{interface}\";\n{body}}}\n")
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

// ---- the parser ----

#[test]
fn lab_lease() {
    let lease = one(LAB_LEASE);
    assert_eq!(lease.interface, "labdh0");
    assert_eq!(lease.address, Some(v4("192.168.79.10")));
    assert_eq!(lease.prefix_len, Some(24));
    assert_eq!(lease.routers, vec![v4("192.168.79.1")]);
    assert_eq!(
        lease.dns,
        vec![
            IpAddr::V4(v4("192.168.79.1")),
            IpAddr::V4(v4("192.168.79.53"))
        ]
    );
    assert_eq!(lease.domain_name.as_deref(), Some("dh0.lab.test"));
    assert_eq!(lease.domain_search, ["dh0.lab.test", "search.lab.test"]);
    assert_eq!(lease.host_name.as_deref(), Some("labclient-dh0"));
    assert_eq!(lease.mtu, None);
    assert_eq!(lease.renew, Some(1_795_830_896));
    assert_eq!(lease.rebind, Some(1_795_832_684));
    assert_eq!(lease.expire, Some(1_795_833_134));
    // Every option verbatim, quotes removed from a lone string, lists as written.
    assert_eq!(lease.options.len(), 12);
    assert_eq!(lease.options["dhcp-lease-time"], "3600");
    assert_eq!(
        lease.options["domain-name-servers"],
        "192.168.79.1,192.168.79.53"
    );
    assert_eq!(
        lease.options["domain-search"],
        r#""dh0.lab.test.", "search.lab.test.""#
    );
    assert_eq!(lease.options["host-name"], "labclient-dh0");
    assert_eq!(lease.options["domain-name"], "dh0.lab.test");
    assert_eq!(lease.options["subnet-mask"], "255.255.255.0");
}

#[test]
fn appended_blocks_for_two_interfaces_stay_in_file_order() {
    let text = format!(
        "{}{}{}",
        block(
            "eth0",
            "  fixed-address 10.0.0.2;\n  expire 1 2030/01/07 00:00:00;\n"
        ),
        block(
            "eth1",
            "  fixed-address 10.1.0.2;\n  expire 1 2030/01/07 00:00:00;\n"
        ),
        block(
            "eth0",
            "  fixed-address 10.0.0.3;\n  expire 2 2030/01/08 00:00:00;\n"
        ),
    );
    let leases = ok(&text);
    let seen: Vec<(&str, Option<Ipv4Addr>)> = leases
        .iter()
        .map(|l| (l.interface.as_str(), l.address))
        .collect();
    assert_eq!(
        seen,
        [
            ("eth0", Some(v4("10.0.0.2"))),
            ("eth1", Some(v4("10.1.0.2"))),
            ("eth0", Some(v4("10.0.0.3"))),
        ]
    );
}

#[test]
fn interface_mtu_is_not_the_interface() {
    // The original matched "interface" anywhere in a line and took `interface-mtu` for the
    // interface (EC2 sends option 26).
    let lease = one(&block("eth0", "  option interface-mtu 9001;\n"));
    assert_eq!(lease.interface, "eth0");
    assert_eq!(lease.mtu, Some(9001));
    assert_eq!(lease.options["interface-mtu"], "9001");
    // Even when it comes first.
    let lease = one("lease {\n  option interface-mtu 1500;\n  interface \"ens5\";\n}\n");
    assert_eq!((lease.interface.as_str(), lease.mtu), ("ens5", Some(1500)));
    assert_eq!(err(&block("eth0", "  option interface-mtu big;\n")).line, 3);
}

#[test]
fn host_name_is_the_value_not_the_keyword() {
    let lease = one(&block("eth0", "  option host-name \"web-1\";\n"));
    assert_eq!(lease.host_name.as_deref(), Some("web-1"));
}

#[test]
fn domain_search_loses_quotes_and_trailing_dots() {
    let lease = one(&block(
        "eth0",
        "  option domain-search \"a.example.\", \"b.example\",\"c.\";\n",
    ));
    assert_eq!(lease.domain_search, ["a.example", "b.example", "c"]);
    // An empty name (or a lone root) says nothing.
    let lease = one(&block("eth0", "  option domain-search \".\", \"\";\n"));
    assert!(lease.domain_search.is_empty());
}

#[test]
fn dates_in_every_form() {
    let lease = one(&block(
        "eth0",
        "  renew 2 2023/11/14 22:13:20;\n  rebind epoch 1700000100; # Tue Nov 14 22:15:00 2023\n  expire never;\n",
    ));
    assert_eq!(lease.renew, Some(1_700_000_000));
    assert_eq!(lease.rebind, Some(1_700_000_100));
    assert_eq!(lease.expire, None);
    // No expire at all: never expires either.
    assert_eq!(one(&block("eth0", "")).expire, None);

    for (body, line) in [
        ("  renew 6 2026/13/28 01:54:56;\n", 3),
        ("  renew 6 2026/11/28;\n", 3),
        ("  renew 7 2026/11/28 01:54:56;\n", 3),
        ("  renew epoch soon;\n", 3),
        ("  renew sometime;\n", 3),
        ("  renew 6 2026/11/28 01:54:56\n  rebind never;\n", 4),
        ("  expire\n  never never;\n", 4),
    ] {
        let e = err(&block("eth0", body));
        assert_eq!(e.line, line, "{body:?}: {e}");
    }
}

#[test]
fn other_statements_are_read_and_ignored() {
    let lease = one(r#"lease {
  bootp;
  interface "eth0";
  name "uplink";
  fixed-address 10.0.0.2;
  filename "pxelinux.0";
  server-name "boot.example";
  medium "media 10baseT/UTP";
  vendor-option-space vendor;
  alias { fixed-address 10.0.0.9; option subnet-mask 255.255.255.255; }
  future-statement 1 2 "three", four;
  option vendor-encapsulated-options 1:4:c0:a8:1:1;
  option rfc3442-classless-static-routes 24,192,168,2,192,168,1,1;
  option unknown-245 "\001\002";
  option agent.circuit-id "port 7";
}
"#);
    assert_eq!(lease.interface, "eth0");
    assert_eq!(lease.address, Some(v4("10.0.0.2")));
    assert_eq!(lease.prefix_len, None);
    assert_eq!(
        lease.options["vendor-encapsulated-options"],
        "1:4:c0:a8:1:1"
    );
    assert_eq!(
        lease.options["rfc3442-classless-static-routes"],
        "24,192,168,2,192,168,1,1"
    );
    assert_eq!(lease.options["unknown-245"], "\u{1}\u{2}");
    assert_eq!(lease.options["agent.circuit-id"], "port 7");
}

#[test]
fn escapes_in_strings() {
    let lease = one(&block(
        "eth0",
        "  option host-name \"a\\\"b\\\\c\\$d\";\n  option domain-name \"caf\\303\\251.example\";\n  option root-path \"bad\\377\";\n",
    ));
    assert_eq!(lease.host_name.as_deref(), Some("a\"b\\c$d"));
    // dhclient writes non-printable bytes in octal; UTF-8 comes back whole...
    assert_eq!(lease.domain_name.as_deref(), Some("café.example"));
    // ...and a stray byte as U+FFFD rather than an error.
    assert_eq!(lease.options["root-path"], "bad\u{FFFD}");
    assert_eq!(
        err(&block("eth0", "  option host-name \"\\400\";\n")).line,
        3
    );
}

#[test]
fn lease6_is_validated_and_skipped() {
    // Alone: nothing.
    assert!(ok(LEASE6).is_empty());
    // Between v4 leases: they are unaffected.
    let text = format!("{LAB_LEASE}{LEASE6}{}", block("eth1", ""));
    let interfaces: Vec<String> = ok(&text).into_iter().map(|l| l.interface).collect();
    assert_eq!(interfaces, ["labdh0", "eth1"]);
    // A half-written lease6 is an error at its first line like any other block.
    let cut = LEASE6.find("max-life").unwrap();
    let e = err(&LEASE6[..cut]);
    assert_eq!(e.line, 2);
    assert!(e.message.contains("`lease6` block is not closed"), "{e}");
}

#[test]
fn blocks_without_interface_are_dropped() {
    assert!(ok("lease {\n  fixed-address 10.0.0.2;\n}\n").is_empty());
    assert!(ok("lease { interface \"\"; }").is_empty());
}

#[test]
fn comments_blank_lines_and_crlf() {
    let text =
        "# written by dhclient\r\n\r\nlease { # eth0's\r\n interface \"eth0\"; # here\r\n}\r\n";
    assert_eq!(one(text).interface, "eth0");
    assert!(ok("").is_empty());
    assert!(ok("\n\n# nothing\n").is_empty());
}

#[test]
fn truncated_block_is_an_error_at_its_start() {
    let text = format!("{LAB_LEASE}{LAB_LEASE}");
    let second = LAB_LEASE.lines().count() + 1;
    // Cut everywhere inside the second block: always its line, never a panic, never a
    // lease that is not all there.
    let start = LAB_LEASE.len();
    for cut in start + 1..text.len() - 1 {
        let e = err(&text[..cut]);
        assert_eq!(e.line, second, "cut at {cut}: {e}");
    }
    // A cut in the middle of a string reports the block too.
    let cut = start + LAB_LEASE.find("labclient").unwrap();
    let e = err(&text[..cut]);
    assert_eq!(e.line, second);
    assert!(e.message.contains("not closed"), "{e}");
    assert_eq!(e.to_string(), format!("line {second}: {}", e.message));
    // Cut right after a block: the complete blocks.
    assert_eq!(ok(&text[..start]).len(), 1);
    assert_eq!(ok(&format!("{LAB_LEASE}\n  \n")).len(), 1);
    assert_eq!(ok(&text).len(), 2);
}

#[test]
fn garbage_is_an_error_at_its_line() {
    for (text, line) in [
        (format!("{LAB_LEASE}\ngarbage here\n"), 21),
        (format!("{LAB_LEASE}}}\n"), 20),
        (format!("{LAB_LEASE};\n"), 20),
        ("\u{0}\u{1}\u{2}".to_owned(), 1),
        ("lease lease".to_owned(), 1),
        ("\n\"unclosed".to_owned(), 2),
        ("default-duid;".to_owned(), 1),
        ("default-duid \"x\"".to_owned(), 1),
        (block("eth0", "  fixed-address 10.0.0.256;\n"), 3),
        (block("eth0", "  fixed-address;\n"), 3),
        (block("eth0", "  option routers 10.0.0.1,fe80::1;\n"), 3),
        (
            block("eth0", "  option domain-name-servers \"10.0.0.1\";\n"),
            3,
        ),
        (
            block("eth0", "  option subnet-mask 255.255.255.0 255.0.0.0;\n"),
            3,
        ),
        (block("eth0", "  option host-name;\n"), 3),
        (block("eth0", "  option { x };\n"), 3),
        (block("eth0", "  option host-name \"x\"\n"), 4),
        (block("eth0", "  interface \"eth1\" \"eth2\";\n"), 3),
        (block("eth0", "  \"loose string\";\n"), 3),
        (block("eth0", "  unknown-statement\n"), 3),
        (
            "lease {\n  interface \"eth0\";\n  option host-name \"x\\400\";\n}\n".to_owned(),
            3,
        ),
    ] {
        let e = err(&text);
        assert_eq!(e.line, line, "{text:?}: {e}");
    }
}

#[test]
fn errors_are_short_even_for_huge_garbage() {
    let e = err(&"x".repeat(100_000));
    assert!(e.to_string().len() < 200, "{e}");
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let deep = format!(
        "lease {{ interface \"eth0\"; x {}{} }}",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    assert_eq!(one(&deep).interface, "eth0");
    let lease6 = format!("lease6 {}", "{".repeat(100_000));
    assert_eq!(err(&lease6).line, 1);
}

// ---- current() ----

fn lease(interface: &str, address: &str, expire: Option<i64>) -> Lease {
    let mut l = one(&block(interface, &format!("  fixed-address {address};\n")));
    l.expire = expire;
    l
}

#[test]
fn current_takes_the_last_block_per_interface() {
    let leases = [
        lease("eth0", "10.0.0.2", Some(1_000)),
        lease("eth1", "10.1.0.2", None),
        lease("eth0", "10.0.0.3", Some(2_000)),
    ];
    let set = current(&leases, 500);
    assert_eq!(set.len(), 2);
    assert_eq!(set["eth0"].address, Some(v4("10.0.0.3")));
    assert_eq!(set["eth1"].address, Some(v4("10.1.0.2")));
    assert_eq!(next_expiry(&set, 500), Some(2_000));
}

#[test]
fn current_honours_expiry_without_falling_back() {
    let leases = [
        // A later-expiring older block (clock trouble, a reordered rewrite): still not used.
        lease("eth0", "10.0.0.2", Some(5_000)),
        lease("eth0", "10.0.0.3", Some(2_000)),
        lease("eth1", "10.1.0.2", Some(3_000)),
    ];
    assert_eq!(current(&leases, 1_999).len(), 2);
    // `expire <= now` is expired.
    let set = current(&leases, 2_000);
    assert_eq!(set.keys().collect::<Vec<_>>(), ["eth1"]);
    assert_eq!(next_expiry(&set, 2_000), Some(3_000));
    assert!(current(&leases, 3_000).is_empty());
    assert_eq!(next_expiry(&current(&leases, 3_000), 3_000), None);
    assert!(current(&[], 0).is_empty());
}

// ---- robustness: a stand-in for the fuzz target that runs in every `cargo test` ----

/// xorshift64*: deterministic, so a failure reproduces from the printed iteration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small; the modulo bias does not matter for fuzzing.
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that steer random edits towards the grammar's corners.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    ";",
    ",",
    "\"",
    "\\",
    "\\\"",
    "\\0",
    "\\377",
    "\\x",
    "#",
    "\n",
    " ",
    "lease",
    "lease6",
    "option",
    "interface",
    "fixed-address",
    "renew",
    "rebind",
    "expire",
    "epoch",
    "never",
    "default-duid",
    "domain-search",
    "subnet-mask",
    "routers",
    "interface-mtu",
    "host-name",
    "6",
    "2026/11/28",
    "01:54:56",
    "255.255.255.0",
    "10.0.0.1",
    "ia-na",
    "iaaddr",
    "\u{0}",
    "é",
    "\u{FFFD}",
    "99999999999999999999",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => bytes.truncate(at),
            1 => {
                if at < bytes.len() {
                    bytes[at] = rng.next() as u8;
                }
            }
            2 => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                bytes.splice(at..at, word.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                // Duplicate a slice elsewhere: appended and rewritten files look like this.
                let end = (at + rng.below(256)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
            _ => {
                let n = rng.below(32);
                let noise: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, noise);
            }
        }
    }
    bytes
}

#[test]
fn random_and_mutated_input_never_panics() {
    let seeds: Vec<Vec<u8>> = vec![
        LAB_LEASE.as_bytes().to_vec(),
        format!("{LAB_LEASE}{LEASE6}{LAB_LEASE}").into_bytes(),
        block(
            "eth0",
            "  option interface-mtu 9001;\n  renew epoch 1700000000; # x\n  expire never;\n",
        )
        .into_bytes(),
        Vec::new(),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut failed) = (0u32, 0u32);
    for i in 0..100_000 {
        let input = if i % 10 == 0 {
            let n = rng.below(512);
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            let seed = rng.below(seeds.len());
            mutate(&mut rng, &seeds[seed])
        };
        let text = String::from_utf8_lossy(&input);
        match std::panic::catch_unwind(|| parse(&text)) {
            Ok(Ok(leases)) => {
                parsed += 1;
                assert!(leases.iter().all(|l| !l.interface.is_empty()));
            }
            Ok(Err(e)) => {
                failed += 1;
                let lines = text.split('\n').count();
                assert!(
                    e.line >= 1 && e.line <= lines,
                    "iteration {i}: {e} for {text:?}"
                );
            }
            Err(_) => panic!("iteration {i}: parse panicked on {text:?}"),
        }
    }
    // Both outcomes must be exercised, or the mutations are not doing their job.
    assert!(
        parsed > 1_000 && failed > 1_000,
        "{parsed} parsed, {failed} failed"
    );
}

/// Errors point at the position and never quote the file: a lease "file" can be a link to
/// a root-only one, and whatever the parser quoted ended up in the log (a password hash,
/// `/proc/self/environ`).
#[test]
fn errors_never_quote_the_file() {
    const SECRET: &str = "S3cr3tHash";
    let cases = [
        // /etc/shadow and /proc/self/environ as the daemon would have read them.
        (format!("root:$6${SECRET}$xyz:19000:0:99999:7:::\n"), 1, 1),
        (format!("PATH=/usr/bin\0HOME=/root\0TOKEN={SECRET}\0"), 1, 1),
        (
            format!("lease {{\n  interface \"eth0\";\n  {SECRET} }}\n"),
            3,
            3,
        ),
        (format!("lease {{\n  option {SECRET} {{ }};\n}}\n"), 2, 21),
        (
            block("eth0", &format!("  option interface-mtu {SECRET};\n")),
            3,
            24,
        ),
        (
            block("eth0", &format!("  fixed-address {SECRET};\n")),
            3,
            17,
        ),
        (block("eth0", &format!("  renew epoch {SECRET};\n")), 3, 15),
        (
            block("eth0", &format!("  renew 6 {SECRET} 01:54:56;\n")),
            3,
            11,
        ),
        (block("eth0", &format!("  renew {SECRET};\n")), 3, 9),
        (
            block("eth0", &format!("  fixed-address \"{SECRET}\";\n")),
            3,
            17,
        ),
        (format!("default-duid {{ {SECRET}\n"), 1, 14),
    ];
    for (text, line, column) in cases {
        let e = err(&text);
        let shown = e.to_string();
        assert!(!shown.contains(SECRET), "{text:?} quoted: {shown}");
        assert_eq!(
            (e.line, e.column),
            (line, Some(column)),
            "{text:?}: {shown}"
        );
        assert!(
            shown.starts_with(&format!("line {line}, column {column}: ")),
            "{shown}"
        );
    }
}
