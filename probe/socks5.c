/* SPDX-License-Identifier: GPL-3.0-or-later */
/* socks5.c - the SOCKS5 messages a probe sends and the replies it reads. */
#include "util/err.h"
#include "probe/socks5.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SOCKS5_VER 0x05
#define SOCKS5_AUTH_VER 0x01
#define SOCKS5_METHOD_NONE 0x00
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_CMD_CONNECT 0x01
#define SOCKS5_ATYP_IPV4 0x01
#define SOCKS5_ATYP_NAME 0x03
#define SOCKS5_ATYP_IPV6 0x04

int
socks5_greeting(uint8_t *out, size_t cap, int with_auth)
{
	if (cap < (with_auth == SOCKS5_AUTH_EITHER ? 4u : 3u))
		return -1;
	out[0] = SOCKS5_VER;
	out[1] = 1;
	out[2] = with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	if (with_auth != SOCKS5_AUTH_EITHER)
		return 3;
	out[1] = 2;
	out[3] = SOCKS5_METHOD_NONE;
	return 4;
}

int
socks5_method_is_auth(const uint8_t *reply)
{
	return reply[1] == SOCKS5_METHOD_USERPASS;
}

int
socks5_auth_request(uint8_t *out, size_t cap, const char *user,
		    const char *pass, char *err, size_t errlen)
{
	size_t ulen, plen;

	if (user == NULL || pass == NULL) {
		errf(err, errlen, "SOCKS credentials missing");
		return -1;
	}
	ulen = strlen(user);
	plen = strlen(pass);
	if (ulen < 1 || ulen > 255 || plen < 1 || plen > 255) {
		errf(err, errlen,
		     "SOCKS user name and password must be 1 to "
		     "255 bytes");
		return -1;
	}
	if (strncmp(user, SOCKS5_TOR_PREFIX, strlen(SOCKS5_TOR_PREFIX)) == 0) {
		errf(err, errlen, "SOCKS user name must not start with %s",
		     SOCKS5_TOR_PREFIX);
		return -1;
	}
	if (cap < 3 + ulen + plen) {
		errf(err, errlen, "SOCKS buffer too small");
		return -1;
	}
	out[0] = SOCKS5_AUTH_VER;
	out[1] = (uint8_t)ulen;
	memcpy(out + 2, user, ulen);
	out[2 + ulen] = (uint8_t)plen;
	memcpy(out + 3 + ulen, pass, plen);
	return (int)(3 + ulen + plen);
}

int
socks5_connect_request(uint8_t *out, size_t cap, const char *host,
		       uint16_t port, char *err, size_t errlen)
{
	size_t hlen;
	uint8_t ip[16];

	/* An address literal goes as one (RFC 1928 §5, ATYP 1 or 4), so the
	 * proxy connects to that address and resolves nothing. */
	if (host != NULL && cap >= 22 &&
	    (inet_pton(AF_INET, host, ip) == 1 ||
	     inet_pton(AF_INET6, host, ip) == 1)) {
		int v6 = strchr(host, ':') != NULL;
		size_t alen = v6 ? 16 : 4;
		out[0] = SOCKS5_VER;
		out[1] = SOCKS5_CMD_CONNECT;
		out[2] = 0x00;
		out[3] = v6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4;
		memcpy(out + 4, ip, alen);
		out[4 + alen] = (uint8_t)(port >> 8);
		out[5 + alen] = (uint8_t)(port & 0xff);
		return (int)(6 + alen);
	}
	if (host == NULL || (hlen = strlen(host)) < 1 || hlen > 255) {
		errf(err, errlen, "host name for SOCKS must be 1 to 255 bytes");
		return -1;
	}
	if (cap < 7 + hlen) {
		errf(err, errlen, "SOCKS buffer too small");
		return -1;
	}
	out[0] = SOCKS5_VER;
	out[1] = SOCKS5_CMD_CONNECT;
	out[2] = 0x00;
	out[3] = SOCKS5_ATYP_NAME;
	out[4] = (uint8_t)hlen;
	memcpy(out + 5, host, hlen);
	out[5 + hlen] = (uint8_t)(port >> 8);
	out[6 + hlen] = (uint8_t)(port & 0xff);
	return (int)(7 + hlen);
}

