/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * socks5.h - a pure SOCKS5 codec (RFC 1928, with RFC 1929 username and
 * password authentication) for the probe's connection through Tor.
 *
 * Builders write a message into a caller buffer; parsers read a reply from
 * the bytes received so far and say whether more are needed.  Nothing here
 * does I/O or allocates, so every function can be fed captured or hostile
 * bytes.
 */
#ifndef CERTWATCH_SOCKS5_H
#define CERTWATCH_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

/* Return values of the parsers. */
enum socks5_status {
	SOCKS5_ERROR = -1,    /* malformed or refused; words in err */
	SOCKS5_NEED_MORE = 0, /* call again with more bytes */
	SOCKS5_DONE = 1,      /* *used bytes make a complete reply */
};

/* Tor gives user names with this prefix a meaning of its own (its
 * proposal 351), so they are refused. */
#define SOCKS5_TOR_PREFIX "<torS0X>"

/* Longest message a builder writes: the CONNECT request with a 255-byte
 * name, or the authentication request with 255-byte user and password. */
#define SOCKS5_MSG_MAX 513

/*
 * The greeting.  With `with_auth`, it offers only method 0x02
 * (username/password), so the proxy cannot skip the credentials that
 * isolate the probe's circuit; otherwise only 0x00 (no authentication).
 * With SOCKS5_AUTH_EITHER it offers both, 0x02 first, for a proxy that is
 * not known to be Tor (a second Tor picks 0x02 and isolates; `ssh -D`
 * knows only 0x00).  Returns the length written, or -1 if `cap` is too
 * small.
 */
#define SOCKS5_AUTH_EITHER 2
int socks5_greeting(uint8_t *out, size_t cap, int with_auth);
/* After socks5_parse_method() said SOCKS5_DONE: whether the proxy chose
 * username/password (1) or no authentication (0). */
int socks5_method_is_auth(const uint8_t *reply);

/*
 * The RFC 1929 request.  user and pass must be 1..255 bytes, and user must
 * not start with SOCKS5_TOR_PREFIX.  Returns the length written, or -1 with
 * words in err (errlen bytes, may be 0).
 */
int socks5_auth_request(uint8_t *out, size_t cap, const char *user,
			const char *pass, char *err, size_t errlen);

/*
 * The CONNECT request: an IPv4 or IPv6 literal as address type 1 or 4,
 * any other host name as address type 3, as it is, never resolved here.  host
 * must be 1..255 bytes without NUL.  Returns the length written, or -1 with
 * words in err.
 */
int socks5_connect_request(uint8_t *out, size_t cap, const char *host,
			   uint16_t port, char *err, size_t errlen);

/*
 * The method selection reply (2 bytes).  `with_auth` is what the greeting
 * offered; any other method, including 0xFF (none acceptable), is an
 * error.  On SOCKS5_DONE, *used is the reply's length.
 */
enum socks5_status socks5_parse_method(const uint8_t *in, size_t len,
				       int with_auth, size_t *used, char *err,
				       size_t errlen);

/* The RFC 1929 reply (2 bytes); a non-zero status is an error. */
enum socks5_status socks5_parse_auth(const uint8_t *in, size_t len,
				     size_t *used, char *err, size_t errlen);

/*
 * The CONNECT reply.  *rep gets the reply code as soon as it is known.
 * A success (0x00) must carry a well-formed bound address (type 1, 3 or
 * 4) and is SOCKS5_DONE once complete.  A failure is SOCKS5_ERROR as soon
 * as its code arrives, with the code's words in err, whatever address
 * follows: Tor's error replies carry address type 0, which RFC 1928 does
 * not define.  *used is only set on SOCKS5_DONE.
 */
enum socks5_status socks5_parse_connect(const uint8_t *in, size_t len,
					size_t *used, uint8_t *rep, char *err,
					size_t errlen);

/*
 * Words for a CONNECT reply code: RFC 1928's 0x00-0x08, Tor's extended
 * errors 0xF0-0xF7, and "unknown SOCKS reply 0xNN" for the others.  The
 * result points into `buf` (at least 32 bytes) or to a constant.
 */
const char *socks5_reply_str(uint8_t code, char *buf, size_t len);

#endif
