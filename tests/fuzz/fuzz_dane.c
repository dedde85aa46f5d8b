/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_dane.c - the DANE matcher (probe/dane.h dane_match) on a hostile
 * TLSA RRset and a hostile certificate chain, as a server and its DNS zone
 * could present them.
 *
 * Input:
 *   byte 0     bit 0: _xmpp-server names; bit 1: a secure SRV target
 *              (xmpp.good.test); bits 2-4: number of TLSA records (0-7);
 *              bit 5: the check's budget is nearly spent (3 left)
 *   bytes 1-2  the time of the check: hours after 2026-01-01, big endian
 *   records    each: usage, selector, matching type, length (1 byte), data
 *   chain      up to 4 certificates, each: length (2 bytes, big endian),
 *              DER; the last one takes what is left when it is cut short
 * The bounds keep one run cheap (GnuTLS parses every certificate).
 *
 * The trust store (PKIX and the "TA is a public CA" test) is the lab CA of
 * the seeds' chain alone, not the system's: so PKIX-valid chains, PKIX-TA
 * and PKIX-EE matches and weak-TA warnings are reachable too.
 */
#include "fuzz.h"

#include <unistd.h>

#include "probe/dane.h"

#define MAX_CHAIN 4
#define BASE_TIME 1767225600 /* 2026-01-01T00:00:00Z */

/* The CA of tests/lab (one run's), which issued the seeds' leaf. */
static const char lab_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIByzCCAXGgAwIBAgIUJwprsinU3pg4dfQdjKME8NVrndUwCgYIKoZIzj0EAwIw\n"
    "MzEWMBQGA1UECgwNY2VydHdhdGNoIGxhYjEZMBcGA1UEAwwQY2VydHdhdGNoIGxh\n"
    "YiBDQTAeFw0yNjExMjUxNjIxMjNaFw0yNjEyMjUxNjIxMjNaMDMxFjAUBgNVBAoM\n"
    "DWNlcnR3YXRjaCBsYWIxGTAXBgNVBAMMEGNlcnR3YXRjaCBsYWIgQ0EwWTATBgcq\n"
    "hkjOPQIBBggqhkjOPQMBBwNCAASfK5u42FcgguQJ4S9xH6DafbHzBCGs+CD1VK3o\n"
    "wuT4pH8DYolrvyeAE91O0EFfXSIlbTGusDVv+v6TE+/8neh/o2MwYTAdBgNVHQ4E\n"
    "FgQU4ZuKYLQwdjKaAZXu7ds7hFLCO+gwHwYDVR0jBBgwFoAU4ZuKYLQwdjKaAZXu\n"
    "7ds7hFLCO+gwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI\n"
    "zj0EAwIDSAAwRQIgRp3w7L1qJuB3BVhO2kncMb+Z+oi9f3rZNbv8E+BVwwYCIQD5\n"
    "+8yybWNSoTSKaGFzRMxzT1W6jVK4Y27zgxDY9/xaDQ==\n"
    "-----END CERTIFICATE-----\n";

static char trust_path[] = "/tmp/certwatch-fuzz-dane-ca.XXXXXX";

static void
remove_trust(void)
{
	unlink(trust_path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = mkstemp(trust_path);

	(void)argc;
	(void)argv;
	if (fd < 0 ||
	    write(fd, lab_ca, sizeof(lab_ca) - 1) !=
		(ssize_t)(sizeof(lab_ca) - 1) ||
	    close(fd) != 0 || dane_set_trust_file(trust_path) != 0)
		abort();
	/* dane.c reads the file at the first match, any time later. */
	atexit(remove_trust);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_tlsa recs[7];
	struct probe_cert chain[MAX_CHAIN];
	struct dane_names names = {"good.test", "good.test", NULL, 0};
	struct dane_match m;
	struct dane_budget budget;
	size_t want, nrecs = 0, nchain = 0, off = 3;
	time_t now;
	int rc;

	if (size < 3)
		return 0;
	names.server = data[0] & 1;
	if (data[0] & 2)
		names.srv_target = "xmpp.good.test";
	want = (data[0] >> 2) & 7;
	now = BASE_TIME + (time_t)((data[1] << 8) | data[2]) * 3600;

	for (size_t i = 0; i < want; i++) {
		size_t len;
		if (size - off < 4)
			goto out;
		recs[i].usage = data[off];
		recs[i].selector = data[off + 1];
		recs[i].mtype = data[off + 2];
		len = data[off + 3];
		off += 4;
		if (size - off < len)
			goto out;
		/* The matcher gets its own heap copy, as from the parser. */
		recs[i].len = len;
		recs[i].data = len ? malloc(len) : NULL;
		if (len)
			memcpy(recs[i].data, data + off, len);
		off += len;
		nrecs++;
	}
	while (off < size && nchain < MAX_CHAIN) {
		size_t len;
		if (size - off < 2)
			break;
		len = (size_t)(data[off] << 8) | data[off + 1];
		off += 2;
		if (len > size - off || nchain == MAX_CHAIN - 1)
			len = size - off;
		chain[nchain].len = len;
		chain[nchain].der = malloc(len ? len : 1);
		memcpy(chain[nchain].der, data + off, len);
		nchain++;
		off += len;
	}

	memset(&m, 0xA5, sizeof(m));
	budget.spent = data[0] >> 5 & 1 ? DANE_VERIFY_PER_CHECK - 3 : 0;
	dane_match(recs, nrecs, chain, nchain, &names, now, &budget, &m);
	FUZZ_CHECK(fuzz_terminated(m.detail, sizeof(m.detail)));
	FUZZ_CHECK(m.matched >= -1 && m.matched < (int)nrecs);
	FUZZ_CHECK(m.nusable <= nrecs);
	FUZZ_CHECK(m.verifications <= DANE_VERIFY_PER_MATCH);
	FUZZ_CHECK(budget.spent <= DANE_VERIFY_PER_CHECK);
	/* A leaf is judged, never an error: no match says why */
	if (m.matched < 0)
		FUZZ_CHECK(m.detail[0] != '\0');
	if (m.matched >= 0)
		FUZZ_CHECK(m.usable[m.matched] == 1);
	for (unsigned b = 1; b != 0 && b <= DANE_W_TA_NOT_SENT; b <<= 1)
		if (m.warnings & b)
			FUZZ_CHECK(dane_warning_code((enum dane_warning)b) &&
				   dane_warning_text((enum dane_warning)b));
	for (size_t i = 0; i < nrecs; i++)
		(void)dane_record_known(&recs[i]);
	if (nchain > 0) {
		uint8_t spki[32];
		/* The key shown is GnuTLS's, whatever the DER around it */
		rc = dane_spki_sha256(chain[0].der, chain[0].len, spki);
		FUZZ_CHECK((rc == 0) == (m.have_leaf != 0));
		if (rc == 0)
			FUZZ_CHECK(memcmp(spki, m.spki_sha256, 32) == 0);
	}

out:
	for (size_t i = 0; i < nrecs; i++)
		free(recs[i].data);
	for (size_t i = 0; i < nchain; i++)
		free(chain[i].der);
	return 0;
}
