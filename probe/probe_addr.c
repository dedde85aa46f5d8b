/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * probe_addr.c - which addresses a probe refuses unless [probe]
 * allow_private is set: those the IANA special-purpose registries say are
 * not globally reachable (probe.h probe_addr_is_private).
 */
#include "probe/probe.h"

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* The entries of the IANA IPv4 Special-Purpose Address Registry (RFC 6890
 * §2.2.2, https://www.iana.org/assignments/iana-ipv4-special-registry/)
 * that are not globally reachable, with multicast (224/4) and broadcast.
 * 192.0.0.0/24 is taken whole: its two global /32s (PCP and TURN anycast,
 * RFC 7723, RFC 8155) are not XMPP servers. */
static int
v4_is_private(const uint8_t *a)
{
	static const struct {
		uint32_t net;
		int len;
	} nets[] = {
	    {0x00000000, 8},  {0x0a000000, 8},	{0x64400000, 10},
	    {0x7f000000, 8},  {0xa9fe0000, 16}, {0xac100000, 12},
	    {0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16},
	    {0xc6120000, 15}, {0xc6336400, 24}, {0xcb007100, 24},
	    {0xe0000000, 4},  {0xf0000000, 4},	{0xffffffff, 32},
	};
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
		     (uint32_t)a[2] << 8 | a[3];
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((v & (0xffffffffu << (32 - nets[i].len))) == nets[i].net)
			return 1;
	return 0;
}

/*
 * IPv6 ranges a probe must not reach, after the IANA IPv6 Special-Purpose
 * Address Registry (RFC 6890 §2.2.3, updated by RFC 8190;
 * https://www.iana.org/assignments/iana-ipv6-special-registry/): the entries
 * that are not "globally reachable", plus deprecated forms that the
 * registry does not list but that a host must not send to the Internet
 * (site-local fec0::/10, RFC 3879; IPv4-compatible ::/96, RFC 4291
 * §2.5.5.1) and multicast.  The first matching entry decides, so the
 * global exceptions inside 2001::/23 come before it.  `embed`: the
 * address carries an IPv4 address at that byte offset, which decides
 * instead (IPv4-mapped, the well-known NAT64 prefix, 6to4).
 */
static const struct v6_range {
	uint8_t prefix[8];
	uint8_t len;	 /* bits; no entry is longer than 96 */
	uint8_t tail[4]; /* bytes 8-11, for the /96 entries */
	int8_t private;	 /* 1 private, 0 public, -1 decided by embed */
	uint8_t embed;
} v6_ranges[] = {
    /* ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2) */
    {{0}, 96, {0, 0, 0xff, 0xff}, -1, 12},
    /* ::ffff:0:0:0/96 IPv4-translated (RFC 2765 §2.1): never a
     * destination on the wire */
    {{0}, 96, {0xff, 0xff, 0, 0}, 1, 0},
    /* ::/96: ::, ::1 and IPv4-compatible (deprecated, RFC 4291
     * §2.5.5.1) */
    {{0}, 96, {0}, 1, 0},
    /* 64:ff9b::/96 the well-known NAT64 prefix (RFC 6052 §2.1): public
     * when the IPv4 address is */
    {{0, 0x64, 0xff, 0x9b}, 96, {0}, -1, 12},
    /* 64:ff9b:1::/48 local-use IPv4/IPv6 translation (RFC 8215) */
    {{0, 0x64, 0xff, 0x9b, 0, 0x01}, 48, {0}, 1, 0},
    /* 100::/64 discard-only (RFC 6666); 100:0:0:1::/64 dummy prefix
     * (RFC 9780) */
    {{0x01, 0x00}, 64, {0}, 1, 0},
    {{0x01, 0x00, 0, 0, 0, 0, 0, 0x01}, 64, {0}, 1, 0},
    /* Globally reachable exceptions inside 2001::/23: 2001:3::/32 AMT
     * (RFC 7450), 2001:4:112::/48 AS112-v6 (RFC 7535), 2001:20::/28
     * ORCHIDv2 (RFC 7343), 2001:30::/28 DRIP (RFC 9374).  The three
     * anycast /128s in 2001:1::/48 are not service addresses of an
     * XMPP server and stay private with the rest. */
    {{0x20, 0x01, 0x00, 0x03}, 32, {0}, 0, 0},
    {{0x20, 0x01, 0x00, 0x04, 0x01, 0x12}, 48, {0}, 0, 0},
    {{0x20, 0x01, 0x00, 0x20}, 28, {0}, 0, 0},
    {{0x20, 0x01, 0x00, 0x30}, 28, {0}, 0, 0},
    /* 2001::/23 IETF protocol assignments (RFC 2928): Teredo,
     * benchmarking 2001:2::/48 (RFC 5180), deprecated ORCHID */
    {{0x20, 0x01, 0x00, 0x00}, 23, {0}, 1, 0},
    /* 2001:db8::/32 and 3fff::/20 documentation (RFC 3849, RFC 9637) */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, {0}, 1, 0},
    {{0x3f, 0xff, 0x00}, 20, {0}, 1, 0},
    /* 2002::/16 6to4 (RFC 3056): the IPv4 address of its relay */
    {{0x20, 0x02}, 16, {0}, -1, 2},
    /* 5f00::/16 SRv6 SIDs (RFC 9602) */
    {{0x5f, 0x00}, 16, {0}, 1, 0},
    /* fc00::/7 unique local (RFC 4193) */
    {{0xfc}, 7, {0}, 1, 0},
    /* fe80::/10 link-local (RFC 4291 §2.5.6), fec0::/10 site-local
     * (deprecated, RFC 3879): fe80::/9 covers both */
    {{0xfe, 0x80}, 9, {0}, 1, 0},
    /* ff00::/8 multicast (RFC 4291 §2.7) */
    {{0xff}, 8, {0}, 1, 0},
};

/* True when the first `len` bits of a and b agree. */
static int
bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	return rest == 0 ||
	       ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
probe_addr_is_private(const struct probe_addr *a)
{
	const uint8_t *b = a->addr;
	size_t i;

	if (a->family == AF_INET)
		return v4_is_private(b);
	if (a->family != AF_INET6)
		return 1;
	for (i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++) {
		const struct v6_range *r = &v6_ranges[i];
		uint8_t pfx[16] = {0};

		memcpy(pfx, r->prefix, sizeof(r->prefix));
		memcpy(pfx + 8, r->tail, sizeof(r->tail));
		if (!bits_equal(b, pfx, r->len))
			continue;
		return r->private >= 0 ? r->private
				       : v4_is_private(b + r->embed);
	}
	return 0;
}
