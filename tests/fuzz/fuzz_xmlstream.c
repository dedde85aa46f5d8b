/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_xmlstream.c - the probe's XMPP stream reader (probe/xmlstream.h) on
 * hostile bytes, fed in pieces as a socket would deliver them.
 *
 * Input: one control byte, then the stream.  Bits 0-6 of the control byte
 * are the largest piece (0: everything in one call); piece sizes vary
 * between 1 and that, from a small generator seeded by the byte, so the
 * same stream is cut at different places.  Bit 7 set: stop at <proceed/>,
 * as the probe does before TLS.  The authentication lists of the features
 * (SASL, SASL2, XEP-0440) are checked against their bounds.
 */
#include "fuzz.h"

#include "probe/xmlstream.h"

struct seen {
	int events;
	int errors;
	int after_error; /* events reported after XMLSTREAM_ERROR */
	int stop_on_proceed;
	size_t total; /* bytes of strings read, so ASan checks them */
};

static size_t
str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

/* A kept name is NUL-terminated, within its width, of its alphabet. */
static void
check_names(const char *list, size_t n, size_t width, const char *alphabet)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = list + i * width;
		size_t len = strnlen(name, width);
		FUZZ_CHECK(len > 0 && len < width);
		FUZZ_CHECK(strspn(name, alphabet) == len);
	}
}

static int
on_event(const struct xmlstream_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->errors > 0)
		s->after_error++;
	s->events++;
	switch (ev->type) {
	case XMLSTREAM_HEADER:
		FUZZ_CHECK(ev->id && ev->version && ev->from);
		FUZZ_CHECK(strlen(ev->id) <= XMLSTREAM_MAX_ATTR);
		s->total +=
		    str_len(ev->id) + str_len(ev->version) + str_len(ev->from);
		break;
	case XMLSTREAM_FEATURES:
		FUZZ_CHECK(!ev->starttls_required || ev->starttls);
		FUZZ_CHECK(ev->sasl != NULL);
		FUZZ_CHECK(ev->sasl->nmechs <= XMLSTREAM_MAX_MECHS);
		FUZZ_CHECK(ev->sasl->ntypes <= XMLSTREAM_MAX_CB_TYPES);
		FUZZ_CHECK(ev->sasl->ntypes == 0 || ev->sasl->cb_list);
		check_names(&ev->sasl->mechs[0][0], ev->sasl->nmechs,
			    XMLSTREAM_MECH_LEN + 1,
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
		check_names(&ev->sasl->types[0][0], ev->sasl->ntypes,
			    XMLSTREAM_CB_TYPE_LEN + 1,
			    "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
		break;
	case XMLSTREAM_STREAM_ERROR:
		FUZZ_CHECK(ev->condition && ev->text);
		FUZZ_CHECK(strlen(ev->text) <= XMLSTREAM_MAX_TEXT);
		s->total += str_len(ev->condition) + strlen(ev->text);
		break;
	case XMLSTREAM_ERROR:
		FUZZ_CHECK(ev->error && ev->error[0] != '\0');
		s->total += strlen(ev->error);
		s->errors++;
		break;
	case XMLSTREAM_PROCEED:
		return s->stop_on_proceed;
	default:
		break;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = {0};
	struct xmlstream *xs;
	unsigned max, rnd;
	size_t off = 0;
	int rc = 0;

	if (size < 1)
		return 0;
	max = data[0] & 0x7f;
	s.stop_on_proceed = (data[0] & 0x80) != 0;
	rnd = data[0] * 2654435761u + 1;
	data++;
	size--;

	xs = xmlstream_new(on_event, &s);
	FUZZ_CHECK(xs != NULL);
	while (off < size) {
		size_t n = size - off;
		if (max != 0) {
			rnd = rnd * 1103515245u + 12345u;
			n = 1 + (rnd >> 16) % max;
			if (n > size - off)
				n = size - off;
		}
		rc = xmlstream_feed(xs, data + off, n);
		off += n;
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		if (rc != 0)
			break;
	}
	if (rc == -1) {
		/* Reported once; later calls refuse at once. */
		FUZZ_CHECK(s.errors == 1);
		FUZZ_CHECK(xmlstream_feed(xs, "<a/>", 4) == -1);
	} else {
		FUZZ_CHECK(s.errors == 0);
	}
	FUZZ_CHECK(s.after_error == 0);
	xmlstream_free(xs);
	return 0;
}