enum socks5_status
socks5_parse_method(const uint8_t *in, size_t len, int with_auth, size_t *used,
		    char *err, size_t errlen)
{
	uint8_t want = with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;

	if (len >= 1 && in[0] != SOCKS5_VER) {
		errf(err, errlen, "not a SOCKS5 proxy (version byte 0x%02x)",
		     in[0]);
		return SOCKS5_ERROR;
	}
	if (len < 2)
		return SOCKS5_NEED_MORE;
	if (in[1] == 0xff) {
		errf(err, errlen,
		     "SOCKS proxy accepts none of the offered "
		     "authentication methods");
		return SOCKS5_ERROR;
	}
	if (in[1] != want &&
	    !(with_auth == SOCKS5_AUTH_EITHER && in[1] == SOCKS5_METHOD_NONE)) {
		errf(err, errlen,
		     "SOCKS proxy chose method 0x%02x, which was "
		     "not offered",
		     in[1]);
		return SOCKS5_ERROR;
	}
	*used = 2;
	return SOCKS5_DONE;
}

enum socks5_status
socks5_parse_auth(const uint8_t *in, size_t len, size_t *used, char *err,
		  size_t errlen)
{
	/* RFC 1929 says the version is 0x01; some proxies answer 0x05. */
	if (len >= 1 && in[0] != SOCKS5_AUTH_VER && in[0] != SOCKS5_VER) {
		errf(err, errlen,
		     "bad SOCKS authentication reply version "
		     "0x%02x",
		     in[0]);
		return SOCKS5_ERROR;
	}
	if (len < 2)
		return SOCKS5_NEED_MORE;
	if (in[1] != 0x00) {
		errf(err, errlen,
		     "SOCKS authentication refused (status "
		     "0x%02x)",
		     in[1]);
		return SOCKS5_ERROR;
	}
	*used = 2;
	return SOCKS5_DONE;
}

enum socks5_status
socks5_parse_connect(const uint8_t *in, size_t len, size_t *used, uint8_t *rep,
		     char *err, size_t errlen)
{
	size_t need;
	char words[64];

	if (len >= 1 && in[0] != SOCKS5_VER) {
		errf(err, errlen, "bad SOCKS reply version 0x%02x", in[0]);
		return SOCKS5_ERROR;
	}
	if (len < 2)
		return SOCKS5_NEED_MORE;
	*rep = in[1];
	if (in[1] != 0x00) {
		/* The rest of a failure says nothing we use, and its address
		 * type may be 0 (Tor): do not wait for it. */
		errf(err, errlen, "%s",
		     socks5_reply_str(in[1], words, sizeof(words)));
		return SOCKS5_ERROR;
	}
	if (len < 4)
		return SOCKS5_NEED_MORE;
	if (in[2] != 0x00) {
		errf(err, errlen, "bad SOCKS reply (reserved byte 0x%02x)",
		     in[2]);
		return SOCKS5_ERROR;
	}
	switch (in[3]) {
	case SOCKS5_ATYP_IPV4:
		need = 4 + 4 + 2;
		break;
	case SOCKS5_ATYP_IPV6:
		need = 4 + 16 + 2;
		break;
	case SOCKS5_ATYP_NAME:
		if (len < 5)
			return SOCKS5_NEED_MORE;
		need = 4 + 1 + (size_t)in[4] + 2;
		break;
	default:
		errf(err, errlen, "bad SOCKS reply (address type 0x%02x)",
		     in[3]);
		return SOCKS5_ERROR;
	}
	if (len < need)
		return SOCKS5_NEED_MORE;
	*used = need;
	return SOCKS5_DONE;
}

const char *
socks5_reply_str(uint8_t code, char *buf, size_t len)
{
	static const char *const rfc1928[] = {
	    "succeeded",
	    "general SOCKS server failure",
	    "connection not allowed by ruleset",
	    "network unreachable",
	    "host unreachable",
	    "connection refused",
	    "TTL expired",
	    "command not supported",
	    "address type not supported",
	};
	/* Tor's ExtendedErrors, all about onion services. */
	static const char *const tor[] = {
	    "onion service descriptor not found",
	    "onion service descriptor invalid",
	    "onion service introduction failed",
	    "onion service rendezvous failed",
	    "onion service client authorization missing",
	    "onion service client authorization wrong",
	    "invalid onion service address",
	    "onion service introduction timed out",
	};

	if (code < sizeof(rfc1928) / sizeof(rfc1928[0]))
		return rfc1928[code];
	if (code >= 0xf0 && code - 0xf0 < (int)(sizeof(tor) / sizeof(tor[0])))
		return tor[code - 0xf0];
	snprintf(buf, len, "unknown SOCKS reply 0x%02x", code);
	return buf;
}
