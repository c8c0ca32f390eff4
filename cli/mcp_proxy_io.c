/*
 * mcp_proxy_io.c - keyward mcp proxy's two ends of the stdio transport:
 * newline-delimited JSON-RPC messages read from fd 0, and the server's
 * messages written to fd 1, one a line, whole and in order.
 *
 * Neither descriptor is made non-blocking: they may be shared with other
 * processes (a terminal), and O_NONBLOCK belongs to the open file, not to
 * us. fd 0 is read only after poll says it is readable (a read then
 * returns what is there); fd 1 is written in pieces of at most PIPE_BUF
 * bytes, each after poll says it is writable (a pipe or socket then takes
 * the piece without blocking).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mcp_proxy.h"
#include "secmem.h"

#define READ_CHUNK   65536
#define WRITE_BUDGET (4u << 20) /* per call, so the loop goes round */

struct proxy_outmsg {
	struct proxy_outmsg *next;
	size_t len;
	char data[];
};

/* Add n bytes to the line being read, or to the scan of a long one. */
static int in_add(struct proxy_in *in, const char *p, size_t n)
{
	if (in->too_long) {
		pmsg_idscan_feed(&in->scan, p, n);
		in->dropped += n;
		return 0;
	}
	if (n > PROXY_MSG_MAX - in->len) {
		/* Too long: scan for its id what was kept and what follows. */
		in->too_long = true;
		memset(&in->scan, 0, sizeof(in->scan));
		pmsg_idscan_feed(&in->scan, in->buf, in->len);
		in->dropped = in->len;
		if (in->buf)
			sodium_memzero(in->buf, in->len);
		in->len = 0;
		return in_add(in, p, n);
	}
	if (in->len + n > in->cap) {
		size_t ncap = in->cap ? in->cap : 65536;
		char *nb;

		while (ncap < in->len + n)
			ncap *= 2;
		if (ncap > PROXY_MSG_MAX)
			ncap = PROXY_MSG_MAX;
		nb = kw_wipealloc(ncap);
		if (!nb)
			return KW_ENOMEM;
		if (in->len)
			memcpy(nb, in->buf, in->len);
		kw_wipefree(in->buf);
		in->buf = nb;
		in->cap = ncap;
	}
	memcpy(in->buf + in->len, p, n);
	in->len += n;
	return 0;
}

/* The line is complete: hand it on. */
static void in_end(struct proxy_in *in, proxy_line_fn line,
                   proxy_toolong_fn toolong, void *arg)
{
	if (in->too_long) {
		json_t *id = pmsg_idscan_id(&in->scan);

		toolong(arg, id, in->dropped);
		json_decref(id);
		in->too_long = false;
		in->dropped = 0;
	} else if (in->len > 0) {
		line(arg, in->buf, in->len);
		sodium_memzero(in->buf, in->len);
	}
	in->len = 0;
}

int proxy_in_read(struct proxy_in *in, proxy_line_fn line,
                  proxy_toolong_fn toolong, void *arg)
{
	char chunk[READ_CHUNK];
	ssize_t n = read(0, chunk, sizeof(chunk));
	int r = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* A last message without its newline still counts. */
		in_end(in, line, toolong, arg);
		in->eof = true;
		return n < 0 ? KW_EIO : 0;
	}
	for (size_t i = 0; i < (size_t)n && r == 0;) {
		const char *nl = memchr(chunk + i, '\n', (size_t)n - i);
		size_t seg = nl ? (size_t)(nl - (chunk + i)) : (size_t)n - i;

		r = in_add(in, chunk + i, seg);
		i += seg;
		if (nl && r == 0) {
			in_end(in, line, toolong, arg);
			i++;
		}
	}
	sodium_memzero(chunk, (size_t)n);
	return r;
}

void proxy_in_free(struct proxy_in *in)
{
	kw_wipefree(in->buf);
	memset(in, 0, sizeof(*in));
}

int proxy_out_push(struct proxy_out *o, const char *msg, size_t len)
{
	struct proxy_outmsg *m;

	if (o->broken)
		return 0;
	m = kw_wipealloc(sizeof(*m) + len + 1);
	if (!m)
		return KW_ENOMEM;
	m->next = NULL;
	m->len = len + 1;
	/* CR and LF in a JSON text are blanks between tokens (a string
	 * cannot hold them raw): one message, one line. */
	for (size_t i = 0; i < len; i++)
		m->data[i] = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
	m->data[len] = '\n';
	if (o->tail)
		o->tail->next = m;
	else
		o->head = m;
	o->tail = m;
	o->queued += m->len;
	return 0;
}

static void out_drop(struct proxy_out *o)
{
	while (o->head) {
		struct proxy_outmsg *m = o->head;

		o->head = m->next;
		kw_wipefree(m);
	}
	o->tail = NULL;
	o->queued = o->off = 0;
}

int proxy_out_write(struct proxy_out *o)
{
	size_t budget = WRITE_BUDGET;

	while (o->head && budget > 0) {
		struct pollfd pfd = { .fd = 1, .events = POLLOUT };
		struct proxy_outmsg *m = o->head;
		size_t n = m->len - o->off;
		ssize_t w;

		/* On POLLERR or POLLHUP the write says whether it is gone. */
		if (poll(&pfd, 1, 0) <= 0 ||
		    !(pfd.revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		if (n > PIPE_BUF)
			n = PIPE_BUF;
		w = write(1, m->data + o->off, n);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			o->broken = true;
			out_drop(o);
			return KW_EIO;
		}
		o->off += (size_t)w;
		o->queued -= (size_t)w;
		budget -= (size_t)w < budget ? (size_t)w : budget;
		if (o->off == m->len) {
			o->head = m->next;
			if (!o->head)
				o->tail = NULL;
			o->off = 0;
			kw_wipefree(m);
		}
	}
	return 0;
}

void proxy_out_free(struct proxy_out *o)
{
	out_drop(o);
}
