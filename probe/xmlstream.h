/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * xmlstream.h - a bounded, incremental reader of the XMPP stream a server
 * sends before TLS (its header, features, the answer to <starttls/>, a
 * stream error), and the two things a probe writes.  The same reader reads
 * the stream after TLS up to its features (probe/tlsfeat.c), with their
 * SASL mechanisms and channel-binding types (struct xmlstream_sasl).
 *
 * Pure: bytes in, events out through a callback; no I/O.  Refuses DTDs and
 * entity declarations and invalid UTF-8 (RFC 6120 §11), and stops at its
 * bounds: nesting deeper than XMLSTREAM_MAX_DEPTH, attribute values longer
 * than XMLSTREAM_MAX_ATTR, more than XMLSTREAM_MAX_BYTES in all.  The bounds
 * are at least what Prosody 0.12 and ejabberd 23.01 accept from a peer
 * before TLS (measured; docs/reliability.md, "Bounds before TLS"): a stream
 * past them may well be one a client reads on, so the reader says which
 * errors are bounds (xmlstream_event.bound) and the probe fails closed.
 */
#ifndef CERTWATCH_XMLSTREAM_H
#define CERTWATCH_XMLSTREAM_H

#include <stddef.h>

/* The header, the features and the answer to <starttls/> together: twice
 * Prosody's largest default stanza limit (1 MiB), four times ejabberd's
 * largest packaged max_stanza_size (512 KiB). */
#define XMLSTREAM_MAX_BYTES (2 * 1024 * 1024)
/* Neither server bounds depth but by bytes: Prosody's s2s reads a 1 MiB
 * stanza before TLS, 149,796 deep as <a></a> (80,000 measured); ejabberd's
 * 512 KiB s2s stanza, 74,898.  Expat holds ~145 bytes per open element, so
 * a probe at this bound holds ~22 MB (docs/reliability.md). */
#define XMLSTREAM_MAX_DEPTH 150000
/* As large as Prosody's largest default stanza (neither server bounds an
 * attribute on its own). */
#define XMLSTREAM_MAX_ATTR (1024 * 1024)
/* Longer stream error texts are cut (they are only shown). */
#define XMLSTREAM_MAX_TEXT 512

#define XMLSTREAM_NS_STREAMS "http://etherx.jabber.org/streams"
#define XMLSTREAM_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define XMLSTREAM_NS_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define XMLSTREAM_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define XMLSTREAM_NS_SASL2 "urn:xmpp:sasl:2"
#define XMLSTREAM_NS_SASL_CB "urn:xmpp:sasl-cb:0"

/* What the features offer for authentication: the union of the SASL
 * mechanisms of RFC 6120 §6.4.1 and XEP-0388 SASL2, and XEP-0440's
 * channel-binding types.  Bounded: a mechanism name has 1-20 characters
 * of [A-Z0-9-_] (RFC 4422 §3.1); names and types beyond these counts, or
 * malformed, are not kept but counted in `dropped`. */
#define XMLSTREAM_MAX_MECHS 32
#define XMLSTREAM_MECH_LEN 20
#define XMLSTREAM_MAX_CB_TYPES 8
#define XMLSTREAM_CB_TYPE_LEN 32

struct xmlstream_sasl {
	char mechs[XMLSTREAM_MAX_MECHS][XMLSTREAM_MECH_LEN + 1];
	size_t nmechs;
	int sasl;    /* an RFC 6120 <mechanisms/> was read */
	int sasl2;   /* an XEP-0388 <authentication/> was read */
	int cb_list; /* an XEP-0440 <sasl-channel-binding/> */
	char types[XMLSTREAM_MAX_CB_TYPES][XMLSTREAM_CB_TYPE_LEN + 1];
	size_t ntypes;
	size_t dropped;
};

/* What a probe sends to ask for TLS. */
#define XMLSTREAM_STARTTLS "<starttls xmlns='" XMLSTREAM_NS_TLS "'/>"

enum xmlstream_event_type {
	XMLSTREAM_HEADER,	/* <stream:stream ...> opened */
	XMLSTREAM_FEATURES,	/* </stream:features> */
	XMLSTREAM_PROCEED,	/* <proceed/> (TLS namespace) */
	XMLSTREAM_FAILURE,	/* <failure/> (TLS namespace) */
	XMLSTREAM_STREAM_ERROR, /* </stream:error> */
	XMLSTREAM_END,		/* </stream:stream> */
	XMLSTREAM_ERROR,	/* malformed or over a limit; nothing follows */
};

struct xmlstream_event {
	enum xmlstream_event_type type;
	/* XMLSTREAM_HEADER: attributes of the header, "" when absent. */
	const char *id;
	const char *version;
	const char *from;
	/* XMLSTREAM_FEATURES: <starttls/> offered.  XMLSTREAM_ERROR: a
	 * <starttls/> was read in the features so far (they may not have
	 * ended). */
	int starttls;
	int starttls_required; /* with <required/> inside */
	/* XMLSTREAM_FEATURES: the authentication offered (never NULL). */
	const struct xmlstream_sasl *sasl;
	/* XMLSTREAM_STREAM_ERROR: the condition's element name ("" if none
	 * was given) and its <text/> ("" if none). */
	const char *condition;
	const char *text;
	/* XMLSTREAM_ERROR: words, and whether a bound of this reader was
	 * exceeded (1: bytes, depth, attribute size or expat's memory; the
	 * XML read so far was well-formed) rather than bytes that are not a
	 * well-formed XMPP stream or hold what XMPP forbids (0). */
	const char *error;
	int bound;
};

/*
 * Called for each event, during xmlstream_feed().  Pointers in the event
 * live until the callback returns.  Return non-zero to stop reading: the
 * reader then takes no more bytes (e.g. after <proceed/>, when the next
 * bytes belong to TLS).
 */
typedef int (*xmlstream_cb)(const struct xmlstream_event *ev, void *arg);

struct xmlstream;

/* A new reader; NULL on out-of-memory.  Free with xmlstream_free(). */
struct xmlstream *xmlstream_new(xmlstream_cb cb, void *arg);
void xmlstream_free(struct xmlstream *xs);

/*
 * Reads `len` more bytes.  Returns 0 when they were read (events may have
 * been reported), 1 when the callback asked to stop, -1 after an
 * XMLSTREAM_ERROR event (reported once; later calls return -1 at once).
 * After a stop or an error, later calls take no bytes.
 */
int xmlstream_feed(struct xmlstream *xs, const void *data, size_t len);

/*
 * Bytes fed that expat holds as an unfinished token (a long start tag, say):
 * each later xmlstream_feed() parses them again, so a caller reading a
 * byte at a time should read less often while this is large.  0 after a
 * stop or an error.
 */
size_t xmlstream_pending(struct xmlstream *xs);

/*
 * Writes the stream header:
 * <?xml version='1.0'?><stream:stream xmlns='jabber:client' (or
 * 'jabber:server' when `server`) xmlns:stream='...' to='TO' version='1.0'>
 * with `to` escaped, and no `from` (it would name the monitor).  Returns
 * the length written (NUL-terminated), or -1 when `cap` is too small or
 * `to` is empty or holds control characters.
 */
int xmlstream_header(char *out, size_t cap, const char *to, int server);

#endif
