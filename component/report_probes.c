/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report_probes.c - the probes of each endpoint (one per address and
 * vantage) and the domain-level warnings (key-split) in the JSON and text
 * reports.  Text shows probe lines only where the probes differ, so the
 * common case stays as short as one probe's (docs/usage.md).
 */
#include <string.h>

#include "component/report.h"

void
report_json_probes(const struct check_endpoint *e, struct buf *out)
{
	buf_puts(out, ",\"probes\":[");
	for (size_t i = 0; i < e->nprobes; i++) {
		const struct check_probe *p = &e->probes[i];
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"address\":");
		buf_json_str(out, p->address);
		buf_puts(out, ",\"vantage\":");
		buf_json_str(out, p->vantage);
		buf_puts(out, ",\"key_type\":");
		buf_json_str(out, p->key_type[0] ? p->key_type : NULL);
		buf_puts(out, ",\"spki_sha256\":");
		buf_json_str(out, p->have_key ? p->spki_sha256 : NULL);
		buf_puts(out, ",\"cert_sha256\":");
		buf_json_str(out, p->cert_sha256[0] ? p->cert_sha256 : NULL);
		if (p->not_before)
			buf_printf(out, ",\"not_before\":%lld",
				   (long long)p->not_before);
		else
			buf_puts(out, ",\"not_before\":null");
		if (p->not_after)
			buf_printf(out, ",\"not_after\":%lld",
				   (long long)p->not_after);
		else
			buf_puts(out, ",\"not_after\":null");
		buf_puts(out, ",\"issuer\":");
		buf_json_str(out, p->issuer[0] ? p->issuer : NULL);
		buf_puts(out, ",\"verdict\":");
		buf_json_str(out, verdict_name(p->verdict));
		buf_puts(out, ",\"error\":");
		if (p->err_step == PROBE_STEP_NONE) {
			buf_puts(out, "null}");
			continue;
		}
		buf_puts(out, "{\"step\":");
		buf_json_str(out, probe_step_name(p->err_step));
		buf_puts(out, ",\"reason\":");
		buf_json_str(out, p->err_reason);
		buf_puts(out, "}}");
	}
	buf_putc(out, ']');
}

void
report_json_warning_list(const struct check_warning *w, size_t n,
			 struct buf *out)
{
	buf_puts(out, ",\"warnings\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"code\":");
		buf_json_str(out, w[i].code);
		buf_puts(out, ",\"text\":");
		buf_json_str(out, w[i].text);
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
}

/* Do the probes of an endpoint tell different stories? */
int
report_probes_differ(const struct check_endpoint *e)
{
	for (size_t i = 1; i < e->nprobes; i++) {
		const struct check_probe *a = &e->probes[0], *b = &e->probes[i];
		if (a->verdict != b->verdict || a->have_key != b->have_key ||
		    strcmp(a->spki_sha256, b->spki_sha256) ||
		    a->err_step != b->err_step)
			return 1;
	}
	return 0;
}

void
report_probe_line(const struct check_probe *p, struct buf *out)
{
	buf_printf(out, "probe %s via %s: %s", p->address, p->vantage,
		   verdict_name(p->verdict));
	if (p->have_key)
		buf_printf(out, ", key %s (%s)", p->spki_sha256,
			   p->key_type[0] ? p->key_type : "unknown type");
	if (p->err_step != PROBE_STEP_NONE)
		buf_printf(out, ", %s: %s", probe_step_name(p->err_step),
			   p->err_reason);
}

void
report_text_probes(const struct check_endpoint *e, struct buf *out)
{
	if (!report_probes_differ(e))
		return;
	for (size_t i = 0; i < e->nprobes; i++) {
		buf_puts(out, "  ");
		report_probe_line(&e->probes[i], out);
		buf_putc(out, '\n');
	}
}

void
report_text_warnings(const struct check_result *r, struct buf *out)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		buf_printf(out, "warning (%s): %s\n", r->warnings[i].code,
			   r->warnings[i].text);
}

void
report_summary_split(const struct check_result *r, struct buf *out)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		if (!strcmp(r->warnings[i].code, "key-split")) {
			buf_puts(out, "; ");
			buf_puts(out, r->warnings[i].text);
			return;
		}
}

int
report_exit_code(const struct check_result *r)
{
	int code = verdict_exit_code(r->verdict);

	/* Keys differ between probes (key-split): at least a warning, even
	 * where every probe's verdict was ok. */
	if (code == 0 && r->nwarnings > 0)
		return 1;
	return code;
}

/* Was this vantage named already (by an earlier endpoint's probe)? */
static int
vantage_told(const struct check_result *r, size_t i, size_t j)
{
	const char *v = r->endpoints[i].probes[j].vantage;

	for (size_t a = 0; a <= i; a++) {
		const struct check_endpoint *e = &r->endpoints[a];
		for (size_t b = 0; b < (a == i ? j : e->nprobes); b++)
			if (!strcmp(e->probes[b].vantage, v) &&
			    report_service_fault(e->probes[b].err_step,
						 e->probes[b].err_reason) &&
			    !report_service_fault(e->err_step, e->err_reason))
				return 1;
	}
	return 0;
}

void
report_text_dead_vantages(const struct check_result *r, struct buf *out)
{
	/* A vantage whose proxy is down where the endpoint was decided by
	 * another: its probes count for nothing (never for a verdict), so
	 * the operator is told which, once each (docs/usage.md, "Probes"). */
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		if (report_service_fault(e->err_step, e->err_reason))
			continue; /* said up front already */
		for (size_t j = 0; j < e->nprobes; j++) {
			const struct check_probe *p = &e->probes[j];
			if (!report_service_fault(p->err_step, p->err_reason) ||
			    vantage_told(r, i, j))
				continue;
			buf_printf(out,
				   "The vantage %s of the certwatch service "
				   "does not work (%s); its probes were left "
				   "out and the verdict is the other "
				   "vantages'. The service's operator has to "
				   "fix it.\n",
				   p->vantage, p->err_reason);
		}
	}
}

void
report_text_split_setup(const struct check_result *r, struct buf *out)
{
	if (r->nwarnings == 0 ||
	    (r->verdict != VERDICT_NO_TLSA && r->verdict != VERDICT_INSECURE))
		return;
	buf_puts(out, "\nNo TLSA records are offered while keys differ "
		      "between probes: one of them may be an interceptor's. "
		      "Compare each with the keys your own servers hold "
		      "first, then check again.\n");
}
