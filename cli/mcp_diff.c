/*
 * mcp_diff.c - the unified line diff `keyward mcp import --dry-run` shows
 * (mcp.h). Small on purpose: the inputs are one config before and after
 * a rewrite, whose changes sit in a few servers' entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "mcp.h"

#define CONTEXT 3
/* Cells of the LCS table at most (2 bytes each). */
#define TABLE_MAX (4u << 20)

struct line {
	const char *s;
	size_t len;
	bool no_eol; /* the file's last line, without '\n' */
};

struct op {
	char kind;   /* ' ', '-', '+' */
	size_t a, b; /* line indices in a and b before this op */
};

static int split(const char *t, size_t len, struct line **ret, size_t *ret_n)
{
	size_t n = 0, i = 0;
	for (size_t k = 0; k < len; k++)
		n += t[k] == '\n';
	n += len > 0 && t[len - 1] != '\n';
	struct line *l = calloc(n ? n : 1, sizeof(*l));
	if (!l)
		return KW_ENOMEM;
	for (size_t at = 0; at < len; i++) {
		const char *nl = memchr(t + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - t) : len;
		l[i] = (struct line){ t + at, end - at, nl == NULL };
		at = end + 1;
	}
	*ret = l;
	*ret_n = n;
	return 0;
}

static bool same(const struct line *x, const struct line *y)
{
	return x->len == y->len && x->no_eol == y->no_eol &&
	       memcmp(x->s, y->s, x->len) == 0;
}

struct script {
	struct op *ops;
	size_t n;
};

static void push(struct script *sc, char kind, size_t a, size_t b)
{
	sc->ops[sc->n++] = (struct op){ kind, a, b };
}

/* The middle a[p, p+N) against b[p, p+M): an LCS walk when the table is
 * small enough, else all removed then all added. */
static int diff_middle(const struct line *a, const struct line *b, size_t pa,
                       size_t pb, size_t N, size_t M, struct script *sc)
{
	size_t i = 0, j = 0;

	if (N > 0 && M > 0 && (N + 1) * (M + 1) <= TABLE_MAX) {
		uint16_t *L = calloc((N + 1) * (M + 1), sizeof(*L));
		if (!L)
			return KW_ENOMEM;
		for (size_t x = N; x-- > 0;)
			for (size_t y = M; y-- > 0;) {
				uint16_t *c = &L[x * (M + 1) + y];
				if (same(&a[pa + x], &b[pb + y]))
					*c = L[(x + 1) * (M + 1) + y + 1] + 1;
				else {
					uint16_t d = L[(x + 1) * (M + 1) + y];
					uint16_t r = L[x * (M + 1) + y + 1];
					*c = d > r ? d : r;
				}
			}
		while (i < N && j < M) {
			if (same(&a[pa + i], &b[pb + j])) {
				push(sc, ' ', pa + i, pb + j);
				i++;
				j++;
			} else if (L[(i + 1) * (M + 1) + j] >=
			           L[i * (M + 1) + j + 1]) {
				push(sc, '-', pa + i, pb + j);
				i++;
			} else {
				push(sc, '+', pa + i, pb + j);
				j++;
			}
		}
		free(L);
	}
	for (; i < N; i++)
		push(sc, '-', pa + i, pb + j);
	for (; j < M; j++)
		push(sc, '+', pa + N, pb + j);
	return 0;
}

static void print_line(FILE *f, char kind, const struct line *l)
{
	fputc(kind, f);
	fwrite(l->s, 1, l->len, f);
	fputc('\n', f);
	if (l->no_eol)
		fputs("\\ No newline at end of file\n", f);
}

static void print_hunk(FILE *f, const struct script *sc, size_t from, size_t to,
                       const struct line *a, const struct line *b)
{
	size_t na = 0, nb = 0;
	for (size_t k = from; k < to; k++) {
		na += sc->ops[k].kind != '+';
		nb += sc->ops[k].kind != '-';
	}
	size_t sa = sc->ops[from].a + (na > 0), sb = sc->ops[from].b + (nb > 0);
	fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", sa, na, sb, nb);
	for (size_t k = from; k < to; k++) {
		const struct op *o = &sc->ops[k];
		print_line(f, o->kind, o->kind == '+' ? &b[o->b] : &a[o->a]);
	}
}

/* Group changes less than 2 * CONTEXT + 1 equal lines apart. */
static void print_hunks(FILE *f, const struct script *sc, const struct line *a,
                        const struct line *b)
{
	size_t i = 0, done = 0;
	while (i < sc->n) {
		if (sc->ops[i].kind == ' ') {
			i++;
			continue;
		}
		size_t start = i >= done + CONTEXT ? i - CONTEXT : done;
		size_t last = i, j = i;
		for (; j < sc->n; j++) {
			if (sc->ops[j].kind != ' ')
				last = j;
			else if (j - last > 2 * CONTEXT)
				break;
		}
		size_t end = last + 1 + CONTEXT;
		if (end > sc->n)
			end = sc->n;
		print_hunk(f, sc, start, end, a, b);
		done = i = end;
	}
}

int mcp_diff(FILE *f, const char *label_a, const char *a, size_t alen,
             const char *label_b, const char *b, size_t blen)
{
	struct line *la = NULL, *lb = NULL;
	size_t n, m, p = 0, s = 0;
	struct script sc = { 0 };
	int r;

	if ((r = split(a, alen, &la, &n)) || (r = split(b, blen, &lb, &m)))
		goto out;
	while (p < n && p < m && same(&la[p], &lb[p]))
		p++;
	while (s < n - p && s < m - p && same(&la[n - 1 - s], &lb[m - 1 - s]))
		s++;
	if (p == n && p == m)
		goto out;
	r = KW_ENOMEM;
	if (!(sc.ops = calloc(n + m, sizeof(*sc.ops))))
		goto out;
	for (size_t k = 0; k < p; k++)
		push(&sc, ' ', k, k);
	if ((r = diff_middle(la, lb, p, p, n - p - s, m - p - s, &sc)))
		goto out;
	for (size_t k = 0; k < s; k++)
		push(&sc, ' ', n - s + k, m - s + k);
	fprintf(f, "--- %s\n+++ %s\n", label_a, label_b);
	print_hunks(f, &sc, la, lb);
out:
	free(sc.ops);
	free(la);
	free(lb);
	return r;
}
