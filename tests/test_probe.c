/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_probe.c - probes against a tiny XMPP/TLS server and SOCKS5 proxy on
 * loopback.  The server runs in a thread with blocking GnuTLS; its
 * certificates (a CA and a leaf) are made with the GnuTLS API at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe/check_int.h"
#include "probe/dane.h"
#include "probe/probe.h"
#include "probe/verdict.h"
#include "probe/xmlstream.h"
#include "tests/hugekey.h"

#define SRV_HEADER                                                             \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "           \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1' "             \
	"from='xmpp.test' version='1.0'>"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

enum srv_mode {
	M_STARTTLS,	/* features with starttls, proceed, TLS */
	M_DIRECT,	/* TLS at once */
	M_NO_STARTTLS,	/* features without starttls */
	M_FAILURE,	/* <failure/> to starttls */
	M_SILENT,	/* accepts, never answers */
	M_STREAM_ERROR, /* host-unknown */
	M_SPLIT,  /* like M_STARTTLS, the features 100 ms after the header */
	M_CUSTOM, /* sends `custom` as its header and features; then,
		   * if `custom_tls`, <proceed/> and TLS */
};

struct srv {
	int lfd;
	uint16_t port;
	enum srv_mode mode;
	int socks;	   /* act as a SOCKS5 proxy first */
	uint8_t socks_rep; /* its CONNECT reply code */
	pthread_t thread;
	/* What the server saw. */
	int accepted;
	char to[256];
	char sni[256];
	char socks_host[256];
	uint16_t socks_port;
	char socks_user[256];
	char socks_pass[256];
	int got_starttls;
	const char *custom;
	size_t custom_len;
	int custom_tls;
	size_t dribble; /* the first `dribble` bytes one per send() */
	/* TLS: this leaf alone, with a key nobody holds (its signatures are
	 * random bytes), instead of the ECDSA chain; NULL for that chain. */
	const struct tcert *leaf;
	unsigned leaf_bits; /* its modulus */
	const char *prio;   /* GnuTLS priorities; NULL: the default */
	/* After the handshake: read the client's stream header, then send
	 * these bytes (`after_len`); NULL: stay silent. */
	const char *after_tls;
	size_t after_len;
};

/* root -> ca (intermediate) -> leaf; the server sends leaf and ca. */
static gnutls_x509_crt_t root_crt, ca_crt, leaf_crt;
static gnutls_x509_privkey_t root_key, ca_key, leaf_key;
static gnutls_datum_t ca_der, leaf_der;
static gnutls_datum_t chain_pem, key_pem;

