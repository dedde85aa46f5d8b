/* SPDX-License-Identifier: GPL-3.0-or-later */
/* xmlstream.c - the XMPP stream before TLS, read with expat, bounded. */
#include "probe/xmlstream.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Separates a namespace from a local name in expat's element names; a
 * space never occurs in either. */
#define NS_SEP ' '
#define MAX_COND 64
/* A mechanism's text as sent, before its surrounding space is trimmed. */
#define MECH_RAW 64

enum child {
	CHILD_OTHER = 0,
	CHILD_FEATURES,
	CHILD_PROCEED,
	CHILD_FAILURE,
	CHILD_ERROR,
};

struct xmlstream {
	XML_Parser parser;
	xmlstream_cb cb;
	void *arg;
	size_t total;
	int depth;
	int stopped;	   /* the callback asked to stop */
	int failed;	   /* an error was reported */
	char err[160];	   /* set by a handler that aborts */
	int err_bound;	   /* ... at one of our bounds */
	int starttls_seen; /* a <starttls/> in the features, so far */

	enum child child; /* the depth-2 element we are in */
	int starttls, required, in_starttls;
	int in_text;
	char condition[MAX_COND];
	char text[XMLSTREAM_MAX_TEXT + 1];
	size_t text_len;

	/* The features' authentication lists (xmlstream.h). */
	struct xmlstream_sasl sasl;
	enum { LIST_NONE, LIST_SASL, LIST_SASL2, LIST_CB } in_list;
	int in_mech;
	char mech[MECH_RAW + 1];
	size_t mech_len; /* MECH_RAW + 1: too long */
};

