#!/usr/bin/env python3
"""Known-answer vectors for anchor's outer flow label (README "Data plane", anchor-common's
flow_label.rs doc), computed from the written specification alone:

    words = src[0..4], dst[0..4] (32-bit big-endian), next_header, (sport << 16) | dport
    h = 0x6a09e667; for w in words: h = ((h ^ w) * 0x9e3779b1) mod 2^32; h ^= h >> 15
    label = (h ^ (h >> 20)) & 0xfffff, or 1 when that is zero

Prints Rust tuples (src, dst, next_header, sport, dport, label) for tests/src/flow_label.rs.
"""
import ipaddress

CASES = [
    ("2001:db8::1", "2001:db8::2", 6, 1000, 80),
    ("2001:db8::2", "2001:db8::1", 6, 80, 1000),
    ("2001:db8:c::2", "2001:db8:1:1::100", 17, 40000, 9),
    ("2001:db8:c::2", "2001:db8:1:1::100", 58, 0, 0),
    ("::", "::", 0, 0, 0),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 255, 65535, 65535),
    ("fe80::1", "ff02::1", 17, 546, 547),
]


def label(src, dst, nh, sport, dport):
    words = []
    for addr in (src, dst):
        b = ipaddress.IPv6Address(addr).packed
        words += [int.from_bytes(b[i:i + 4], "big") for i in range(0, 16, 4)]
    words += [nh, (sport << 16) | dport]
    h = 0x6A09E667
    for w in words:
        h = ((h ^ w) * 0x9E3779B1) & 0xFFFFFFFF
        h ^= h >> 15
    out = (h ^ (h >> 20)) & 0xFFFFF
    return out if out else 1


for c in CASES:
    print(f'    ("{c[0]}", "{c[1]}", {c[2]}, {c[3]}, {c[4]}, 0x{label(*c):05x}),')