static void
make_cert(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key, const char *dn,
	  int is_ca, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key,
	  uint8_t serial)
{
	time_t now = time(NULL);

	assert_int_equal(gnutls_x509_privkey_init(key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(
			     *key, GNUTLS_PK_ECDSA,
			     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
			     0),
			 0);
	assert_int_equal(gnutls_x509_crt_init(crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(*crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(*crt, &serial, 1), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(*crt, dn, NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_key(*crt, *key), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(*crt, now - 3600),
			 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(*crt, now + 86400),
			 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(*crt, is_ca, -1),
			 0);
	if (!is_ca)
		assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
				     *crt, GNUTLS_SAN_DNSNAME, "xmpp.test", 9,
				     GNUTLS_FSAN_SET),
				 0);
	assert_int_equal(gnutls_x509_crt_sign2(*crt, issuer ? issuer : *crt,
					       issuer_key ? issuer_key : *key,
					       GNUTLS_DIG_SHA256, 0),
			 0);
}

static int
group_setup(void **state)
{
	(void)state;
	make_cert(&root_crt, &root_key, "CN=certwatch test root", 1, NULL, NULL,
		  1);
	make_cert(&ca_crt, &ca_key, "CN=certwatch test CA", 1, root_crt,
		  root_key, 3);
	make_cert(&leaf_crt, &leaf_key, "CN=xmpp.test", 0, ca_crt, ca_key, 2);
	assert_int_equal(
	    gnutls_x509_crt_export2(ca_crt, GNUTLS_X509_FMT_DER, &ca_der), 0);
	assert_int_equal(
	    gnutls_x509_crt_export2(leaf_crt, GNUTLS_X509_FMT_DER, &leaf_der),
	    0);
	{
		gnutls_datum_t a, b;

		assert_int_equal(
		    gnutls_x509_crt_export2(leaf_crt, GNUTLS_X509_FMT_PEM, &a),
		    0);
		assert_int_equal(
		    gnutls_x509_crt_export2(ca_crt, GNUTLS_X509_FMT_PEM, &b),
		    0);
		chain_pem.size = a.size + b.size;
		chain_pem.data = gnutls_malloc(chain_pem.size);
		assert_non_null(chain_pem.data);
		memcpy(chain_pem.data, a.data, a.size);
		memcpy(chain_pem.data + a.size, b.data, b.size);
		gnutls_free(a.data);
		gnutls_free(b.data);
		assert_int_equal(gnutls_x509_privkey_export2(
				     leaf_key, GNUTLS_X509_FMT_PEM, &key_pem),
				 0);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	hugekey_cleanup();
	gnutls_free(ca_der.data);
	gnutls_free(leaf_der.data);
	gnutls_free(chain_pem.data);
	gnutls_free(key_pem.data);
	gnutls_x509_crt_deinit(root_crt);
	gnutls_x509_crt_deinit(ca_crt);
	gnutls_x509_crt_deinit(leaf_crt);
	gnutls_x509_privkey_deinit(root_key);
	gnutls_x509_privkey_deinit(ca_key);
	gnutls_x509_privkey_deinit(leaf_key);
	return 0;
}

/* Blocking reads with a time limit, so a broken probe cannot hang us. */
static int
read_byte(int fd, char *c)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	return recv(fd, c, 1, 0) == 1 ? 0 : -1;
}

static int
read_exact(int fd, void *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (read_byte(fd, (char *)buf + i) != 0)
			return -1;
	return 0;
}

/* Reads until `needle` has been seen; keeps the text in buf. */
static int
read_until(int fd, char *buf, size_t cap, const char *needle)
{
	size_t n = 0;

	while (n + 1 < cap) {
		if (read_byte(fd, &buf[n]) != 0)
			return -1;
		buf[++n] = '\0';
		if (strstr(buf, needle) != NULL)
			return 0;
	}
	return -1;
}

static void
wait_close(int fd)
{
	char c;

	while (read_byte(fd, &c) == 0)
		;
}

/* No cmocka asserts in the server thread: they would jump across
 * threads.  A short write shows up as a failed probe instead. */
static void
send_str(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static int
post_hello(gnutls_session_t s)
{
	struct srv *sv = gnutls_session_get_ptr(s);
	size_t len = sizeof(sv->sni) - 1;
	unsigned type;

	if (gnutls_server_name_get(s, sv->sni, &len, &type, 0) != 0)
		sv->sni[0] = '\0';
	return 0;
}

/* The key of sv->leaf, which nobody holds: a "signature" of random bytes
 * below the modulus costs the peer's verification what a real one would,
 * and the server nothing. */
static int
fake_sign(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *arg,
	  unsigned flags, const gnutls_datum_t *data, gnutls_datum_t *sig)
{
	struct srv *sv = arg;

	(void)key, (void)algo, (void)flags, (void)data;
	sig->size = sv->leaf_bits / 8;
	sig->data = gnutls_malloc(sig->size);
	if (sig->data == NULL ||
	    gnutls_rnd(GNUTLS_RND_NONCE, sig->data, sig->size) != 0)
		return GNUTLS_E_MEMORY_ERROR;
	sig->data[0] &= 0x3f;
	return 0;
}

static int
fake_decrypt(gnutls_privkey_t key, void *arg, const gnutls_datum_t *ct,
	     gnutls_datum_t *pt)
{
	(void)key, (void)arg, (void)ct, (void)pt;
	return GNUTLS_E_DECRYPTION_FAILED;
}

static int
fake_info(gnutls_privkey_t key, unsigned flags, void *arg)
{
	struct srv *sv = arg;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return GNUTLS_PK_RSA;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)sv->leaf_bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
		gnutls_pk_algorithm_t pk = gnutls_sign_get_pk_algorithm(
		    GNUTLS_FLAGS_TO_SIGN_ALGO(flags));

		return pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS;
	}
	return GNUTLS_E_UNIMPLEMENTED_FEATURE;
}

/* The second stream (probe/tlsfeat.c): the client's header, our bytes. */
static void
send_after_tls(struct srv *sv, gnutls_session_t s)
{
	char buf[4096];
	size_t got = 0, off = 0;
	ssize_t n;

	while (got < sizeof(buf) - 1) {
		n = gnutls_record_recv(s, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "version='1.0'>") != NULL)
			break;
	}
	while (off < sv->after_len) {
		size_t k = sv->after_len - off;
		n = gnutls_record_send(s, sv->after_tls + off,
				       k > 16384 ? 16384 : k);
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* sv->leaf with its fake key; 0 or a GnuTLS error. */
static int
set_fake_key(struct srv *sv, gnutls_certificate_credentials_t cred)
{
	gnutls_pcert_st pc;
	gnutls_privkey_t pk;
	gnutls_datum_t der = {sv->leaf->der, (unsigned)sv->leaf->len};
	int rc;

	gnutls_x509_crt_get_pk_algorithm(sv->leaf->crt, &sv->leaf_bits);
	rc = gnutls_pcert_import_x509_raw(&pc, &der, GNUTLS_X509_FMT_DER, 0);
	if (rc != 0)
		return rc;
	gnutls_privkey_init(&pk);
	rc = gnutls_privkey_import_ext4(pk, sv, fake_sign, fake_sign,
					fake_decrypt, NULL, fake_info, 0);
	/* The usual check signs and verifies: it would fail, and cost the
	 * huge verification here. */
	gnutls_certificate_set_flags(cred,
				     GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	if (rc == 0)
		rc = gnutls_certificate_set_key(cred, NULL, 0, &pc, 1, pk);
	if (rc != 0) {
		gnutls_pcert_deinit(&pc);
		gnutls_privkey_deinit(pk);
	}
	return rc;
}

static void
serve_tls(struct srv *sv, int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	gnutls_datum_t protos[2] = {{(unsigned char *)"xmpp-client", 11},
				    {(unsigned char *)"xmpp-server", 11}};
	int rc;

	gnutls_certificate_allocate_credentials(&cred);
	/* From PEM: gnutls_certificate_set_x509_key() with the two
	 * certificate objects kept only the leaf here (GnuTLS 3.7.9). */
	if (sv->leaf != NULL)
		rc = set_fake_key(sv, cred);
	else
		rc = gnutls_certificate_set_x509_key_mem(
		    cred, &chain_pem, &key_pem, GNUTLS_X509_FMT_PEM);
	if (rc != 0) {
		gnutls_certificate_free_credentials(cred);
		return;
	}
	gnutls_init(&s, GNUTLS_SERVER);
	if (sv->prio != NULL)
		gnutls_priority_set_direct(s, sv->prio, NULL);
	else
		gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_alpn_set_protocols(s, protos, 2, 0);
	gnutls_session_set_ptr(s, sv);
	gnutls_handshake_set_post_client_hello_function(s, post_hello);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 5000);
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc == 0 && sv->after_tls != NULL)
		send_after_tls(sv, s);
	if (rc == 0)
		wait_close(fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
}

/* SOCKS5 as tor speaks it; 0 when the probe may go on. */
static int
serve_socks(struct srv *sv, int fd)
{
	uint8_t b[600], len;
	uint8_t ok[10] = {5, 0, 0, 1, 127, 0, 0, 1, 0, 0};
	/* Tor's failures carry address type 0. */
	uint8_t fail[10] = {5, sv->socks_rep, 0, 0, 0, 0, 0, 0, 0, 0};

	if (read_exact(fd, b, 3) != 0 || memcmp(b, "\x05\x01\x02", 3) != 0)
		return -1;
	send_str(fd, "\x05\x02");
	if (read_exact(fd, b, 2) != 0 || b[0] != 1)
		return -1;
	len = b[1];
	if (read_exact(fd, sv->socks_user, len) != 0)
		return -1;
	sv->socks_user[len] = '\0';
	if (read_exact(fd, &len, 1) != 0 || read_exact(fd, sv->socks_pass, len))
		return -1;
	sv->socks_pass[len] = '\0';
	(void)!send(fd, "\x01\x00", 2, MSG_NOSIGNAL);
	if (read_exact(fd, b, 5) != 0 || memcmp(b, "\x05\x01\x00\x03", 4) != 0)
		return -1;
	len = b[4];
	if (read_exact(fd, sv->socks_host, len) != 0)
		return -1;
	sv->socks_host[len] = '\0';
	if (read_exact(fd, b, 2) != 0)
		return -1;
	sv->socks_port = (uint16_t)(b[0] << 8 | b[1]);
	if (sv->socks_rep != 0) {
		(void)!send(fd, fail, sizeof(fail), MSG_NOSIGNAL);
		return -1;
	}
	(void)!send(fd, ok, sizeof(ok), MSG_NOSIGNAL);
	return 0;
}

static void *
serve(void *arg)
{
	struct srv *sv = arg;
	struct pollfd pfd = {.fd = sv->lfd, .events = POLLIN};
	char buf[2048], *to;
	int fd;

	if (poll(&pfd, 1, 5000) != 1)
		return NULL;
	fd = accept(sv->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	sv->accepted = 1;
	if (sv->socks && serve_socks(sv, fd) != 0)
		goto out;
	if (sv->mode == M_DIRECT) {
		serve_tls(sv, fd);
		goto out;
	}
	if (read_until(fd, buf, sizeof(buf), "version='1.0'>") != 0)
		goto out;
	if ((to = strstr(buf, "to='")) != NULL)
		sscanf(to + 4, "%255[^']", sv->to);
	switch (sv->mode) {
	case M_SILENT:
		wait_close(fd);
		break;
	case M_CUSTOM:
		/* A short write: the probe stopped reading (and closed).
		 * Without Nagle, each byte of the dribble is a segment. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
			   sizeof(int));
		for (size_t i = 0; i < sv->dribble; i++)
			(void)!send(fd, sv->custom + i, 1, MSG_NOSIGNAL);
		(void)!send(fd, sv->custom + sv->dribble,
			    sv->custom_len - sv->dribble, MSG_NOSIGNAL);
		if (!sv->custom_tls ||
		    read_until(fd, buf, sizeof(buf), "/>") != 0) {
			wait_close(fd);
			break;
		}
		sv->got_starttls = 1;
		send_str(fd, "<proceed xmlns='" NS_TLS "'/>");
		serve_tls(sv, fd);
		break;
	case M_STREAM_ERROR:
		send_str(fd, SRV_HEADER
			 "<stream:error><host-unknown "
			 "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
			 "</stream:error></stream:stream>");
		wait_close(fd);
		break;
	case M_NO_STARTTLS:
		send_str(fd, SRV_HEADER "<stream:features><mechanisms xmlns="
					"'urn:ietf:params:xml:ns:xmpp-sasl'>"
					"<mechanism>PLAIN</mechanism>"
					"</mechanisms></stream:features>");
		wait_close(fd);
		break;
	default:
		send_str(fd, SRV_HEADER);
		if (sv->mode == M_SPLIT)
			usleep(100 * 1000);
		send_str(fd, "<stream:features><starttls xmlns='" NS_TLS
			     "'><required/></starttls></stream:features>");
		if (read_until(fd, buf, sizeof(buf), "/>") != 0)
			break;
		sv->got_starttls =
		    strstr(buf, "<starttls xmlns='" NS_TLS "'/>") != NULL;
		if (sv->mode == M_FAILURE) {
			send_str(fd, "<failure xmlns='" NS_TLS
				     "'/></stream:stream>");
			wait_close(fd);
			break;
		}
		send_str(fd, "<proceed xmlns='" NS_TLS "'/>");
		serve_tls(sv, fd);
		break;
	}
out:
	close(fd);
	return NULL;
}

static void
srv_start(struct srv *sv, enum srv_mode mode)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;

	memset(sv, 0, sizeof(*sv));
	sv->mode = mode;
	sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv->lfd >= 0);
	setsockopt(sv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	assert_int_equal(listen(sv->lfd, 4), 0);
	assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&sin, &len),
			 0);
	sv->port = ntohs(sin.sin_port);
}

static void
srv_run(struct srv *sv)
{
	assert_int_equal(pthread_create(&sv->thread, NULL, serve, sv), 0);
}

static void
srv_stop(struct srv *sv)
{
	pthread_join(sv->thread, NULL);
	close(sv->lfd);
}

/* A port nothing listens on (just released). */
static uint16_t
dead_port(void)
{
	struct srv sv;
	uint16_t port;

	srv_start(&sv, M_SILENT);
	port = sv.port;
	close(sv.lfd);
	return port;
}

static const struct probe_addr loopback = {AF_INET, {127, 0, 0, 1}};

struct outcome {
	struct probe_result *res;
	int calls;
};

static void
on_done(struct probe_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->res = res;
}

static void
fixed_random(void *buf, size_t len)
{
	memset(buf, 0xab, len);
}

/* Runs one probe to its end. */
static struct probe_result *
run(const struct probe_opts *opts, const struct probe_req *req)
{
	struct event_base *base = event_base_new();
	struct outcome o = {NULL, 0};
	struct probe *p;

	assert_non_null(base);
	p = probe_start(base, opts, req, on_done, &o);
	assert_non_null(p);
	/* Never before probe_start() has returned. */
	assert_int_equal(o.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(o.calls, 1);
	event_base_free(base);
	return o.res;
}

static void
init_req(struct probe_req *req, uint16_t port, enum probe_tls tls)
{
	memset(req, 0, sizeof(*req));
	req->host = "xmpp.test";
	req->port = port;
	req->stream_to = "xmpp.test";
	req->sni = "sni.test";
	req->tls = tls;
	req->addrs = &loopback;
	req->naddrs = 1;
}

static void
init_opts(struct probe_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	o->allow_private = 1;
}

static void
assert_chain(const struct probe_result *r)
{
	assert_int_equal(r->nchain, 2);
	assert_int_equal(r->chain[0].len, leaf_der.size);
	assert_memory_equal(r->chain[0].der, leaf_der.data, leaf_der.size);
	assert_int_equal(r->chain[1].len, ca_der.size);
	assert_memory_equal(r->chain[1].der, ca_der.data, ca_der.size);
}

static void
test_starttls_ok(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_STARTTLS);
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	srv_stop(&sv);
	if (!r->ok)
		fail_msg("probe failed: %s: %s", probe_step_name(r->fail_step),
			 r->reason);
	assert_int_equal(r->fail_step, PROBE_STEP_NONE);
	assert_string_equal(r->reason, "");
	assert_int_equal(r->tls_refused, 0);
	assert_chain(r);
	assert_true(strcmp(r->tls_version, "TLS1.3") == 0 ||
		    strcmp(r->tls_version, "TLS1.2") == 0);
	assert_string_equal(r->alpn, "");
	assert_string_equal(sv.sni, "sni.test");
	assert_string_equal(sv.to, "xmpp.test");
	assert_int_equal(sv.got_starttls, 1);
	{
		char want[32];
		snprintf(want, sizeof(want), "127.0.0.1:%u", sv.port);
		assert_string_equal(r->peer, want);
	}
	assert_true(r->elapsed_ms < 5000);
	probe_result_free(r);
}

/* The features arrive in a second read: the probe must read on. */
static void
test_split_reads(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_SPLIT);
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	srv_stop(&sv);
	if (!r->ok)
		fail_msg("probe failed: %s: %s", probe_step_name(r->fail_step),
			 r->reason);
	assert_chain(r);
	probe_result_free(r);
}

static void
test_direct_alpn(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	int server;

	(void)state;
	for (server = 0; server <= 1; server++) {
		srv_start(&sv, M_DIRECT);
		srv_run(&sv);
		init_opts(&o);
		init_req(&req, sv.port, PROBE_DIRECT);
		req.server = server;
		req.sni = server ? "" : "sni.test";
		r = run(&o, &req);
		srv_stop(&sv);
		if (!r->ok)
			fail_msg("probe failed: %s", r->reason);
		assert_chain(r);
		assert_string_equal(r->alpn,
				    server ? "xmpp-server" : "xmpp-client");
		/* An empty SNI sends none. */
		assert_string_equal(sv.sni, server ? "" : "sni.test");
		probe_result_free(r);
	}
}

static void
test_tls_refused(void **state)
{
	enum srv_mode modes[] = {M_NO_STARTTLS, M_FAILURE};
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		srv_start(&sv, modes[i]);
		srv_run(&sv);
		init_opts(&o);
		init_req(&req, sv.port, PROBE_STARTTLS);
		r = run(&o, &req);
		srv_stop(&sv);
		assert_int_equal(r->ok, 0);
		assert_int_equal(r->fail_step, PROBE_STEP_STARTTLS);
		assert_int_equal(r->tls_refused, 1);
		assert_int_equal(r->nchain, 0);
		assert_non_null(
		    strstr(r->reason, i == 0 ? "no STARTTLS" : "<failure/>"));
		probe_result_free(r);
	}
}

/* The verdict of an endpoint with a secure, usable TLSA RRset whose only
 * probe gave `r`, with `matched` from dane_match (probe/check_ep.c passes
 * the same fields). */
static enum verdict
dane_verdict(const struct probe_result *r, int matched)
{
	struct verdict_input in = {
	    .srv = DNS_SEC_SECURE,
	    .addr = DNS_SEC_SECURE,
	    .tlsa = DNS_SEC_SECURE,
	    .tlsa_usable = 1,
	    .probe_ok = r->ok,
	    .tls_refused = r->tls_refused,
	    .key_refused = r->key_refused,
	    .matched = matched,
	};

	return verdict_endpoint(&in);
}

/* Runs one probe against a server that sends `custom` before TLS, the
 * first `dribble` bytes one per send(). */
static struct probe_result *
run_dribble(const char *custom, size_t len, int tls, size_t dribble)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	srv_start(&sv, M_CUSTOM);
	sv.custom = custom;
	sv.custom_len = len;
	sv.custom_tls = tls;
	sv.dribble = dribble;
	srv_run(&sv);
	init_opts(&o);
	if (dribble > 0)
		o.timeout_ms = 60000; /* the server's own pace, slow in ASan */
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	srv_stop(&sv);
	return r;
}

static struct probe_result *
run_custom(const char *custom, size_t len, int tls)
{
	return run_dribble(custom, len, tls, 0);
}

/* A server that sends `custom` and no more: the probe stops at a bound,
 * in step `stream`, with TLS withheld (mismatch with DANE) and `words`. */
static void
expect_withheld(const char *custom, size_t len, const char *words)
{
	struct probe_result *r = run_custom(custom, len, 0);

	assert_int_equal(r->ok, 0);
	assert_int_equal(r->fail_step, PROBE_STEP_STREAM);
	assert_int_equal(r->tls_refused, 1);
	if (strstr(r->reason, words) == NULL)
		fail_msg("reason '%s' lacks '%s'", r->reason, words);
	assert_int_equal(dane_verdict(r, 0), VERDICT_MISMATCH);
	probe_result_free(r);
}

#define STARTTLS_FEATURE "<starttls xmlns='" NS_TLS "'/>"

/*
 * Issue 13, item 2: what a client reads on past (a 1,500-byte id, a
 * feature nested 40 deep, 200 KiB of features) reaches TLS; a stream past
 * the bounds is TLS withheld, whether or not <starttls/> came first, so
 * with DANE it is a mismatch, never unreachable.
 */
static void
test_stream_bounds(void **state)
{
	size_t cap = XMLSTREAM_MAX_BYTES + 256 * 1024, off, i;
	char *b = malloc(cap);
	struct probe_result *r;

	(void)state;
	if (b == NULL)
		abort(); /* noreturn, unlike fail(): GCC's checks */

	/* A 1,500-byte id, 200 KiB of features, one nested 40 deep. */
	off = (size_t)sprintf(b, "<?xml version='1.0'?><stream:stream "
				 "xmlns='jabber:client' xmlns:stream="
				 "'http://etherx.jabber.org/streams' "
				 "version='1.0' id='");
	memset(b + off, 'i', 1500);
	off += 1500;
	off += (size_t)sprintf(b + off, "'><stream:features>");
	while (off < 200 * 1024)
		off += (size_t)sprintf(b + off, "<x xmlns='urn:example:junk'>"
						"junk</x>");
	for (i = 0; i < 40; i++)
		off += (size_t)sprintf(b + off, "<f xmlns='urn:example:f'>");
	for (i = 0; i < 40; i++)
		off += (size_t)sprintf(b + off, "</f>");
	off += (size_t)sprintf(b + off, STARTTLS_FEATURE "</stream:features>");
	r = run_custom(b, off, 1);
	if (!r->ok)
		fail_msg("probe failed: %s", r->reason);
	assert_chain(r);
	probe_result_free(r);

	/* Nested past the bound, no <starttls/>: TLS withheld. */
	off = (size_t)sprintf(b, SRV_HEADER "<stream:features>");
	for (i = 0; i < XMLSTREAM_MAX_DEPTH; i++)
		off += (size_t)sprintf(b + off, "<a>");
	expect_withheld(b, off,
			"with no <starttls/> offered: "
			"XML nested deeper than");

	/* <starttls/> offered, then more bytes than the bound in the same
	 * features: withheld too (an interceptor would offer it first). */
	off =
	    (size_t)sprintf(b, SRV_HEADER "<stream:features>" STARTTLS_FEATURE);
	while (off < XMLSTREAM_MAX_BYTES + 100)
		off += (size_t)sprintf(b + off, "<x/>");
	expect_withheld(b, off,
			"after <starttls/> was offered: "
			"more than 2097152 bytes");

	/* Malformed XML is not a bound: the client fails as well. */
	off = (size_t)sprintf(b, SRV_HEADER "<stream:features><a></b>");
	r = run_custom(b, off, 0);
	assert_int_equal(r->fail_step, PROBE_STEP_STREAM);
	assert_int_equal(r->tls_refused, 0);
	assert_non_null(strstr(r->reason, "invalid XML"));
	assert_int_equal(dane_verdict(r, 0), VERDICT_UNREACHABLE);
	probe_result_free(r);
	free(b);
}

/* CPU time of this thread, in ms. */
static double
thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A 768 KiB id sent a byte a segment: expat parses its unfinished token
 * again on every feed, so the probe reads less often while it is long: at
 * most 100 parses a second, whatever the server's pace.  Measured on the
 * 2-core test VM, CPU over the probe's time: 6-8 % (ASan too); reading at
 * once as bytes came (PROBE_SLOW_PENDING out of reach), 26 %.
 */
static void
test_stream_dribble(void **state)
{
	size_t idlen = 768 * 1024, cap = idlen + 1024, off;
	char *b = malloc(cap);
	struct probe_result *r;
	double cpu;

	(void)state;
	if (b == NULL)
		abort(); /* noreturn, unlike fail(): GCC's checks */
	off = (size_t)sprintf(b, "<?xml version='1.0'?><stream:stream "
				 "xmlns='jabber:client' xmlns:stream="
				 "'http://etherx.jabber.org/streams' "
				 "version='1.0' id='");
	memset(b + off, 'i', idlen);
	off += idlen;
	off += (size_t)sprintf(b + off, "'><stream:features>" STARTTLS_FEATURE
					"</stream:features>");
	cpu = thread_cpu_ms();
	r = run_dribble(b, off, 1, off - 100);
	cpu = thread_cpu_ms() - cpu;
	if (!r->ok)
		fail_msg("probe failed: %s", r->reason);
	print_message("dribbled %zu bytes: %.0f ms of CPU in the probe's "
		      "thread, %u ms\n",
		      off, cpu, r->elapsed_ms);
	assert_true(cpu < 0.15 * r->elapsed_ms);
	probe_result_free(r);
	free(b);
}

/*
 * The row probe/check_ep.c makes of probe result `r` (kept by the caller)
 * for xmpp.test:5222, SRV and addresses secure, with the TLSA answer `t`:
 * check_ep_match() and check_ep_decide() as a check runs them.  The caller
 * frees the result with check_result_free().
 */
static struct check_result *
ep_row(struct probe_result *r, struct dns_answer *t)
{
	struct check_env env;
	struct check c;
	struct ep e;
	struct ep_probe ap;
	struct check_result *res = calloc(1, sizeof(*res));

	assert_non_null(res);
	memset(&env, 0, sizeof(env));
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	snprintf(res->domain, sizeof(res->domain), "xmpp.test");
	snprintf(res->domain_u, sizeof(res->domain_u), "xmpp.test");
	res->endpoints = calloc(1, sizeof(*res->endpoints));
	assert_non_null(res->endpoints);
	res->nendpoints = 1;
	/* the host is the domain: no second probe with SNI = the target */
	snprintf(res->endpoints[0].host, sizeof(res->endpoints[0].host),
		 "xmpp.test");
	res->endpoints[0].port = 5222;
	res->endpoints[0].dnssec_srv = DNS_SEC_SECURE;
	res->endpoints[0].dnssec_addr = DNS_SEC_SECURE;
	c.env = &env;
	c.res = res;
	e.c = &c;
	e.row = &res->endpoints[0];
	e.phase = EP_MAIN;
	e.naddrs = 1;
	e.tlsa = t;
	memset(&ap, 0, sizeof(ap));
	ap.e = &e;
	ap.res = r; /* one address's probe, the caller's */
	snprintf(ap.addr_s, sizeof(ap.addr_s), "192.0.2.1");
	e.ap = &ap;
	e.nap = 1;
	e.nplan = 1;
	e.keys_done = 1; /* no second handshake here */
	assert_int_equal(check_ep_match(&e), 0);
	check_ep_decide(&e);
	return res;
}

static int
has_warning(const struct check_endpoint *row, const char *code)
{
	for (size_t i = 0; i < row->nwarnings; i++)
		if (strcmp(row->warnings[i].code, code) == 0)
			return 1;
	return 0;
}

/*
 * A leaf whose RSA key costs seconds to verify with (a 16,384-bit modulus
 * and exponent): the server's signature (TLS 1.3 CertificateVerify, TLS
 * 1.2 ServerKeyExchange) or, with TLS 1.2's RSA key exchange, the
 * encryption to it would hold the event loop.  The probe refuses the key
 * before GnuTLS uses it and keeps what the server presented, which a
 * secure usable TLSA RRset judges `mismatch` even where a record names
 * that key: the server never proved it holds it.
 */
static void
test_huge_key(void **state)
{
	static const struct {
		const char *prio, *what;
	} runs[] = {
	    {NULL, "TLS 1.3"},
	    {"NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLS 1.2, ECDHE-RSA"},
	    {"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
	     "TLS 1.2, RSA key exchange"},
	};
	static uint8_t e[2048];
	struct tcert huge;
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	struct dane_match m;
	/* a record for the key, and one for another key */
	struct dns_tlsa rec[2] = {{3, 1, 1, 32, NULL}, {3, 1, 1, 32, NULL}};
	uint8_t other[32] = {1};
	const struct dane_names names = {"xmpp.test", "xmpp.test", NULL, 0};
	struct dns_answer tlsa;
	struct check_result *row;
	char hex[65];
	uint8_t h[32];
	double cpu;
	size_t i;

	(void)state;
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, e, sizeof(e)), 0);
	e[0] |= 0x80;
	e[sizeof(e) - 1] |= 1;
	hugekey_cert(&huge, "CN=xmpp.test", "xmpp.test", 2048, e, sizeof(e), 0,
		     NULL, 2048, time(NULL));
	assert_int_equal(dane_spki_sha256(huge.der, huge.len, h), 0);
	rec[0].data = h;
	rec[1].data = other;
	memset(&tlsa, 0, sizeof(tlsa));
	tlsa.qtype = DNS_T_TLSA;
	tlsa.status = DNS_ANSWER;
	tlsa.sec = DNS_SEC_SECURE;
	tlsa.tlsa = rec;
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		srv_start(&sv, M_DIRECT);
		sv.leaf = &huge;
		sv.prio = runs[i].prio;
		srv_run(&sv);
		init_opts(&o);
		o.timeout_ms = 60000; /* unbounded, it took seconds */
		init_req(&req, sv.port, PROBE_DIRECT);
		cpu = thread_cpu_ms();
		r = run(&o, &req);
		cpu = thread_cpu_ms() - cpu;
		srv_stop(&sv);
		print_message("huge RSA leaf, %s: %.1f ms CPU, %u ms; %s: %s\n",
			      runs[i].what, cpu, r->elapsed_ms,
			      r->ok ? "ok" : probe_step_name(r->fail_step),
			      r->reason);
		assert_true(cpu < 50);
		assert_int_equal(r->ok, 1);
		assert_int_equal(r->key_refused, 1);
		assert_non_null(strstr(r->reason, "16384-bit modulus"));
		assert_non_null(strstr(r->reason, "16384-bit exponent"));
		assert_int_equal(r->nchain, 1);
		assert_int_equal(r->chain[0].len, huge.len);
		assert_memory_equal(r->chain[0].der, huge.der, huge.len);
		assert_string_equal(r->tls_version,
				    i == 0 ? "TLS1.3" : "TLS1.2");
		/* a record for that very key matches the chain, yet the
		 * verdict is mismatch: the key was never proved */
		dane_match(rec, 1, r->chain, r->nchain, &names, time(NULL),
			   NULL, &m);
		assert_int_equal(m.matched, 0);
		assert_int_equal(dane_verdict(r, m.matched >= 0),
				 VERDICT_MISMATCH);
		/* ... and so is the endpoint's row, with the key and why */
		tlsa.n = 2;
		row = ep_row(r, &tlsa);
		assert_int_equal(row->endpoints[0].verdict, VERDICT_MISMATCH);
		assert_null(row->endpoints[0].matched);
		assert_true(row->endpoints[0].have_key);
		dane_hex(h, 32, hex);
		assert_string_equal(row->endpoints[0].spki_sha256, hex);
		assert_non_null(strstr(row->endpoints[0].match_detail, hex));
		assert_non_null(strstr(row->endpoints[0].match_detail,
				       "16384-bit exponent"));
		assert_true(has_warning(&row->endpoints[0], "key-refused"));
		assert_false(has_warning(&row->endpoints[0], "stale-record"));
		assert_int_equal(row->endpoints[0].err_step, PROBE_STEP_NONE);
		check_result_free(row);
		/* a secure denial of TLSA: no-tlsa, and no record to publish
		 * for a key the server never proved */
		tlsa.n = 0;
		tlsa.status = DNS_NODATA;
		row = ep_row(r, &tlsa);
		assert_int_equal(row->endpoints[0].verdict, VERDICT_NO_TLSA);
		assert_int_equal(row->nsetup, 0);
		check_result_free(row);
		tlsa.status = DNS_ANSWER;
		probe_result_free(r);
	}
	hugekey_drop(&huge);
}

