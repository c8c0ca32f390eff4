/*
 * methods_store.c - store.backup: a consistent copy of the still-encrypted
 * store and the audit checkpoint file, streamed to an admin in chunks
 * (docs/protocol.md; the container is common/backupfmt.h).
 *
 * The first call (offset 0) takes the snapshot and keeps it for its
 * connection; later calls read on from an offset. One backup at a time:
 * the snapshot may be as large as the store, and it is freed when the last
 * chunk is sent, a new one starts, or the connection goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupfmt.h"
#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "secmem.h"
#include "store_backup.h"
#include "wire.h"

/* Bytes of the container per answer (base64 makes it 4/3 on the wire). */
#define BACKUP_CHUNK (1024u * 1024u)

struct rpc_backup {
	conn *owner;
	uint8_t *buf; /* the container, kw_backup_free */
	size_t len;
	int64_t created;
	uint32_t schema;
	uint64_t db_len, cp_len;
};

static void backup_drop(rpc_host *h)
{
	if (!h->backup)
		return;
	kw_backup_free(h->backup->buf, h->backup->len);
	free(h->backup);
	h->backup = NULL;
}

void methods_backup_conn_gone(rpc_host *h, conn *c)
{
	if (h->backup && h->backup->owner == c)
		backup_drop(h);
}

/* The checkpoint file as it is now; a missing one is empty. */
static int backup_read_cp(rpc_ctx *x, uint8_t **ret, size_t *ret_len)
{
	char why[200];
	int r = kw_backup_read(x->h->checkpoints_path, false, KW_BACKUP_CP_MAX,
	                       ret, ret_len, why, sizeof(why));
	if (r == KW_ENOTFOUND) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	if (r < 0)
		return rpc_fail(x, r, NULL,
		                "cannot read the checkpoint file: %s", why);
	return 0;
}

/*
 * The checkpoint file is read before the database: a checkpoint line is
 * recorded in the store before it is appended to the file, so the copy of
 * the file is never ahead of the copy of the store (docs/audit.md).
 */
static int backup_take(rpc_ctx *x)
{
	rpc_host *h = x->h;
	struct rpc_backup *b = NULL;
	uint8_t *img = NULL, *cp = NULL;
	size_t img_len = 0, cp_len = 0;
	char why[200];
	uint32_t schema = 0;
	int r;

	if ((r = backup_read_cp(x, &cp, &cp_len)) < 0)
		return r;
	r = store_image(h->db_path, KW_BACKUP_DB_MAX, &img, &img_len, &schema,
	                why, sizeof(why));
	if (r < 0) {
		log_error("store.backup: cannot copy %s: %s", h->db_path, why);
		rpc_fail(x, r, NULL, "cannot copy the store: %s", why);
		goto out;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = KW_ENOMEM;
		goto out;
	}
	b->owner = x->c;
	b->created = clock_wall_us() / 1000000;
	b->schema = schema;
	b->db_len = img_len;
	b->cp_len = cp_len;
	r = kw_backup_build(img, img_len, cp, cp_len, schema, b->created,
	                    &b->buf, &b->len);
	if (r < 0) {
		rpc_fail(x, r, NULL, "cannot build the backup: %s",
		         kw_strerror(r));
		free(b);
		goto out;
	}
	h->backup = b;
out:
	store_image_free(img, img_len);
	kw_backup_free(cp, cp_len);
	return r;
}

static json_t *backup_answer(rpc_host *h, size_t off, size_t n)
{
	struct rpc_backup *b = h->backup;
	char *text = NULL;

	if (kw_b64_encode(b->buf + off, n, &text) < 0)
		return NULL;
	json_t *res = json_pack("{s:I, s:I, s:s, s:b, s:s, s:I, s:I, s:I, s:I}",
	                        "size", (json_int_t)b->len, "offset",
	                        (json_int_t)off, "data", text, "done",
	                        off + n == b->len, "mode", h->ops->mode_name(h),
	                        "created", (json_int_t)b->created, "schema",
	                        (json_int_t)b->schema, "db_bytes",
	                        (json_int_t)b->db_len, "checkpoint_bytes",
	                        (json_int_t)b->cp_len);
	kw_wipefree_str(text);
	return res;
}

int method_store_backup(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "offset", NULL };
	rpc_host *h = x->h;
	uint64_t off = 0;
	bool given = false;
	int r = rpc_allow(x, keys);
	if (r == 0)
		r = rpc_opt_uint(x, "offset", 0, KW_BACKUP_MAX, &given, &off);
	if (r < 0)
		return r;
	if (off == 0) {
		if (h->backup && h->backup->owner != x->c)
			return rpc_fail(x, KW_EBUSY, NULL,
			                "another backup is in progress");
		backup_drop(h);
		if ((r = backup_take(x)) < 0)
			return r;
		x->audit_note = "backup taken";
	} else if (!h->backup || h->backup->owner != x->c) {
		return rpc_fail(x, KW_ESTATE, "offset",
		                "no backup in progress on this connection; "
		                "start at offset 0");
	} else if (off >= h->backup->len) {
		return rpc_fail(x, KW_EINVAL, "offset",
		                "past the end of the backup (%zu bytes)",
		                h->backup->len);
	} else {
		x->audit_note = "backup read on";
	}
	size_t n = h->backup->len - off;
	if (n > BACKUP_CHUNK)
		n = BACKUP_CHUNK;
	json_t *res = backup_answer(h, off, n);
	if (!res)
		return KW_ENOMEM;
	if (off + n == h->backup->len)
		backup_drop(h);
	*ret_result = res;
	return 0;
}

int method_store_rekey(rpc_ctx *x, json_t **ret_result)
{
	return x->h->ops->store_rekey(x, ret_result);
}
