/*
 * sandbox.c - see sandbox.h. The order matters: no_new_privs first (both
 * Landlock and an unprivileged seccomp filter need it), Landlock next
 * (its own system calls are not in the filters), seccomp last.
 */
#include "sandbox_int.h"

#include <stdio.h>
#include <sys/prctl.h>

#include "keyward.h"
#include "log.h"

const char *sandbox_profile_name(enum sandbox_profile profile)
{
	return profile == SANDBOX_NET ? "net" : "keyholder";
}

/* True if the process has exactly one thread (read from /proc). */
static bool single_threaded(void)
{
	char line[128];
	unsigned threads = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %u", &threads) == 1)
			break;
	fclose(f);
	return threads == 1;
}

int sandbox_apply(enum sandbox_profile profile,
                  const struct sandbox_paths *paths,
                  struct sandbox_state *ret_state, const char **ret_what)
{
	static const struct sandbox_paths none = { 0 };
	struct sandbox_state st = { 0 };
	int rc;

	if (paths == NULL)
		paths = &none;
	if (profile == SANDBOX_KEYHOLDER && paths->home == NULL) {
		*ret_what = "home";
		return KW_EINVAL;
	}
	if (!single_threaded()) {
		*ret_what = "threads";
		return KW_EINVAL;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		*ret_what = "no_new_privs";
		return KW_EINTERNAL;
	}
	st.landlock_abi = paths->no_landlock ? 0 : sandbox_landlock_abi();
	if (st.landlock_abi > 0) {
		rc = sandbox_landlock_apply(profile, paths, st.landlock_abi,
		                            ret_what);
		if (rc < 0)
			return rc;
	}
	if (sandbox_seccomp_load(profile, &st.syscalls) != 0) {
		*ret_what = "seccomp";
		return KW_EINTERNAL;
	}
	if (st.landlock_abi > 0)
		log_info("sandbox %s: no_new_privs, seccomp (%u system calls), "
		         "Landlock ABI %d",
		         sandbox_profile_name(profile), st.syscalls,
		         st.landlock_abi);
	else if (paths->no_landlock)
		log_info("sandbox %s: no_new_privs, seccomp (%u system calls), "
		         "no Landlock rules (files are not confined)",
		         sandbox_profile_name(profile), st.syscalls);
	else
		log_info("sandbox %s: no_new_privs, seccomp (%u system calls), "
		         "Landlock absent (the kernel lacks it): files are not "
		         "confined",
		         sandbox_profile_name(profile), st.syscalls);
	if (ret_state)
		*ret_state = st;
	return 0;
}
