/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * lex.h - the lexical layer of the shard parser (lex.c, parse.c), private
 * to store/: the parser's state and the readers of its lines and fields.
 * Each reader returns 0, or -1 for what does not parse (lex_fail also
 * writes the first error, "line N: ...", and marks the parse failed).
 */
#ifndef CERTWATCH_STORE_LEX_H
#define CERTWATCH_STORE_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_int.h"

struct pctx {
	struct store *st;
	const char *buf;
	size_t len, pos;
	unsigned lineno;
	char line[STORE_LINE_MAX + 1]; /* the current line, decoded in place */
	char *cur;		       /* the part of it not yet read */
	size_t line_start;	       /* offset of the current line */
	int rewound; /* the current line is to be read again */
	char *err;
	size_t errlen;
	int failed;
	unsigned origin;
	uint64_t gen;
	size_t records, kept;
	char *arena; /* copies of a record's strings */
	size_t arena_len, arena_cap;
	void *list, *list2;	 /* a record's chat and pubsub lines */
	struct store_seen *seen; /* a record's seen lines
				  * [STORE_SEEN_MAX] */
	int had_split;		 /* the record had its split line */
	size_t list_cap, list2_cap;
};

int lex_fail(struct pctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copies the next line into c->line.  1 a line, 0 end of input, -1 a line
 * that is too long or holds a control byte. */
int lex_next_line(struct pctx *c);
/* The next space-separated field of the line, decoded; *out NULL for "-". */
int lex_field(struct pctx *c, char **out);
/* The rest of the line as text (the last field). */
int lex_text(struct pctx *c, char **out);
/* 0 when the line has nothing left. */
int lex_done(struct pctx *c);
/* A decimal number in [min, max]. */
int lex_num(struct pctx *c, int64_t min, int64_t max, int64_t *out);
/* A word (store_word_ok); "-" is NULL, refused when required. */
int lex_word(struct pctx *c, char **out, int required);
/* A name of at most max bytes; lex_opt_name also takes "-" (NULL). */
int lex_name(struct pctx *c, char **out, size_t max);
int lex_opt_name(struct pctx *c, char **out, size_t max);
/* Keeps a copy of a string of the record being applied until its end. */
const char *lex_keep(struct pctx *c, const char *s);

#endif