/* The bounds themselves: the costliest key allowed (a 16,384-bit modulus,
 * e = 2^32 - 1) is used (the server's random signature then fails, at
 * step tls); one bit more of modulus, or an exponent of 2^32 + 1, is
 * refused. */
static void
test_key_bounds(void **state)
{
	static const uint8_t emax[4] = {0xff, 0xff, 0xff, 0xff},
			     e33[5] = {1, 0, 0, 0, 1}, f4[3] = {1, 0, 1};
	static const struct {
		size_t nbytes;
		const uint8_t *e;
		size_t elen;
		const char *refused; /* NULL: allowed */
	} keys[] = {
	    {2048, emax, sizeof(emax), NULL},
	    {2049, f4, sizeof(f4), "16392-bit modulus, 17-bit exponent"},
	    {256, e33, sizeof(e33), "2048-bit modulus, 33-bit exponent"},
	};
	struct tcert key;
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		hugekey_cert(&key, "CN=xmpp.test", "xmpp.test", keys[i].nbytes,
			     keys[i].e, keys[i].elen, 0, NULL, 2048,
			     time(NULL));
		srv_start(&sv, M_DIRECT);
		sv.leaf = &key;
		srv_run(&sv);
		init_opts(&o);
		init_req(&req, sv.port, PROBE_DIRECT);
		r = run(&o, &req);
		srv_stop(&sv);
		if (keys[i].refused == NULL) {
			assert_int_equal(r->key_refused, 0);
			assert_int_equal(r->ok, 0);
			assert_int_equal(r->fail_step, PROBE_STEP_TLS);
			assert_int_equal(r->nchain, 0);
		} else {
			assert_int_equal(r->key_refused, 1);
			assert_int_equal(r->ok, 1);
			assert_int_equal(r->nchain, 1);
			assert_non_null(strstr(r->reason, keys[i].refused));
		}
		probe_result_free(r);
		hugekey_drop(&key);
	}
}

