/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * adhoc.c - XEP-0050 ad-hoc commands with XEP-0004 forms.  Each command is
 * a session: execute shows a form asking for the domain, the submitted
 * form is validated (an error note and the form again on bad input), then
 * the work runs and the iq is answered when it is done, as a result form
 * and a note.  Sessions time out ([limits] adhoc_session_timeout).
 */
#include "component/adhoc.h"
#include "component/bot.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "component/forms.h"
#include "component/log.h"
#include "component/report.h"

#define SESSIONS_MAX 10000 /* all JIDs together */
#define SESSIONS_PER_JID 8

struct comp_adhoc_session {
	LIST_ENTRY(comp_adhoc_session) link; /* in a->sessions */
	struct comp_adhoc *a;
	enum comp_adhoc_kind kind;
	char id[33];
	struct comp_peer peer;
	struct event *timer;
	struct check *chk;	  /* a check running */
	int slot;		  /* holds a checks_in_flight slot */
	struct comp_request *req; /* a watcher hook running */
	xmpp_stanza_t *iq;	  /* the request waiting for its answer */
};

struct comp_adhoc {
	struct comp *c;
	LIST_HEAD(, comp_adhoc_session) sessions;
	size_t n;
};

static const struct {
	const char *node, *name, *instructions;
} cmds[ADHOC_COUNT] = {
    [ADHOC_CHECK] = {"check", "Check a domain",
		     "The XMPP domain to check now (e.g. example.org)."},
    [ADHOC_SUBSCRIBE] = {"subscribe", "Watch a domain",
			 "The XMPP domain to watch; you get an alert "
			 "when its keys or DNS records change."},
    [ADHOC_UNSUBSCRIBE] = {"unsubscribe", "Stop watching a domain",
			   "The domain to stop watching, or \"all\"."},
    [ADHOC_STATUS] = {"status", "Status of my subscriptions",
		      "A domain, or nothing for all your "
		      "subscriptions."},
};

/* The IQ table's row for <command xmlns='...commands'/> sets (XEP-0050). */
static int
adhoc_iq_handler(void *userdata, void *call)
{
	struct comp_iq_call *q = call;

	comp_adhoc_iq(userdata, q->iq, q->payload, q->peer);
	return 1;
}

struct comp_adhoc *
comp_adhoc_new(struct comp *c)
{
	struct comp_adhoc *a = xcalloc(1, sizeof(*a));

	LIST_INIT(&a->sessions);
	a->c = c;
	if (comp_iq_handler_add(c, adhoc_iq_handler, COMP_NS_COMMANDS,
				"command", IQTAB_SET, a) < 0)
		log_warn("adhoc: the IQ table refused the commands handler");
	return a;
}

size_t
comp_adhoc_sessions(const struct comp_adhoc *a)
{
	return a ? a->n : 0;
}

static void
session_free(struct comp_adhoc_session *s)
{
	struct comp_adhoc *a = s->a;

	if (s->chk != NULL)
		check_cancel(s->chk);
	if (s->slot)
		comp_check_release(a->c, s->peer.bare);
	if (s->req != NULL)
		comp_request_detach(s->req);
	if (s->iq != NULL)
		xmpp_stanza_release(s->iq);
	event_free(s->timer);
	LIST_REMOVE(s, link);
	a->n--;
	free(s);
}

void
comp_adhoc_free(struct comp_adhoc *a)
{
	if (a == NULL)
		return;
	while (!LIST_EMPTY(&a->sessions))
		session_free(LIST_FIRST(&a->sessions));
	free(a);
}

