/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dane_cert.c - certificates as the matcher reads them (dane_int.h
 * struct cert), parsed once per process: the handshake hook, every probe
 * of a check and every round of a watched domain are shown the same few
 * chains, and gnutls_x509_crt_import with its name parsing was the
 * largest share of the daemon's CPU per probe (docs/performance.md "CPU
 * per probe in the daemon").  A parse depends on the bytes alone, so the
 * cache is keyed by the SHA-256 of the DER: a peer cannot make it serve a
 * certificate other than the one it sent.  Bounded: CACHE_SIZE entries,
 * the least recently used one replaced; entries in use are never
 * replaced, and when all are in use a parse is the caller's alone.
 * Certificates GnuTLS cannot parse are not kept.  One event loop: no
 * locking.
 */
#include "probe/dane_int.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define CACHE_SIZE 64

/* What a parse yields: struct cert's fields that depend on the bytes. */
struct dane_cert_entry {
	gnutls_x509_crt_t crt; /* NULL: a free slot */
	gnutls_datum_t spki;
	uint8_t der256[32], der512[64], spki256[32], spki512[64];
	unsigned refs;
	uint64_t used; /* cache_tick when last taken */
};

static struct dane_cert_entry cache[CACHE_SIZE];
static uint64_t cache_tick;

/* Parses der into p (its crt NULL when GnuTLS cannot). */
static void
parse(struct dane_cert_entry *p, const uint8_t *der, size_t len)
{
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	gnutls_pubkey_t pub;

	p->spki.data = NULL;
	p->spki.size = 0;
	if (gnutls_x509_crt_init(&p->crt) < 0) {
		p->crt = NULL;
		return;
	}
	if (gnutls_x509_crt_import(p->crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(p->crt);
		p->crt = NULL;
		return;
	}
	if (gnutls_pubkey_init(&pub) == 0) {
		if (gnutls_pubkey_import_x509(pub, p->crt, 0) < 0 ||
		    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &p->spki) <
			0)
			p->spki.data = NULL;
		gnutls_pubkey_deinit(pub);
	}
	/* Once per certificate, however many records compare with it */
	gnutls_hash_fast(GNUTLS_DIG_SHA512, der, len, p->der512);
	if (p->spki.data) {
		gnutls_hash_fast(GNUTLS_DIG_SHA256, p->spki.data, p->spki.size,
				 p->spki256);
		gnutls_hash_fast(GNUTLS_DIG_SHA512, p->spki.data, p->spki.size,
				 p->spki512);
	}
}

static void
entry_free(struct dane_cert_entry *p)
{
	if (p->crt)
		gnutls_x509_crt_deinit(p->crt);
	gnutls_free(p->spki.data);
	memset(p, 0, sizeof(*p));
}

/* The entry holding this hash, or NULL. */
static struct dane_cert_entry *
cache_find(const uint8_t h[32])
{
	for (size_t i = 0; i < CACHE_SIZE; i++)
		if (cache[i].crt && !memcmp(cache[i].der256, h, 32))
			return &cache[i];
	return NULL;
}

/* A slot to fill: a free one, else the least recently used one not in
 * use (emptied), else NULL. */
static struct dane_cert_entry *
cache_slot(void)
{
	struct dane_cert_entry *old = NULL;

	for (size_t i = 0; i < CACHE_SIZE; i++) {
		if (!cache[i].crt)
			return &cache[i];
		if (!cache[i].refs && (!old || cache[i].used < old->used))
			old = &cache[i];
	}
	if (old)
		entry_free(old);
	return old;
}

static void
cert_fill(struct cert *c, const struct dane_cert_entry *p)
{
	c->crt = p->crt;
	c->spki = p->spki;
	memcpy(c->der256, p->der256, sizeof(c->der256));
	memcpy(c->der512, p->der512, sizeof(c->der512));
	memcpy(c->spki256, p->spki256, sizeof(c->spki256));
	memcpy(c->spki512, p->spki512, sizeof(c->spki512));
}

int
dane_cert_parse(struct cert *c, const uint8_t *der, size_t len)
{
	struct dane_cert_entry *p, own;
	uint8_t h[32];

	memset(c, 0, sizeof(*c));
	if (!der || len == 0 || len > 1u << 20 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, h) < 0)
		return -1;
	p = cache_find(h);
	if (!p) {
		memset(&own, 0, sizeof(own));
		parse(&own, der, len);
		if (!own.crt)
			return -1;
		memcpy(own.der256, h, sizeof(h));
		p = cache_slot();
		if (p)
			*p = own;
		else
			p = &own;
	}
	cert_fill(c, p);
	c->der = der;
	c->len = len;
	if (p != &own) { /* else every entry is in use: the caller's alone */
		c->entry = p;
		p->refs++;
		p->used = ++cache_tick;
	}
	return 0;
}

void
dane_cert_free(struct cert *c)
{
	if (!c->crt)
		return;
	if (c->entry) {
		if (c->entry->refs > 0)
			c->entry->refs--;
	} else {
		gnutls_x509_crt_deinit(c->crt);
		gnutls_free(c->spki.data);
	}
	c->crt = NULL;
	c->spki.data = NULL;
	c->entry = NULL;
}

size_t
dane_cert_cached(void)
{
	size_t n = 0;

	for (size_t i = 0; i < CACHE_SIZE; i++)
		n += cache[i].crt != NULL;
	return n;
}

void
dane_cert_cache_clear(void)
{
	for (size_t i = 0; i < CACHE_SIZE; i++)
		if (cache[i].crt && !cache[i].refs)
			entry_free(&cache[i]);
}

gnutls_x509_crt_t
dane_cert_hold(const uint8_t *der, size_t len)
{
	struct cert c;

	if (dane_cert_parse(&c, der, len) < 0)
		return NULL;
	if (!c.entry)
		gnutls_free(c.spki.data); /* dane_cert_drop frees the rest */
	return c.crt;
}

void
dane_cert_drop(gnutls_x509_crt_t crt)
{
	struct cert c;

	/* The holder kept the crt alone: its entry is the one holding it,
	 * if any (else the crt was the holder's own). */
	memset(&c, 0, sizeof(c));
	c.crt = crt;
	for (size_t i = 0; i < CACHE_SIZE && !c.entry; i++)
		if (cache[i].crt == crt)
			c.entry = &cache[i];
	dane_cert_free(&c);
}
