/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_socks5.c - the SOCKS5 reply parsers (probe/socks5.h) on hostile
 * replies, offered byte by byte as a proxy's answer arrives.
 *
 * Input: one control byte, then the reply.  Control bits 0-1 choose the
 * parser (method selection, RFC 1929 reply, CONNECT reply); bits 2-3 the
 * greeting's with_auth (0, 1, SOCKS5_AUTH_EITHER; 3 is 1).  Every prefix of the
 * reply is parsed: a parser must ask for more, finish within the bytes it was
 * given, or refuse, and never change its mind as more bytes arrive.
 */
#include "fuzz.h"

#include "probe/socks5.h"

static enum socks5_status
parse(unsigned which, int with_auth, const uint8_t *in, size_t len,
      size_t *used, uint8_t *rep, char *err, size_t errlen)
{
	switch (which) {
	case 0:
		return socks5_parse_method(in, len, with_auth, used, err,
					   errlen);
	case 1:
		return socks5_parse_auth(in, len, used, err, errlen);
	default:
		return socks5_parse_connect(in, len, used, rep, err, errlen);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned which;
	int with_auth;
	enum socks5_status prev = SOCKS5_NEED_MORE;
	size_t prev_used = 0;
	char buf[64];

	if (size < 1)
		return 0;
	which = data[0] & 3;
	with_auth = (data[0] >> 2) & 3;
	if (with_auth == 3)
		with_auth = 1;
	data++;
	size--;
	if (size > 600) /* a reply is at most 262 bytes */
		size = 600;

	for (size_t n = 0; n <= size; n++) {
		char err[128];
		size_t used = (size_t)-1;
		uint8_t rep = 0xAA;
		enum socks5_status st;

		/* No NUL: a refusal must write its words. */
		memset(err, 'x', sizeof(err));
		st = parse(which, with_auth, data, n, &used, &rep, err,
			   sizeof(err));
		FUZZ_CHECK(st == SOCKS5_ERROR || st == SOCKS5_NEED_MORE ||
			   st == SOCKS5_DONE);
		if (st == SOCKS5_ERROR)
			FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) &&
				   err[0] != '\0');
		if (st == SOCKS5_DONE)
			FUZZ_CHECK(used >= 2 && used <= n);
		/* Only what was offered is taken. */
		if (st == SOCKS5_DONE && which == 0)
			FUZZ_CHECK(with_auth == SOCKS5_AUTH_EITHER ||
				   socks5_method_is_auth(data) == with_auth);
		/* More bytes never undo an answer. */
		if (prev == SOCKS5_DONE)
			FUZZ_CHECK(st == SOCKS5_DONE && used == prev_used);
		if (prev == SOCKS5_ERROR)
			FUZZ_CHECK(st == SOCKS5_ERROR);
		if (which >= 2 && n >= 2)
			FUZZ_CHECK(rep == data[1] || st == SOCKS5_ERROR);
		prev = st;
		if (st == SOCKS5_DONE)
			prev_used = used;
	}
	/* A tiny message buffer still gets a terminated message. */
	{
		char small[4] = {'x', 'x', 'x', 'x'};
		size_t used;
		uint8_t rep;
		parse(which, with_auth, data, size, &used, &rep, small,
		      sizeof(small));
		if (prev == SOCKS5_ERROR)
			FUZZ_CHECK(fuzz_terminated(small, sizeof(small)));
	}
	if (size >= 2) {
		const char *w = socks5_reply_str(data[1], buf, sizeof(buf));
		FUZZ_CHECK(w != NULL && strlen(w) < 200);
	}
	return 0;
}