/* An error with XEP-0050's specific condition (e.g. bad-sessionid). */
static void
command_error(struct comp *c, xmpp_stanza_t *iq, const char *type,
	      const char *cond, const char *specific, const char *text)
{
	xmpp_stanza_t *r = xmpp_stanza_reply_error(iq, type, cond, text);
	xmpp_stanza_t *err;

	if (r == NULL)
		return;
	err = xmpp_stanza_get_child_by_name(r, "error");
	if (specific != NULL && err != NULL) {
		xmpp_stanza_t *e = xmpp_stanza_new(comp_ctx(c));
		xmpp_stanza_set_name(e, specific);
		xmpp_stanza_set_ns(e, COMP_NS_COMMANDS);
		xmpp_stanza_add_child_ex(err, e, 0);
	}
	comp_send(c, r);
	xmpp_stanza_release(r);
}

/* A result iq carrying <command node sessionid status/>. */
static xmpp_stanza_t *
command_reply(struct comp_adhoc_session *s, xmpp_stanza_t *iq,
	      const char *status, xmpp_stanza_t **cmd)
{
	struct comp *c = s->a->c;
	xmpp_stanza_t *r = comp_iq_result(c, iq);

	*cmd = xmpp_stanza_new(comp_ctx(c));
	xmpp_stanza_set_name(*cmd, "command");
	xmpp_stanza_set_ns(*cmd, COMP_NS_COMMANDS);
	xmpp_stanza_set_attribute(*cmd, "node", cmds[s->kind].node);
	xmpp_stanza_set_attribute(*cmd, "sessionid", s->id);
	xmpp_stanza_set_attribute(*cmd, "status", status);
	xmpp_stanza_add_child_ex(r, *cmd, 0);
	return r;
}

static void
add_note(struct comp *c, xmpp_stanza_t *cmd, const char *type, const char *text)
{
	xmpp_stanza_t *n = xmpp_stanza_new(comp_ctx(c));
	xmpp_stanza_t *t = xmpp_stanza_new(comp_ctx(c));

	xmpp_stanza_set_name(n, "note");
	xmpp_stanza_set_type(n, type);
	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child_ex(n, t, 0);
	xmpp_stanza_add_child_ex(cmd, n, 0);
}

/* Shows the form (again): status executing, with an optional note. */
static void
ask(struct comp_adhoc_session *s, xmpp_stanza_t *iq, const char *note_type,
    const char *note, const char *value)
{
	struct comp *c = s->a->c;
	xmpp_stanza_t *cmd, *r = command_reply(s, iq, "executing", &cmd);
	xmpp_stanza_t *actions = xmpp_stanza_new(comp_ctx(c));
	xmpp_stanza_t *complete = xmpp_stanza_new(comp_ctx(c));

	xmpp_stanza_set_name(actions, "actions");
	xmpp_stanza_set_attribute(actions, "execute", "complete");
	xmpp_stanza_set_name(complete, "complete");
	xmpp_stanza_add_child_ex(actions, complete, 0);
	xmpp_stanza_add_child_ex(cmd, actions, 0);
	if (note != NULL)
		add_note(c, cmd, note_type, note);
	xmpp_stanza_add_child_ex(
	    cmd,
	    comp_form_ask_domain(comp_ctx(c), cmds[s->kind].name,
				 cmds[s->kind].instructions, value,
				 s->kind == ADHOC_STATUS),
	    0);
	comp_send(c, r);
	xmpp_stanza_release(r);
}

/* Ends the session: status completed with a note and an optional form
 * (taken over). */
static void
finish(struct comp_adhoc_session *s, xmpp_stanza_t *iq, const char *note_type,
       const char *note, xmpp_stanza_t *form)
{
	struct comp *c = s->a->c;
	xmpp_stanza_t *cmd, *r = command_reply(s, iq, "completed", &cmd);

	if (note != NULL && note[0] != '\0')
		add_note(c, cmd, note_type, note);
	if (form != NULL)
		xmpp_stanza_add_child_ex(cmd, form, 0);
	comp_send(c, r);
	xmpp_stanza_release(r);
	session_free(s);
}

