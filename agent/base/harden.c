/*
 * harden.c - see harden.h.
 */
#include "harden.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "keyward.h"

int harden_process(const char **ret_what)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0) {
		*ret_what = "setrlimit(RLIMIT_CORE)";
		return KW_EINTERNAL;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		*ret_what = "prctl(PR_SET_DUMPABLE)";
		return KW_EINTERNAL;
	}
	umask(077);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		/* Best effort: the connection limits still apply. */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	return 0;
}