static void
test_silent_deadline(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_SILENT);
	srv_run(&sv);
	init_opts(&o);
	o.timeout_ms = 300;
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	srv_stop(&sv);
	assert_int_equal(r->ok, 0);
	assert_int_equal(r->fail_step, PROBE_STEP_STREAM);
	assert_string_equal(r->reason,
			    "timed out after 0.3 s during the XMPP stream");
	assert_true(r->elapsed_ms >= 290 && r->elapsed_ms < 3000);
	/* A time-out stays unreachable, even with DANE. */
	assert_int_equal(r->tls_refused, 0);
	assert_int_equal(dane_verdict(r, 0), VERDICT_UNREACHABLE);
	probe_result_free(r);

	/* Whole seconds read as such, and direct TLS times out in the
	 * handshake. */
	srv_start(&sv, M_SILENT);
	srv_run(&sv);
	o.timeout_ms = 1000;
	init_req(&req, sv.port, PROBE_DIRECT);
	/* M_SILENT waits for a stream header that never comes. */
	r = run(&o, &req);
	srv_stop(&sv);
	assert_int_equal(r->fail_step, PROBE_STEP_TLS);
	assert_string_equal(r->reason,
			    "timed out after 1 s during the TLS handshake");
	probe_result_free(r);
}

static void
test_stream_error(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_STREAM_ERROR);
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	srv_stop(&sv);
	assert_int_equal(r->fail_step, PROBE_STEP_STREAM);
	assert_string_equal(r->reason, "stream error: host-unknown");
	assert_int_equal(r->tls_refused, 0);
	probe_result_free(r);
}

