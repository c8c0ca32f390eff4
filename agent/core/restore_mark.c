/*
 * restore_mark.c - see restore_mark.h.
 *
 * The marker is one line, "keyward-restore-v1 CREATED STAMP\n": CREATED
 * the backup's time (unix seconds), STAMP the YYYYMMDDTHHMMSSZ suffix of
 * the files set aside. It is written by the CLI, so it is checked like any
 * other input before a byte of it reaches the log.
 */
#include "restore_mark.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "keyward.h"
#include "log.h"
#include "secmem.h"

#define MARK_MAX 128

static bool mark_word(const char *s, size_t len, const char *charset)
{
	return len > 0 && strspn(s, charset) == len;
}

/* The reason of the row, from the marker's text. */
static void mark_reason(const char *text, size_t len, char *out, size_t outsz)
{
	static const char head[] = "keyward-restore-v1 ";
	const char *created, *stamp, *end;
	char when[32];

	snprintf(out, outsz,
	         "restored from a backup (the marker "
	         "restore.pending did not parse)");
	if (len < sizeof(head) || strncmp(text, head, sizeof(head) - 1) != 0 ||
	    text[len - 1] != '\n')
		return;
	created = text + sizeof(head) - 1;
	stamp = strchr(created, ' ');
	end = text + len - 1;
	if (!stamp || stamp > end || stamp - created > 19 ||
	    !mark_word(created, (size_t)(stamp - created), "0123456789"))
		return;
	stamp++;
	if (end - stamp != 16 ||
	    !mark_word(stamp, (size_t)(end - stamp), "0123456789TZ"))
		return;
	agent_format_utc((int64_t)strtoll(created, NULL, 10) * 1000000, when,
	                 sizeof(when));
	snprintf(out, outsz,
	         "restored from a backup taken at %s; the previous store is "
	         "secrets.db.before-restore-%.16s",
	         when, stamp);
}

static int mark_path(const agent *a, char path[static KW_PATH_MAX])
{
	int n = snprintf(path, KW_PATH_MAX, "%s/restore.pending", a->home);

	return n > 0 && n < KW_PATH_MAX ? 0 : KW_EINVAL;
}

bool restore_mark_record(agent *a, uint64_t *ret_seq)
{
	char path[KW_PATH_MAX], why[160], reason[320], *text = NULL;
	audit_cp_status st;
	size_t len = 0;

	if (mark_path(a, path) < 0)
		return false;
	int r = kw_file_read(path, MARK_MAX, &text, &len, NULL, why,
	                     sizeof(why));
	if (r == KW_ENOTFOUND)
		return false;
	if (r < 0)
		snprintf(reason, sizeof(reason),
		         "restored from a backup (the marker could not be "
		         "read: %s)",
		         why);
	else
		mark_reason(text, len, reason, sizeof(reason));
	kw_wipefree(text);
	audit_cp_state(a->au, &st);
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = "store.restore",
		.outcome = AUDIT_OK,
		.reason = reason,
	};
	if (agent_audit(a, &ev) < 0)
		return false; /* the marker stays: the next start tries again */
	log_info("%s", reason);
	*ret_seq = st.log_seq;
	return true;
}

void restore_mark_settle(agent *a, uint64_t seq)
{
	char path[KW_PATH_MAX];
	audit_cp_status st;

	audit_cp_state(a->au, &st);
	if (audit_unlocked(a->au) && st.log_seq <= seq)
		return; /* not committed */
	if (mark_path(a, path) == 0 && unlink(path) < 0)
		log_warn("%s: cannot remove it; the next start records the "
		         "restore again",
		         path);
}
