/* SPDX-License-Identifier: GPL-3.0-or-later */
/* forms.c - XEP-0004 data forms built and read over libstrophe stanzas. */
#include "component/forms.h"

#include "component/report.h"

#include <stdio.h>
#include <string.h>

/* Adds a new element child named `name` and returns it (owned by parent). */
static xmpp_stanza_t *
add_elem(xmpp_stanza_t *parent, const char *name)
{
	xmpp_stanza_t *e = xmpp_stanza_new(xmpp_stanza_get_context(parent));

	xmpp_stanza_set_name(e, name);
	xmpp_stanza_add_child_ex(parent, e, 0);
	return e;
}

static void
add_text(xmpp_stanza_t *parent, const char *text, size_t len)
{
	xmpp_stanza_t *t = xmpp_stanza_new(xmpp_stanza_get_context(parent));

	xmpp_stanza_set_text_with_size(t, text, len);
	xmpp_stanza_add_child_ex(parent, t, 0);
}

static void
add_text_elem(xmpp_stanza_t *parent, const char *name, const char *text)
{
	xmpp_stanza_t *e = add_elem(parent, name);

	if (text[0] != '\0')
		add_text(e, text, strlen(text));
}

xmpp_stanza_t *
comp_form_new(xmpp_ctx_t *ctx, const char *type, const char *title,
	      const char *instructions)
{
	xmpp_stanza_t *x = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(x, "x");
	xmpp_stanza_set_ns(x, COMP_NS_DATA);
	xmpp_stanza_set_type(x, type);
	if (title != NULL)
		add_text_elem(x, "title", title);
	if (instructions != NULL)
		add_text_elem(x, "instructions", instructions);
	return x;
}

void
comp_form_add_field(xmpp_stanza_t *form, const char *var, const char *type,
		    const char *label, const char *value, int required)
{
	xmpp_stanza_t *f = add_elem(form, "field");

	if (var != NULL)
		xmpp_stanza_set_attribute(f, "var", var);
	if (type != NULL)
		xmpp_stanza_set_type(f, type);
	if (label != NULL)
		xmpp_stanza_set_attribute(f, "label", label);
	if (required)
		add_elem(f, "required");
	if (value == NULL)
		return;
	if (type != NULL && strcmp(type, "text-multi") == 0) {
		/* One <value/> per line (XEP-0004 §3.3); no trailing empty
		 * one for a final newline. */
		const char *p = value;
		while (*p != '\0') {
			size_t n = strcspn(p, "\n");
			xmpp_stanza_t *v = add_elem(f, "value");
			if (n > 0)
				add_text(v, p, n);
			p += n;
			if (*p == '\n')
				p++;
		}
		return;
	}
	add_text_elem(f, "value", value);
}

xmpp_stanza_t *
comp_form_ask_domain(xmpp_ctx_t *ctx, const char *title,
		     const char *instructions, const char *value, int optional)
{
	xmpp_stanza_t *x = comp_form_new(ctx, "form", title, instructions);

	comp_form_add_field(x, "domain", "text-single", "Domain", value,
			    !optional);
	return x;
}

/* An endpoint whose probes differ gets one field per probe after its own,
 * "endpoint.N.probe.M", the first FORM_PROBES_MAX of them (the report
 * field has every one); probes that agree add nothing, so the common form
 * stays as it was (docs/usage.md, "Probes"). */
#define FORM_PROBES_MAX 16

static void
add_probe_fields(xmpp_stanza_t *x, const struct check_endpoint *e, size_t n)
{
	char var[64];
	struct buf line = BUF_INIT;

	if (!report_probes_differ(e))
		return;
	for (size_t i = 0; i < e->nprobes && i < FORM_PROBES_MAX; i++) {
		buf_reset(&line);
		report_probe_line(&e->probes[i], &line);
		snprintf(var, sizeof(var), "endpoint.%zu.probe.%zu", n, i + 1);
		comp_form_add_field(x, var, "text-single", "probe",
				    line.s ? line.s : "", 0);
	}
	buf_free(&line);
}