static void
check_done(struct check_result *res, void *arg)
{
	struct comp_adhoc_session *s = arg;
	struct comp *c = s->a->c;
	struct buf text = BUF_INIT, summary = BUF_INIT;
	xmpp_stanza_t *iq = s->iq, *form;

	s->chk = NULL;
	s->iq = NULL;
	report_text(res, &text);
	report_summary(res, &summary);
	form = comp_form_check_result(comp_ctx(c), res, text.s);
	finish(s, iq, "info", summary.s ? summary.s : "", form);
	xmpp_stanza_release(iq);
	buf_free(&text);
	buf_free(&summary);
	check_result_free(res);
}

/* The answer of a watcher hook, to the session's iq (a request's done). */
static void
request_done(struct comp_request *r, const char *text, int error)
{
	struct comp_adhoc_session *s = r->arg;
	xmpp_stanza_t *iq = s->iq;
	struct comp *c = s->a->c;

	s->req = NULL; /* the caller frees it */
	s->iq = NULL;
	if (iq == NULL) {
		session_free(s);
		return;
	}
	finish(s, iq, error ? "error" : "info", text,
	       text[0] ? comp_form_text_result(comp_ctx(c), cmds[s->kind].name,
					       text)
		       : NULL);
	xmpp_stanza_release(iq);
}

/* The submitted form: validate, then run the command. */
static void
submit(struct comp_adhoc_session *s, xmpp_stanza_t *iq, xmpp_stanza_t *form)
{
	struct comp *c = s->a->c;
	const struct comp_watch_hooks *h = comp_hooks(c);
	char value[COMP_FORM_VALUE_MAX + 1], why[256], msg[400];
	struct domain_name d;
	const struct domain_name *dp = &d;
	int rc = comp_form_value(form, "domain", value, sizeof(value));

	if (rc < 0) {
		ask(s, iq, "error",
		    "The form is not valid: give one domain "
		    "in the field \"domain\".",
		    NULL);
		return;
	}
	if (rc == 0 && s->kind == ADHOC_STATUS) {
		dp = NULL;
	} else if (s->kind == ADHOC_UNSUBSCRIBE &&
		   strcasecmp(value, "all") == 0) {
		dp = NULL;
	} else if (rc == 0) {
		ask(s, iq, "error", "A domain is needed, e.g. example.org.",
		    NULL);
		return;
	} else if (names_domain(value, strlen(value), &d, why, sizeof(why)) <
		   0) {
		/* The chat's words (component/command.c, docs/usage.md). */
		snprintf(msg, sizeof(msg), "invalid domain \"%.60s%s\": %s",
			 value, strlen(value) > 60 ? "..." : "", why);
		ask(s, iq, "error", msg, value);
		return;
	}

	if (s->kind == ADHOC_CHECK) {
		if (comp_check_acquire(c, &s->peer, msg, sizeof(msg)) < 0) {
			finish(s, iq, "error", msg, NULL);
			return;
		}
		s->slot = 1;
		s->iq = xmpp_stanza_clone(iq);
		s->chk = comp_check_start(c, &d, check_done, s);
		if (s->chk == NULL)
			finish(s, iq, "error", "The check could not start.",
			       NULL);
		return;
	}
	if (h == NULL || (s->kind == ADHOC_SUBSCRIBE && h->subscribe == NULL) ||
	    (s->kind == ADHOC_UNSUBSCRIBE && h->unsubscribe == NULL) ||
	    (s->kind == ADHOC_STATUS && h->status == NULL)) {
		finish(s, iq, "info", comp_no_watch_text, NULL);
		return;
	}
	/* The hook may answer before it returns (and free s): everything is
	 * set up first, nothing touches s after. */
	s->iq = xmpp_stanza_clone(iq);
	s->req = comp_request_new(c, &s->peer, request_done, s);
	switch (s->kind) {
	case ADHOC_SUBSCRIBE:
		h->subscribe(h->arg, s->req, dp);
		break;
	case ADHOC_UNSUBSCRIBE:
		h->unsubscribe(h->arg, s->req, dp);
		break;
	default:
		h->status(h->arg, s->req, dp);
		break;
	}
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct comp_adhoc_session *s = arg;
	struct comp *c = s->a->c;

	if (s->iq != NULL)
		command_error(c, s->iq, "modify", "bad-request",
			      "session-expired",
			      "The command took too long and was stopped.");
	session_free(s);
}