static void
test_connection_refused(void **state)
{
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	init_opts(&o);
	init_req(&req, dead_port(), PROBE_STARTTLS);
	r = run(&o, &req);
	assert_int_equal(r->fail_step, PROBE_STEP_TCP);
	assert_string_equal(r->reason, "connection refused");
	probe_result_free(r);
}

/* The next address is tried when one refuses. */
static void
test_address_fallback(void **state)
{
	struct probe_addr addrs[2] = {{AF_INET, {127, 0, 0, 2}},
				      {AF_INET, {127, 0, 0, 1}}};
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_DIRECT);
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, PROBE_DIRECT);
	req.addrs = addrs;
	req.naddrs = 2;
	r = run(&o, &req);
	srv_stop(&sv);
	if (!r->ok)
		fail_msg("probe failed: %s", r->reason);
	assert_non_null(strstr(r->peer, "127.0.0.1:"));
	probe_result_free(r);
}

static void
test_private_refused(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	srv_start(&sv, M_SILENT);
	init_opts(&o);
	o.allow_private = 0;
	init_req(&req, sv.port, PROBE_STARTTLS);
	r = run(&o, &req);
	assert_int_equal(r->fail_step, PROBE_STEP_TCP);
	assert_non_null(strstr(r->reason, "private address 127.0.0.1"));
	/* Nothing reached the server. */
	{
		struct pollfd pfd = {.fd = sv.lfd, .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 0), 0);
	}
	close(sv.lfd);
	probe_result_free(r);

	init_req(&req, 5222, PROBE_STARTTLS);
	req.naddrs = 0;
	r = run(&o, &req);
	assert_int_equal(r->fail_step, PROBE_STEP_TCP);
	probe_result_free(r);
}