xmpp_stanza_t *
comp_form_check_result(xmpp_ctx_t *ctx, const struct check_result *r,
		       const char *report)
{
	char title[DNS_NAME_MAX * 4 + 32];
	char var[32], label[DNS_NAME_MAX + 48], value[DNS_NAME_MAX + 160];
	const char *vname = verdict_name(r->verdict);
	xmpp_stanza_t *x;

	snprintf(title, sizeof(title), "certwatch: %s",
		 r->domain_u[0] ? r->domain_u : r->domain);
	x = comp_form_new(ctx, "result", title, NULL);
	comp_form_add_field(x, "domain", "text-single", "Domain",
			    r->domain_u[0] ? r->domain_u : r->domain, 0);
	comp_form_add_field(x, "verdict", "text-single", "Verdict",
			    vname ? vname : "none", 0);
	for (size_t i = 0; i < r->nendpoints; i++) {
		const struct check_endpoint *e = &r->endpoints[i];
		const char *ev = verdict_name(e->verdict);

		snprintf(var, sizeof(var), "endpoint.%zu", i + 1);
		snprintf(label, sizeof(label), "%s %s:%u",
			 check_service_name(e->service), e->host,
			 (unsigned)e->port);
		snprintf(
		    value, sizeof(value), "%s %s %s", label, ev ? ev : "none",
		    e->have_key && e->spki_sha256[0] ? e->spki_sha256 : "-");
		comp_form_add_field(x, var, "text-single", label, value, 0);
		add_probe_fields(x, e, i + 1);
	}
	if (report != NULL)
		comp_form_add_field(x, "report", "text-multi", "Report", report,
				    0);
	return x;
}

xmpp_stanza_t *
comp_form_text_result(xmpp_ctx_t *ctx, const char *title, const char *text)
{
	xmpp_stanza_t *x = comp_form_new(ctx, "result", title, NULL);

	comp_form_add_field(x, "result", "text-multi", NULL, text, 0);
	return x;
}

static int
is_elem(xmpp_stanza_t *s, const char *name)
{
	const char *n = xmpp_stanza_get_name(s);

	return !xmpp_stanza_is_text(s) && n != NULL && strcmp(n, name) == 0;
}

xmpp_stanza_t *
comp_form_find(xmpp_stanza_t *parent)
{
	xmpp_stanza_t *found = NULL;

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(parent); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *ns;
		if (!is_elem(c, "x"))
			continue;
		ns = xmpp_stanza_get_ns(c);
		if (ns == NULL || strcmp(ns, COMP_NS_DATA) != 0)
			continue;
		if (found != NULL)
			return NULL;
		found = c;
	}
	return found;
}

/* Copies the text of element `v` into out; -1 when too long. */
static int
copy_text(xmpp_stanza_t *v, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (xmpp_stanza_t *t = xmpp_stanza_get_children(v); t;
	     t = xmpp_stanza_get_next(t)) {
		const char *s;
		size_t len;
		if (!xmpp_stanza_is_text(t))
			return -1; /* markup inside a value */
		s = xmpp_stanza_get_text_ptr(t);
		if (s == NULL)
			continue;
		len = strlen(s);
		if (len > COMP_FORM_VALUE_MAX || n + len >= outlen ||
		    n + len > COMP_FORM_VALUE_MAX)
			return -1;
		memcpy(out + n, s, len);
		n += len;
		out[n] = '\0';
	}
	return 0;
}

int
comp_form_value(xmpp_stanza_t *form, const char *var, char *out, size_t outlen)
{
	xmpp_stanza_t *field = NULL;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(form); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *v;
		if (!is_elem(c, "field"))
			continue;
		v = xmpp_stanza_get_attribute(c, "var");
		if (v == NULL || strcmp(v, var) != 0)
			continue;
		if (field != NULL)
			return -1; /* the same field twice */
		field = c;
	}
	if (field == NULL)
		return 0;

	xmpp_stanza_t *value = NULL;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(field); c;
	     c = xmpp_stanza_get_next(c)) {
		if (!is_elem(c, "value"))
			continue;
		if (value != NULL)
			return -1; /* several values */
		value = c;
	}
	if (value == NULL)
		return 0;
	if (copy_text(value, out, outlen) < 0) {
		out[0] = '\0';
		return -1;
	}
	return out[0] != '\0' ? 1 : 0;
}
