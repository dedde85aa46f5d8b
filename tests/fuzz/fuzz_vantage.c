/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * fuzz_vantage.c - the two payloads of urn:xmpp:certwatch:probe:0
 * (component/vantage_proto.h) on hostile XML: what a remote certwatch
 * answers, and what an allowed JID asks.
 *
 * Input: XML text, an <iq/> holding the payload or the payload itself,
 * turned into a stanza by libstrophe's own parser (the same expat as the
 * stream).  Read as an answer: a result stays within the bounds (at most
 * VANTAGE_MAX_CERTS certificates, VANTAGE_MAX_CHAIN bytes, a step from
 * the closed list); built again, serialised and read back, it gives the
 * same chain.  Read as a request: a request read is built again and reads
 * back the same.
 */
#include "fuzz.h"

#include <strophe.h>

#include "component/vantage_proto.h"

static xmpp_ctx_t *ctx;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	if (ctx == NULL)
		abort();
	return 0;
}

static xmpp_stanza_t *
reparse(xmpp_stanza_t *s)
{
	char *text = NULL;
	size_t len = 0;
	xmpp_stanza_t *back;

	FUZZ_CHECK(xmpp_stanza_to_text(s, &text, &len) == XMPP_EOK);
	back = xmpp_stanza_new_from_string(ctx, text);
	FUZZ_CHECK(back != NULL);
	xmpp_free(ctx, text);
	return back;
}

static void
answer(xmpp_stanza_t *payload)
{
	char why[160];
	struct probe_result *r = vantage_ans_parse(payload, why, sizeof(why));
	size_t total = 0;

	if (r == NULL) {
		FUZZ_CHECK(fuzz_terminated(why, sizeof(why)) && why[0]);
		return;
	}
	FUZZ_CHECK(r->nchain <= VANTAGE_MAX_CERTS);
	FUZZ_CHECK(r->ok ? r->nchain > 0 : r->nchain == 0);
	for (size_t i = 0; i < r->nchain; i++) {
		FUZZ_CHECK(r->chain[i].len > 0 &&
			   r->chain[i].len <= VANTAGE_MAX_CERT);
		total += r->chain[i].len;
	}
	FUZZ_CHECK(total <= VANTAGE_MAX_CHAIN);
	FUZZ_CHECK(r->ok || (r->fail_step >= PROBE_STEP_TOR &&
			     r->fail_step <= PROBE_STEP_TLS));
	FUZZ_CHECK(fuzz_terminated(r->reason, sizeof(r->reason)));
	{
		xmpp_stanza_t *b = vantage_ans_build(ctx, r, time(NULL));
		xmpp_stanza_t *back = reparse(b);
		struct probe_result *again =
		    vantage_ans_parse(back, why, sizeof(why));
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(again->ok == r->ok && again->nchain == r->nchain);
		for (size_t i = 0; i < r->nchain; i++)
			FUZZ_CHECK(again->chain[i].len == r->chain[i].len &&
				   !memcmp(again->chain[i].der, r->chain[i].der,
					   r->chain[i].len));
		probe_result_free(again);
		xmpp_stanza_release(back);
		xmpp_stanza_release(b);
	}
	probe_result_free(r);
}

static void
request(xmpp_stanza_t *payload)
{
	char why[160];
	struct vantage_req vr, again;
	struct probe_req req;
	xmpp_stanza_t *b, *back;

	if (vantage_req_parse(payload, &vr, why, sizeof(why)) < 0) {
		FUZZ_CHECK(fuzz_terminated(why, sizeof(why)) && why[0]);
		return;
	}
	FUZZ_CHECK(vr.port > 0);
	vantage_req_probe(&vr, &req);
	b = vantage_req_build(ctx, &req);
	FUZZ_CHECK(b != NULL);
	back = reparse(b);
	FUZZ_CHECK(vantage_req_parse(back, &again, why, sizeof(why)) == 0);
	FUZZ_CHECK(!strcmp(again.host, vr.host) && !strcmp(again.to, vr.to) &&
		   !strcmp(again.sni, vr.sni) && again.port == vr.port &&
		   again.server == vr.server && again.tls == vr.tls &&
		   again.keys == vr.keys &&
		   !memcmp(&again.addr, &vr.addr, sizeof(vr.addr)));
	xmpp_stanza_release(back);
	xmpp_stanza_release(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = fuzz_strdup(data, size);
	xmpp_stanza_t *root = xmpp_stanza_new_from_string(ctx, xml), *p;

	free(xml);
	if (root == NULL)
		return 0;
	p = xmpp_stanza_get_child_by_ns(root, VANTAGE_NS);
	if (p == NULL)
		p = root;
	answer(p);
	request(p);
	xmpp_stanza_release(root);
	return 0;
}