static void
test_socks_refusal(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	uint8_t codes[] = {0x04, 0x05, 0xf6, 0x42};
	const char *words[] = {"SOCKS: host unreachable",
			       "SOCKS: connection refused",
			       "SOCKS: invalid onion service address",
			       "SOCKS: unknown SOCKS reply 0x42"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(codes); i++) {
		srv_start(&sv, M_STARTTLS);
		sv.socks = 1;
		sv.socks_rep = codes[i];
		srv_run(&sv);
		init_opts(&o);
		o.allow_private = 0; /* the proxy itself may be loopback */
		o.via_socks = 1;
		o.socks_host = "127.0.0.1";
		o.socks_port = sv.port;
		init_req(&req, 5222, PROBE_STARTTLS);
		r = run(&o, &req);
		srv_stop(&sv);
		assert_int_equal(r->fail_step, PROBE_STEP_TOR);
		assert_string_equal(r->reason, words[i]);
		assert_string_equal(sv.socks_host, "xmpp.test");
		assert_int_equal(sv.socks_port, 5222);
		assert_string_equal(sv.socks_user, r->socks_user);
		assert_int_equal(strlen(r->socks_user), 32);
		probe_result_free(r);
	}
}

/* Through the proxy to the server, fresh credentials each time. */
static void
test_socks_ok(void **state)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;
	char first[64];
	char want[32];

	(void)state;
	srv_start(&sv, M_STARTTLS);
	sv.socks = 1;
	srv_run(&sv);
	init_opts(&o);
	o.via_socks = 1;
	o.socks_host = "127.0.0.1";
	o.socks_port = sv.port;
	init_req(&req, 5269, PROBE_STARTTLS);
	req.addrs = NULL;
	req.naddrs = 0;
	r = run(&o, &req);
	srv_stop(&sv);
	if (!r->ok)
		fail_msg("probe failed: %s: %s", probe_step_name(r->fail_step),
			 r->reason);
	assert_chain(r);
	assert_string_equal(sv.socks_host, "xmpp.test");
	assert_int_equal(sv.socks_port, 5269);
	assert_string_equal(sv.sni, "sni.test");
	snprintf(want, sizeof(want), "127.0.0.1:%u", sv.port);
	assert_string_equal(r->peer, want);
	snprintf(first, sizeof(first), "%s", r->socks_user);
	probe_result_free(r);

	srv_start(&sv, M_DIRECT);
	sv.socks = 1;
	srv_run(&sv);
	o.socks_port = sv.port;
	req.tls = PROBE_DIRECT;
	r = run(&o, &req);
	srv_stop(&sv);
	assert_int_equal(r->ok, 1);
	assert_string_equal(r->alpn, "xmpp-client");
	assert_string_not_equal(r->socks_user, first);
	assert_string_not_equal(sv.socks_pass, "");
	probe_result_free(r);

	/* Given credentials and an injected random source. */
	srv_start(&sv, M_STARTTLS);
	sv.socks = 1;
	sv.socks_rep = 1;
	srv_run(&sv);
	o.socks_port = sv.port;
	o.socks_user = "alice";
	o.random = fixed_random;
	r = run(&o, &req);
	srv_stop(&sv);
	assert_string_equal(r->reason, "SOCKS: general SOCKS server failure");
	assert_string_equal(sv.socks_user, "alice");
	assert_string_equal(sv.socks_pass, "abababababababababababababababab");
	probe_result_free(r);

	/* Tor's reserved prefix is refused before anything is sent. */
	srv_start(&sv, M_STARTTLS);
	sv.socks = 1;
	srv_run(&sv);
	o.socks_port = sv.port;
	o.socks_user = "<torS0X>1";
	r = run(&o, &req);
	srv_stop(&sv);
	assert_int_equal(r->fail_step, PROBE_STEP_TOR);
	assert_non_null(strstr(r->reason, "<torS0X>"));
	probe_result_free(r);

	/* A user name over 255 bytes is refused, not cut. */
	{
		char longname[300];

		memset(longname, 'u', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		srv_start(&sv, M_STARTTLS);
		sv.socks = 1;
		srv_run(&sv);
		o.socks_port = sv.port;
		o.socks_user = longname;
		r = run(&o, &req);
		srv_stop(&sv);
		assert_int_equal(r->fail_step, PROBE_STEP_TOR);
		assert_non_null(strstr(r->reason, "255"));
		probe_result_free(r);
	}
}

static void
test_socks_proxy_down(void **state)
{
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	(void)state;
	init_opts(&o);
	o.via_socks = 1;
	o.socks_host = "127.0.0.1";
	o.socks_port = dead_port();
	init_req(&req, 5222, PROBE_STARTTLS);
	r = run(&o, &req);
	assert_int_equal(r->fail_step, PROBE_STEP_TOR);
	assert_non_null(strstr(r->reason, "connection refused"));
	probe_result_free(r);

	o.socks_host = "localhost";
	r = run(&o, &req);
	assert_int_equal(r->fail_step, PROBE_STEP_TOR);
	probe_result_free(r);
}

static void
test_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct outcome out = {NULL, 0};
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe *p;
	struct timeval tv = {0, 100000};

	(void)state;
	srv_start(&sv, M_SILENT);
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, PROBE_STARTTLS);
	p = probe_start(base, &o, &req, on_done, &out);
	assert_non_null(p);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	probe_cancel(p);
	event_base_dispatch(base);
	assert_int_equal(out.calls, 0);
	srv_stop(&sv);

	/* Cancelled after it ended but before its callback ran. */
	init_req(&req, dead_port(), PROBE_STARTTLS);
	p = probe_start(base, &o, &req, on_done, &out);
	probe_cancel(p);
	event_base_dispatch(base);
	assert_int_equal(out.calls, 0);
	event_base_free(base);
}