static struct comp_adhoc_session *
session_new(struct comp_adhoc *a, enum comp_adhoc_kind kind,
	    const struct comp_peer *p)
{
	struct comp_adhoc_session *s = xcalloc(1, sizeof(*s));
	unsigned secs = comp_config(a->c)->adhoc_session_timeout;
	struct timeval tv = {secs ? secs : 300, 0};
	unsigned char rnd[16];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)random();
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	s->a = a;
	s->kind = kind;
	s->peer = *p;
	s->timer = evtimer_new(comp_base(a->c), timeout_cb, s);
	evtimer_add(s->timer, &tv);
	LIST_INSERT_HEAD(&a->sessions, s, link);
	a->n++;
	return s;
}

static size_t
sessions_of(struct comp_adhoc *a, const char *bare)
{
	struct comp_adhoc_session *s;
	size_t n = 0;

	LIST_FOREACH(s, &a->sessions, link)
	if (strcmp(s->peer.bare, bare) == 0)
		n++;
	return n;
}

static int
is_submit(xmpp_stanza_t *form)
{
	const char *t = form ? xmpp_stanza_get_type(form) : NULL;

	return t != NULL && strcmp(t, "submit") == 0;
}

/* Counts the command against the peer's rate limit; answers and returns
 * -1 when over. */
static int
limited(struct comp_adhoc *a, xmpp_stanza_t *iq, const struct comp_peer *p)
{
	unsigned wait_s = 0;
	char msg[160];

	if (comp_limit_command(a->c, p, &wait_s) == 0)
		return 0;
	snprintf(msg, sizeof(msg),
		 "rate limit: %u commands a minute; try again in %u s",
		 comp_config(a->c)->commands_per_minute, wait_s);
	comp_iq_error(a->c, iq, "wait", "resource-constraint", msg);
	return -1;
}

void
comp_adhoc_iq(struct comp_adhoc *a, xmpp_stanza_t *iq, xmpp_stanza_t *command,
	      const struct comp_peer *p)
{
	struct comp *c = a->c;
	const char *node = xmpp_stanza_get_attribute(command, "node");
	const char *action = xmpp_stanza_get_attribute(command, "action");
	const char *sid = xmpp_stanza_get_attribute(command, "sessionid");
	xmpp_stanza_t *form = comp_form_find(command);
	struct comp_adhoc_session *s;
	int kind = -1;

	for (int i = 0; i < ADHOC_COUNT && node != NULL; i++)
		if (strcmp(node, cmds[i].node) == 0)
			kind = i;
	log_debug("bot: %s: ad-hoc %s %s%s", p->bare,
		  kind >= 0 ? cmds[kind].node : "(unknown node)",
		  action ? action : "execute", sid ? " (session)" : "");
	if (kind < 0) {
		comp_iq_error(c, iq, "cancel", "item-not-found",
			      "No such command.");
		return;
	}
	if (action != NULL && strcmp(action, "execute") != 0 &&
	    strcmp(action, "complete") != 0 && strcmp(action, "next") != 0 &&
	    strcmp(action, "cancel") != 0) {
		command_error(c, iq, "modify", "bad-request", "bad-action",
			      NULL);
		return;
	}

	if (sid == NULL) {
		if (action != NULL && strcmp(action, "cancel") == 0) {
			command_error(c, iq, "modify", "bad-request",
				      "bad-sessionid", NULL);
			return;
		}
		if (limited(a, iq, p) < 0)
			return;
		if (a->n >= SESSIONS_MAX ||
		    (!p->admin &&
		     sessions_of(a, p->bare) >= SESSIONS_PER_JID)) {
			comp_iq_error(c, iq, "wait", "resource-constraint",
				      "Too many open commands; finish or "
				      "cancel one first.");
			return;
		}
		s = session_new(a, (enum comp_adhoc_kind)kind, p);
		/* A client may send the filled form with the first request. */
		if (is_submit(form))
			submit(s, iq, form);
		else
			ask(s, iq, NULL, NULL, NULL);
		return;
	}

	LIST_FOREACH(s, &a->sessions, link)
	if (strcmp(s->id, sid) == 0)
		break;
	if (s == NULL || s->kind != (enum comp_adhoc_kind)kind ||
	    strcmp(s->peer.full, p->full) != 0) {
		command_error(c, iq, "modify", "bad-request", "bad-sessionid",
			      "No such session (it may have timed out).");
		return;
	}
	if (action != NULL && strcmp(action, "cancel") == 0) {
		xmpp_stanza_t *cmd, *r = command_reply(s, iq, "canceled", &cmd);
		comp_send(c, r);
		xmpp_stanza_release(r);
		if (s->iq != NULL)
			command_error(c, s->iq, "cancel", "not-allowed", NULL,
				      "Canceled.");
		session_free(s);
		return;
	}
	if (s->iq != NULL) {
		comp_iq_error(c, iq, "wait", "unexpected-request",
			      "This command is still running.");
		return;
	}
	if (!is_submit(form)) {
		command_error(c, iq, "modify", "bad-request", "bad-payload",
			      "Submit the form.");
		return;
	}
	if (limited(a, iq, p) < 0)
		return;
	submit(s, iq, form);
}