static void xs_abort(struct xmlstream *xs, int bound, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Aborts the parse from inside a handler; xmlstream_feed reports it.
 * `bound`: the stream met one of our bounds, not an error of its own. */
static void
xs_abort(struct xmlstream *xs, int bound, const char *fmt, ...)
{
	va_list ap;

	if (xs->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(xs->err, sizeof(xs->err), fmt, ap);
		va_end(ap);
		xs->err_bound = bound;
	}
	XML_StopParser(xs->parser, XML_FALSE);
}

/* Expat may still call a few handlers after XML_StopParser. */
static int
xs_done(const struct xmlstream *xs)
{
	return xs->stopped || xs->err[0] != '\0';
}

static void
xs_emit(struct xmlstream *xs, struct xmlstream_event *ev)
{
	if (xs->cb(ev, xs->arg) != 0) {
		xs->stopped = 1;
		XML_StopParser(xs->parser, XML_FALSE);
	}
}

/* Whether expat's name "NS local" is {ns}local. */
static int
is(const char *name, const char *ns, const char *local)
{
	size_t nslen = strlen(ns);

	return strncmp(name, ns, nslen) == 0 && name[nslen] == NS_SEP &&
	       strcmp(name + nslen + 1, local) == 0;
}

/* The local part of "NS local" if its namespace is ns, else NULL. */
static const char *
local_in(const char *name, const char *ns)
{
	size_t nslen = strlen(ns);

	if (strncmp(name, ns, nslen) == 0 && name[nslen] == NS_SEP)
		return name + nslen + 1;
	return NULL;
}

static const char *
attr(const char **atts, const char *name)
{
	for (; atts[0] != NULL; atts += 2)
		if (strcmp(atts[0], name) == 0)
			return atts[1];
	return "";
}

static int
all_of(const char *s, size_t len, const char *set, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

/* Keeps a name in a bounded list once, or counts it as dropped. */
static void
keep_name(struct xmlstream_sasl *sa, char *list, size_t *n, size_t cap,
	  size_t width, const char *name, size_t len, int valid)
{
	char *slot;

	if (!valid) {
		sa->dropped++;
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		slot = list + i * width;
		if (strlen(slot) == len && memcmp(slot, name, len) == 0)
			return;
	}
	if (*n >= cap) {
		sa->dropped++;
		return;
	}
	slot = list + (*n)++ * width;
	memcpy(slot, name, len);
	slot[len] = '\0';
}

/* A <mechanism/> ended: its name, trimmed of XML white space, if it is
 * one (RFC 4422 §3.1). */
static void
mech_end(struct xmlstream *xs)
{
	static const char ws[] = " \t\r\n";
	const char *m = xs->mech;
	size_t len = xs->mech_len;

	xs->in_mech = 0;
	if (len > MECH_RAW) {
		xs->sasl.dropped++;
		return;
	}
	while (len > 0 && strchr(ws, *m) != NULL && *m != '\0')
		m++, len--;
	while (len > 0 && strchr(ws, m[len - 1]) != NULL && m[len - 1] != '\0')
		len--;
	keep_name(&xs->sasl, &xs->sasl.mechs[0][0], &xs->sasl.nmechs,
		  XMLSTREAM_MAX_MECHS, XMLSTREAM_MECH_LEN + 1, m, len,
		  all_of(m, len, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
			 XMLSTREAM_MECH_LEN));
}

/* An element inside <stream:features/> at depth 3 or 4. */
static void
features_start(struct xmlstream *xs, const char *name, const char **atts)
{
	const char *t;

	if (xs->depth == 3) {
		if (is(name, XMLSTREAM_NS_SASL, "mechanisms")) {
			xs->in_list = LIST_SASL;
			xs->sasl.sasl = 1;
		} else if (is(name, XMLSTREAM_NS_SASL2, "authentication")) {
			xs->in_list = LIST_SASL2;
			xs->sasl.sasl2 = 1;
		} else if (is(name, XMLSTREAM_NS_SASL_CB,
			      "sasl-channel-binding")) {
			xs->in_list = LIST_CB;
			xs->sasl.cb_list = 1;
		}
		return;
	}
	if ((xs->in_list == LIST_SASL &&
	     is(name, XMLSTREAM_NS_SASL, "mechanism")) ||
	    (xs->in_list == LIST_SASL2 &&
	     is(name, XMLSTREAM_NS_SASL2, "mechanism"))) {
		xs->in_mech = 1;
		xs->mech_len = 0;
	} else if (xs->in_list == LIST_CB &&
		   is(name, XMLSTREAM_NS_SASL_CB, "channel-binding")) {
		t = attr(atts, "type");
		keep_name(&xs->sasl, &xs->sasl.types[0][0], &xs->sasl.ntypes,
			  XMLSTREAM_MAX_CB_TYPES, XMLSTREAM_CB_TYPE_LEN + 1, t,
			  strlen(t),
			  all_of(t, strlen(t),
				 "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
				 XMLSTREAM_CB_TYPE_LEN));
	}
}

static void XMLCALL
on_start(void *data, const char *name, const char **atts)
{
	struct xmlstream *xs = data;
	struct xmlstream_event ev;
	const char *local;
	int i;

	if (xs_done(xs))
		return;
	if (++xs->depth > XMLSTREAM_MAX_DEPTH) {
		xs_abort(xs, 1, "XML nested deeper than %d elements",
			 XMLSTREAM_MAX_DEPTH);
		return;
	}
	for (i = 0; atts[i] != NULL; i += 2) {
		if (strlen(atts[i + 1]) > XMLSTREAM_MAX_ATTR) {
			xs_abort(xs, 1, "XML attribute longer than %d bytes",
				 XMLSTREAM_MAX_ATTR);
			return;
		}
	}

	switch (xs->depth) {
	case 1:
		if (!is(name, XMLSTREAM_NS_STREAMS, "stream")) {
			xs_abort(xs, 0, "not an XMPP stream");
			return;
		}
		memset(&ev, 0, sizeof(ev));
		ev.type = XMLSTREAM_HEADER;
		ev.id = attr(atts, "id");
		ev.version = attr(atts, "version");
		ev.from = attr(atts, "from");
		xs_emit(xs, &ev);
		break;
	case 2:
		xs->child = CHILD_OTHER;
		xs->starttls = xs->required = xs->in_starttls = 0;
		xs->in_text = 0;
		xs->condition[0] = '\0';
		xs->text[0] = '\0';
		xs->text_len = 0;
		memset(&xs->sasl, 0, sizeof(xs->sasl));
		xs->in_list = LIST_NONE;
		xs->in_mech = 0;
		if (is(name, XMLSTREAM_NS_STREAMS, "features"))
			xs->child = CHILD_FEATURES;
		else if (is(name, XMLSTREAM_NS_STREAMS, "error"))
			xs->child = CHILD_ERROR;
		else if (is(name, XMLSTREAM_NS_TLS, "proceed"))
			xs->child = CHILD_PROCEED;
		else if (is(name, XMLSTREAM_NS_TLS, "failure"))
			xs->child = CHILD_FAILURE;
		break;
	case 3:
		if (xs->child == CHILD_FEATURES &&
		    is(name, XMLSTREAM_NS_TLS, "starttls")) {
			xs->starttls = 1;
			xs->in_starttls = 1;
			xs->starttls_seen = 1;
		} else if (xs->child == CHILD_FEATURES) {
			features_start(xs, name, atts);
		} else if (xs->child == CHILD_ERROR &&
			   (local = local_in(name, XMLSTREAM_NS_ERRORS))) {
			if (strcmp(local, "text") == 0)
				xs->in_text = 1;
			else if (xs->condition[0] == '\0')
				snprintf(xs->condition, sizeof(xs->condition),
					 "%s", local);
		}
		break;
	case 4:
		if (xs->in_starttls && is(name, XMLSTREAM_NS_TLS, "required"))
			xs->required = 1;
		else if (xs->child == CHILD_FEATURES)
			features_start(xs, name, atts);
		break;
	default:
		if (xs->in_mech) /* a mechanism has no children */
			xs->mech_len = MECH_RAW + 1;
		break;
	}
}

static void XMLCALL
on_end(void *data, const char *name)
{
	struct xmlstream *xs = data;
	struct xmlstream_event ev;

	(void)name;
	if (xs_done(xs))
		return;
	memset(&ev, 0, sizeof(ev));
	switch (xs->depth--) {
	case 1:
		ev.type = XMLSTREAM_END;
		xs_emit(xs, &ev);
		break;
	case 2:
		switch (xs->child) {
		case CHILD_FEATURES:
			ev.type = XMLSTREAM_FEATURES;
			ev.starttls = xs->starttls;
			ev.starttls_required = xs->required;
			ev.sasl = &xs->sasl;
			break;
		case CHILD_PROCEED:
			ev.type = XMLSTREAM_PROCEED;
			break;
		case CHILD_FAILURE:
			ev.type = XMLSTREAM_FAILURE;
			break;
		case CHILD_ERROR:
			ev.type = XMLSTREAM_STREAM_ERROR;
			ev.condition = xs->condition;
			ev.text = xs->text;
			break;
		default:
			return;
		}
		xs->child = CHILD_OTHER;
		xs_emit(xs, &ev);
		break;
	case 3:
		xs->in_text = 0;
		xs->in_starttls = 0;
		xs->in_list = LIST_NONE;
		break;
	case 4:
		if (xs->in_mech)
			mech_end(xs);
		break;
	default:
		break;
	}
}

static void XMLCALL
on_text(void *data, const char *s, int len)
{
	struct xmlstream *xs = data;
	size_t room, n;

	if (!xs_done(xs) && xs->in_mech && len > 0) {
		/* Too long, or text inside a child, is remembered as
		 * MECH_RAW + 1. */
		if (xs->depth != 4 || xs->mech_len > MECH_RAW ||
		    (size_t)len > MECH_RAW - xs->mech_len) {
			xs->mech_len = MECH_RAW + 1;
			return;
		}
		memcpy(xs->mech + xs->mech_len, s, (size_t)len);
		xs->mech_len += (size_t)len;
		return;
	}
	if (xs_done(xs) || !xs->in_text || len <= 0)
		return;
	room = XMLSTREAM_MAX_TEXT - xs->text_len;
	n = (size_t)len < room ? (size_t)len : room;
	/* Never cut inside a UTF-8 sequence. */
	if (n < (size_t)len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	memcpy(xs->text + xs->text_len, s, n);
	xs->text_len += n;
	xs->text[xs->text_len] = '\0';
	if (n < (size_t)len)
		xs->text_len = XMLSTREAM_MAX_TEXT; /* full: drop the rest */
}

static void XMLCALL
on_doctype(void *data, const char *name, const char *sysid, const char *pubid,
	   int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	xs_abort(data, 0, "XML with a document type declaration (DTD)");
}

static void XMLCALL
on_entity(void *data, const char *name, int is_param, const char *value,
	  int value_len, const char *base, const char *sysid, const char *pubid,
	  const char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_len, (void)base;
	(void)sysid, (void)pubid, (void)notation;
	xs_abort(data, 0, "XML with an entity declaration");
}

struct xmlstream *
xmlstream_new(xmlstream_cb cb, void *arg)
{
	struct xmlstream *xs = calloc(1, sizeof(*xs));

	if (xs == NULL)
		return NULL;
	/* The encoding given here overrides any declaration in the data:
	 * a stream is UTF-8 (RFC 6120 §11.6). */
	xs->parser = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (xs->parser == NULL) {
		free(xs);
		return NULL;
	}
	xs->cb = cb;
	xs->arg = arg;
	XML_SetUserData(xs->parser, xs);
	XML_SetElementHandler(xs->parser, on_start, on_end);
	XML_SetCharacterDataHandler(xs->parser, on_text);
	XML_SetStartDoctypeDeclHandler(xs->parser, on_doctype);
	XML_SetEntityDeclHandler(xs->parser, on_entity);
	XML_SetParamEntityParsing(xs->parser, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef HAVE_XML_REPARSE_DEFERRAL
	/* Expat's reparse deferral (2.6, and Debian's 2.5.0-1+deb12u2) holds
	 * back a token that may continue until more bytes arrive; a server's
	 * features come in one write and are followed by silence, so the
	 * reader would wait until the deadline.  Reparsing an unfinished
	 * token costs up to XMLSTREAM_MAX_BYTES a feed (~1.5 ms); the probe
	 * reads less often while xmlstream_pending() is large. */
	XML_SetReparseDeferralEnabled(xs->parser, XML_FALSE);
#endif
	return xs;
}

void
xmlstream_free(struct xmlstream *xs)
{
	if (xs == NULL)
		return;
	XML_ParserFree(xs->parser);
	free(xs);
}

static int
xs_fail(struct xmlstream *xs, const char *words, int bound)
{
	struct xmlstream_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = XMLSTREAM_ERROR;
	ev.error = words;
	ev.bound = bound;
	ev.starttls = xs->starttls_seen;
	xs->failed = 1;
	xs->cb(&ev, xs->arg);
	return -1;
}

int
xmlstream_feed(struct xmlstream *xs, const void *data, size_t len)
{
	char words[200];
	size_t room = XMLSTREAM_MAX_BYTES - xs->total;
	size_t n = len < room ? len : room;
	enum XML_Error code;

	if (xs->failed)
		return -1;
	if (xs->stopped)
		return 1;
	/* What fits is read first: a <proceed/> or an error inside it
	 * counts, and an over-long stream is one that was valid up to the
	 * bound. */
	xs->total += n;
	if (XML_Parse(xs->parser, data, (int)n, XML_FALSE) != XML_STATUS_OK) {
		if (xs->err[0] != '\0')
			return xs_fail(xs, xs->err, xs->err_bound);
		if (xs->stopped)
			return 1;
		code = XML_GetErrorCode(xs->parser);
		snprintf(words, sizeof(words), "invalid XML: %s (line %lu)",
			 XML_ErrorString(code),
			 (unsigned long)XML_GetCurrentLineNumber(xs->parser));
		/* Out of memory is a bound (ours, through expat's), not the
		 * server's error. */
		return xs_fail(xs, words, code == XML_ERROR_NO_MEMORY);
	}
	if (xs->stopped)
		return 1;
	if (n < len) {
		snprintf(words, sizeof(words),
			 "more than %d bytes of XML before TLS",
			 XMLSTREAM_MAX_BYTES);
		return xs_fail(xs, words, 1);
	}
	return 0;
}

size_t
xmlstream_pending(struct xmlstream *xs)
{
	XML_Index at;

	if (xs->failed || xs->stopped)
		return 0;
	/* After XML_Parse returns, expat's position is where its unfinished
	 * token starts. */
	at = XML_GetCurrentByteIndex(xs->parser);
	if (at < 0 || (size_t)at > xs->total)
		return 0;
	return xs->total - (size_t)at;
}

int
xmlstream_header(char *out, size_t cap, const char *to, int server)
{
	static const char head[] =
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:";
	static const char mid[] =
	    "' xmlns:stream='" XMLSTREAM_NS_STREAMS "' to='";
	static const char tail[] = "' version='1.0'>";
	const char *cls = server ? "server" : "client";
	size_t n = 0, elen;
	const char *esc;
	char one[2] = {0, 0};

#define PUT(s, l)                                                              \
	do {                                                                   \
		if (n + (l) >= cap)                                            \
			return -1;                                             \
		memcpy(out + n, (s), (l));                                     \
		n += (l);                                                      \
	} while (0)

	if (to == NULL || to[0] == '\0')
		return -1;
	PUT(head, sizeof(head) - 1);
	PUT(cls, strlen(cls));
	PUT(mid, sizeof(mid) - 1);
	for (; *to != '\0'; to++) {
		switch (*to) {
		case '&':
			esc = "&amp;";
			break;
		case '<':
			esc = "&lt;";
			break;
		case '>':
			esc = "&gt;";
			break;
		case '\'':
			esc = "&apos;";
			break;
		case '"':
			esc = "&quot;";
			break;
		default:
			if ((unsigned char)*to < 0x20 || *to == 0x7f)
				return -1;
			one[0] = *to;
			esc = one;
			break;
		}
		elen = strlen(esc);
		PUT(esc, elen);
	}
	PUT(tail, sizeof(tail) - 1);
#undef PUT
	out[n] = '\0';
	return (int)n;
}