static void
check_private(int family, const char *s, int want)
{
	struct probe_addr a;

	memset(&a, 0, sizeof(a));
	a.family = family;
	assert_int_equal(inet_pton(family, s, a.addr), 1);
	if (probe_addr_is_private(&a) != want)
		fail_msg("%s: want %d", s, want);
}

static void
test_private_table(void **state)
{
	static const char *v4_private[] = {
	    "0.0.0.0",	       "0.1.2.3",	 "10.0.0.1",
	    "10.255.255.255",  "100.64.0.1",	 "100.127.255.255",
	    "127.0.0.1",       "127.9.9.9",	 "169.254.1.1",
	    "172.16.0.1",      "172.31.255.255", "192.0.0.8",
	    "192.0.2.1",       "192.168.1.1",	 "198.18.0.1",
	    "198.19.255.255",  "198.51.100.7",	 "203.0.113.9",
	    "224.0.0.1",       "239.1.1.1",	 "240.0.0.1",
	    "255.255.255.255",
	};
	static const char *v4_public[] = {
	    "1.1.1.1",	       "8.8.8.8",	  "100.63.255.255",
	    "100.128.0.0",     "172.15.255.255",  "172.32.0.0",
	    "192.0.1.1",       "192.0.3.1",	  "192.169.0.1",
	    "198.17.255.255",  "198.20.0.0",	  "198.51.101.1",
	    "203.0.114.1",     "223.255.255.255", "11.0.0.1",
	    "126.255.255.255", "128.0.0.1",	  "169.253.1.1",
	};
	static const char *v6_private[] = {
	    "::",
	    "::1",
	    "fc00::1",
	    "fdff:ffff::1",
	    "fe80::1",
	    "febf::1",
	    "ff02::1",
	    "2001:db8::1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.1.2.3",
	    "64:ff9b::192.168.0.1",
	    "64:ff9b::7f00:1",
	    /* IPv4-compatible, IPv4-translated, local-use NAT64,
	     * site-local, and the rest of RFC 6890's registry */
	    "::2",
	    "::8.8.8.8",
	    "::ffff:0:8.8.8.8",
	    "::ffff:0:127.0.0.1",
	    "64:ff9b:1::8.8.8.8",
	    "64:ff9b:1:ffff::1",
	    "fec0::1",
	    "feff::1",
	    "100::1",
	    "100:0:0:1::1",
	    "2001::1",
	    "2001:2::1",
	    "2001:1ff::1",
	    "3fff::1",
	    "3fff:fff::1",
	    "5f00::1",
	    "2002:c0a8:101::1",
	    "2002:7f00:1::1",
	};
	static const char *v6_public[] = {
	    "2001:4860::8888",	"2a01::1",	"::ffff:8.8.8.8",
	    "64:ff9b::8.8.8.8", "2001:db9::1",	"64:ff9b:2::1",
	    "100:0:0:2::1",	"101::1",	"2001:3::1",
	    "2001:4:112::1",	"2001:20::1",	"2001:3f::1",
	    "2001:200::1",	"3fff:1000::1", "2002:808:808::1",
	    "5f01::1",		"fe7f::1",
	};
	size_t i;
	struct probe_addr bad;

	(void)state;
	for (i = 0; i < sizeof(v4_private) / sizeof(*v4_private); i++)
		check_private(AF_INET, v4_private[i], 1);
	for (i = 0; i < sizeof(v4_public) / sizeof(*v4_public); i++)
		check_private(AF_INET, v4_public[i], 0);
	for (i = 0; i < sizeof(v6_private) / sizeof(*v6_private); i++)
		check_private(AF_INET6, v6_private[i], 1);
	for (i = 0; i < sizeof(v6_public) / sizeof(*v6_public); i++)
		check_private(AF_INET6, v6_public[i], 0);
	memset(&bad, 0, sizeof(bad));
	bad.family = 12345;
	assert_int_equal(probe_addr_is_private(&bad), 1);
}

static void
set_addr(struct probe_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, a->addr), 1);
}

/* One private address among public ones skips that address only: the
 * endpoint is still probed at the others, in DNS order. */
static void
test_private_skipped(void **state)
{
	static const char *mixed[] = {"10.0.0.1", "192.0.2.80", "8.8.8.8",
				      "::1",	  "2a01::1",	"fec0::1"};
	struct probe_addr addrs[6], first, want;
	char ip[INET6_ADDRSTRLEN];
	size_t n = 6;

	(void)state;
	for (size_t i = 0; i < n; i++)
		set_addr(&addrs[i], mixed[i]);
	assert_int_equal(check_addrs_drop_private(addrs, &n, &first), 4);
	assert_int_equal(n, 2);
	set_addr(&want, "10.0.0.1");
	assert_memory_equal(&first, &want, sizeof(want));
	assert_non_null(inet_ntop(AF_INET, addrs[0].addr, ip, sizeof(ip)));
	assert_string_equal(ip, "8.8.8.8");
	assert_non_null(inet_ntop(AF_INET6, addrs[1].addr, ip, sizeof(ip)));
	assert_string_equal(ip, "2a01::1");

	/* Only private ones: nothing is left to probe. */
	n = 2;
	set_addr(&addrs[0], "127.0.0.1");
	set_addr(&addrs[1], "::ffff:0:127.0.0.1");
	assert_int_equal(check_addrs_drop_private(addrs, &n, NULL), 2);
	assert_int_equal(n, 0);

	/* Only public ones: untouched. */
	n = 1;
	set_addr(&addrs[0], "1.1.1.1");
	assert_int_equal(check_addrs_drop_private(addrs, &n, NULL), 0);
	assert_int_equal(n, 1);
}

/* Every TLSA record comes out whole, however long (a DNS message holds
 * up to 65,535 bytes); before, records over 4 KB came out empty. */
static void
test_tlsa_line(void **state)
{
	static const size_t sizes[] = {0, 32, 4096, 4097, 5000, 65532};
	static uint8_t data[65532];
	struct dns_tlsa t = {
	    .usage = 3, .selector = 0, .mtype = 0, .data = data};

	(void)state;
	memset(data, 0xab, sizeof(data));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t.len = sizes[i];
		char *line = check_tlsa_line(&t);
		assert_int_equal(strlen(line), 5 + (t.len ? 1 + 2 * t.len : 0));
		assert_memory_equal(line, "3 0 0", 5);
		if (t.len)
			assert_string_equal(line + 6 + 2 * t.len - 4, "abab");
		free(line);
	}
}

static void
test_step_names(void **state)
{
	(void)state;
	assert_null(probe_step_name(PROBE_STEP_NONE));
	assert_string_equal(probe_step_name(PROBE_STEP_INPUT), "input");
	assert_string_equal(probe_step_name(PROBE_STEP_DNS), "dns");
	assert_string_equal(probe_step_name(PROBE_STEP_TOR), "tor");
	assert_string_equal(probe_step_name(PROBE_STEP_TCP), "tcp");
	assert_string_equal(probe_step_name(PROBE_STEP_STREAM), "stream");
	assert_string_equal(probe_step_name(PROBE_STEP_STARTTLS), "starttls");
	assert_string_equal(probe_step_name(PROBE_STEP_TLS), "tls");
	probe_result_free(NULL);
}

/* ---- the stream after TLS (probe/tlsfeat.c, XEP-0440) ------------------ */

static struct probe_result *
run_after_tls_as(const char *after, size_t len, enum probe_tls tls, int server)
{
	struct srv sv;
	struct probe_opts o;
	struct probe_req req;
	struct probe_result *r;

	srv_start(&sv, tls == PROBE_DIRECT ? M_DIRECT : M_STARTTLS);
	sv.after_tls = after;
	sv.after_len = len;
	srv_run(&sv);
	init_opts(&o);
	init_req(&req, sv.port, tls);
	req.server = server;
	r = run(&o, &req);
	srv_stop(&sv);
	/* Whatever the second stream does, the chain is judged. */
	if (!r->ok)
		fail_msg("probe failed: %s", r->reason);
	assert_int_equal(r->fail_step, PROBE_STEP_NONE);
	assert_string_equal(r->reason, "");
	assert_chain(r);
	return r;
}

