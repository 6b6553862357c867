#!/usr/bin/env python3
"""Known-answer vectors for anchor's outer flow label (README "Data plane", anchor-common's
flow_label.rs doc), computed from the written specification alone:

    s0, s1, d0, d1 = each address's bytes 0..8 and 8..16 as little-endian 64-bit words
    p = (next_header << 32) | (sport << 16) | dport
    x = s0 ^ rotl(s1, 16) ^ rotl(d0, 32) ^ rotl(d1, 48) ^ p
    x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33
    label = x & 0xfffff (arithmetic mod 2^64), or 1 when that is zero

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


M64 = (1 << 64) - 1


def rotl(x, n):
    return ((x << n) | (x >> (64 - n))) & M64


def label(src, dst, nh, sport, dport):
    s = ipaddress.IPv6Address(src).packed
    d = ipaddress.IPv6Address(dst).packed
    s0, s1 = int.from_bytes(s[:8], "little"), int.from_bytes(s[8:], "little")
    d0, d1 = int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")
    x = s0 ^ rotl(s1, 16) ^ rotl(d0, 32) ^ rotl(d1, 48) ^ ((nh << 32) | (sport << 16) | dport)
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & M64
    x ^= x >> 33
    out = x & 0xFFFFF
    return out if out else 1


for c in CASES:
    print(f'    ("{c[0]}", "{c[1]}", {c[2]}, {c[3]}, {c[4]}, 0x{label(*c):05x}),')