void
comp_adhoc_disco_items(struct comp_adhoc *a, xmpp_stanza_t *query,
		       const char *self)
{
	for (int i = 0; i < ADHOC_COUNT; i++) {
		xmpp_stanza_t *it = xmpp_stanza_new(comp_ctx(a->c));
		xmpp_stanza_set_name(it, "item");
		xmpp_stanza_set_attribute(it, "jid", self);
		xmpp_stanza_set_attribute(it, "node", cmds[i].node);
		xmpp_stanza_set_attribute(it, "name", cmds[i].name);
		xmpp_stanza_add_child_ex(query, it, 0);
	}
}

static void
add_identity(struct comp_adhoc *a, xmpp_stanza_t *q, const char *type,
	     const char *name)
{
	xmpp_stanza_t *id = xmpp_stanza_new(comp_ctx(a->c));

	xmpp_stanza_set_name(id, "identity");
	xmpp_stanza_set_attribute(id, "category", "automation");
	xmpp_stanza_set_attribute(id, "type", type);
	xmpp_stanza_set_attribute(id, "name", name);
	xmpp_stanza_add_child_ex(q, id, 0);
}

static void
add_feature(struct comp_adhoc *a, xmpp_stanza_t *q, const char *var)
{
	xmpp_stanza_t *f = xmpp_stanza_new(comp_ctx(a->c));

	xmpp_stanza_set_name(f, "feature");
	xmpp_stanza_set_attribute(f, "var", var);
	xmpp_stanza_add_child_ex(q, f, 0);
}

int
comp_adhoc_disco_info(struct comp_adhoc *a, const char *node,
		      xmpp_stanza_t *query)
{
	if (strcmp(node, COMP_NS_COMMANDS) == 0) {
		if (query != NULL)
			add_identity(a, query, "command-list",
				     "certwatch commands");
		return 0;
	}
	for (int i = 0; i < ADHOC_COUNT; i++) {
		if (strcmp(node, cmds[i].node) != 0)
			continue;
		if (query != NULL) {
			add_identity(a, query, "command-node", cmds[i].name);
			add_feature(a, query, COMP_NS_COMMANDS);
			add_feature(a, query, COMP_NS_DATA);
		}
		return 0;
	}
	return -1;
}