static struct probe_result *
run_after_tls(const char *after, size_t len, enum probe_tls tls)
{
	return run_after_tls_as(after, len, tls, 0);
}

#define CB_FEATURES                                                            \
	SRV_HEADER                                                             \
	"<stream:features><mechanisms "                                        \
	"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1"      \
	"</mechanism><mechanism> SCRAM-SHA-1-PLUS\n</mechanism>"               \
	"<mechanism>bad name</mechanism></mechanisms>"                         \
	"<authentication "                                                     \
	"xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS"                \
	"</mechanism><mechanism>SCRAM-SHA-1</mechanism></authentication>"      \
	"<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"                    \
	"<channel-binding type='tls-unique'/>"                                 \
	"<channel-binding type='tls-exporter'/></sasl-channel-binding>"        \
	"</stream:features>"

static void
test_features_offered(void **state)
{
	static const enum probe_tls modes[] = {PROBE_STARTTLS, PROBE_DIRECT};
	struct probe_result *r;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		r = run_after_tls(CB_FEATURES, strlen(CB_FEATURES), modes[i]);
		assert_int_equal(r->features.state, PROBE_FEAT_READ);
		assert_int_equal(r->features.sasl.nmechs, 3);
		assert_string_equal(r->features.sasl.mechs[0], "SCRAM-SHA-1");
		assert_string_equal(r->features.sasl.mechs[1],
				    "SCRAM-SHA-1-PLUS");
		assert_string_equal(r->features.sasl.mechs[2],
				    "SCRAM-SHA-256-PLUS");
		assert_int_equal(r->features.sasl.dropped, 1);
		assert_int_equal(r->features.sasl.sasl2, 1);
		assert_int_equal(r->features.sasl.ntypes, 2);
		assert_int_equal(probe_cb_state(&r->features),
				 PROBE_CB_OFFERED);
		assert_int_equal(probe_cb_usable(&r->features, "TLS1.3"), 1);
		probe_result_free(r);
	}
}

/* A server offering PLAIN only: read, no channel binding. */
static void
test_features_plain(void **state)
{
	static const char plain[] = SRV_HEADER
	    "<stream:features><mechanisms "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN"
	    "</mechanism></mechanisms></stream:features>";
	struct probe_result *r;

	(void)state;
	r = run_after_tls(plain, sizeof(plain) - 1, PROBE_STARTTLS);
	assert_int_equal(r->features.state, PROBE_FEAT_READ);
	assert_int_equal(r->features.sasl.nmechs, 1);
	assert_int_equal(probe_cb_state(&r->features), PROBE_CB_NONE);
	assert_int_equal(probe_cb_usable(&r->features, r->tls_version), -1);
	probe_result_free(r);
}

/* RFC 9266: tls-unique alone is no use under TLS 1.3. */
static void
test_features_usable(void **state)
{
	struct probe_features f;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.state = PROBE_FEAT_READ;
	snprintf(f.sasl.mechs[0], sizeof(f.sasl.mechs[0]), "SCRAM-SHA-1-PLUS");
	f.sasl.nmechs = 1;
	assert_int_equal(probe_cb_usable(&f, "TLS1.3"), -1);
	f.sasl.cb_list = 1;
	snprintf(f.sasl.types[0], sizeof(f.sasl.types[0]), "tls-unique");
	f.sasl.ntypes = 1;
	assert_int_equal(probe_cb_usable(&f, "TLS1.3"), 0);
	assert_int_equal(probe_cb_usable(&f, "TLS1.2"), 1);
	snprintf(f.sasl.mechs[0], sizeof(f.sasl.mechs[0]), "PLAIN");
	assert_int_equal(probe_cb_state(&f), PROBE_CB_NONE);
	f.state = PROBE_FEAT_FAILED;
	assert_int_equal(probe_cb_state(&f), PROBE_CB_UNKNOWN);
}

/* Garbage, a feature list past the reader's bounds, a stream error, or
 * silence after TLS: channel binding is unknown, and the chain is kept
 * with ok set, within the second stream's time bound. */
static void
test_features_hostile(void **state)
{
	static const char garbage[] = "\x16\x03\x01 not XML at all <<<";
	static const char err[] = SRV_HEADER
	    "<stream:error><host-unknown "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
	size_t big = XMLSTREAM_MAX_BYTES + 4096, n;
	char *huge = malloc(big);
	struct probe_result *r;
	const char *mech = "<mechanism>SCRAM-SHA-1-PLUS</mechanism>";

	(void)state;
	assert_non_null(huge);
	n = (size_t)snprintf(huge, big,
			     "%s<stream:features><mechanisms "
			     "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
			     SRV_HEADER);
	while (n + strlen(mech) < big) {
		memcpy(huge + n, mech, strlen(mech));
		n += strlen(mech);
	}
	r = run_after_tls(garbage, sizeof(garbage) - 1, PROBE_STARTTLS);
	assert_int_equal(probe_cb_state(&r->features), PROBE_CB_UNKNOWN);
	assert_non_null(strstr(r->features.reason, "malformed"));
	probe_result_free(r);

	r = run_after_tls(huge, n, PROBE_STARTTLS);
	assert_int_equal(probe_cb_state(&r->features), PROBE_CB_UNKNOWN);
	assert_non_null(strstr(r->features.reason, "bounds"));
	probe_result_free(r);
	free(huge);

	r = run_after_tls(err, sizeof(err) - 1, PROBE_DIRECT);
	assert_int_equal(probe_cb_state(&r->features), PROBE_CB_UNKNOWN);
	assert_non_null(strstr(r->features.reason, "host-unknown"));
	probe_result_free(r);

	/* Silence: at most a quarter of the 5 s probe time is spent. */
	r = run_after_tls(NULL, 0, PROBE_STARTTLS);
	assert_int_equal(probe_cb_state(&r->features), PROBE_CB_UNKNOWN);
	assert_true(r->elapsed_ms < 3000);
	probe_result_free(r);
}

/* A s2s probe never opens a second stream. */
static void
test_features_s2s(void **state)
{
	struct probe_result *r;

	(void)state;
	r = run_after_tls_as(CB_FEATURES, strlen(CB_FEATURES), PROBE_STARTTLS,
			     1);
	assert_int_equal(r->features.state, PROBE_FEAT_NOT_TRIED);
	probe_result_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_private_table),
	    cmocka_unit_test(test_private_skipped),
	    cmocka_unit_test(test_tlsa_line),
	    cmocka_unit_test(test_step_names),
	    cmocka_unit_test(test_starttls_ok),
	    cmocka_unit_test(test_features_offered),
	    cmocka_unit_test(test_features_usable),
	    cmocka_unit_test(test_features_plain),
	    cmocka_unit_test(test_features_hostile),
	    cmocka_unit_test(test_features_s2s),
	    cmocka_unit_test(test_split_reads),
	    cmocka_unit_test(test_direct_alpn),
	    cmocka_unit_test(test_tls_refused),
	    cmocka_unit_test(test_stream_bounds),
	    cmocka_unit_test(test_stream_dribble),
	    cmocka_unit_test(test_huge_key),
	    cmocka_unit_test(test_key_bounds),
	    cmocka_unit_test(test_silent_deadline),
	    cmocka_unit_test(test_stream_error),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_address_fallback),
	    cmocka_unit_test(test_private_refused),
	    cmocka_unit_test(test_socks_refusal),
	    cmocka_unit_test(test_socks_ok),
	    cmocka_unit_test(test_socks_proxy_down),
	    cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
