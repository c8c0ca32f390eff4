/*
 * fuzz_policy.c - the policy file parser (agent/policy/policy_parse.c).
 * Policies load from a directory, so each input becomes the one file of a
 * private directory on tmpfs.
 *
 * Properties: a refusal says why; an accepted policy can be shown
 * (policy_to_json) and decided on, and a decision that allows names the
 * section that allowed it, which grants the operation.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy.h"

static char dir[256], file[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/policies", fuzz_scratch_dir());
	snprintf(file, sizeof(file), "%s/10-fuzz.ini", dir);
	if (mkdir(dir, 0700) != 0)
		fuzz_fail("mkdir policies", __FILE__, __LINE__);
	return 0;
}

static void decide(const policy *p, const char *exe, const char *token,
                   enum policy_op op, const char *name)
{
	policy_identity id = {
		.uid = geteuid(),
		.gid = getegid(),
		.exe = exe,
		.token_name = token,
	};
	policy_decision d;

	policy_decide(p, &id, op, name, &d);
	FUZZ_CHECK(memchr(d.reason, '\0', sizeof(d.reason)) != NULL);
	if (d.allowed) {
		FUZZ_CHECK(d.client != NULL);
		FUZZ_CHECK(policy_client_allows(d.client, op, name));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	policy *p = NULL;
	char err[512] = "";

	fuzz_write_file(file, data, size);
	if (policy_load_dir(dir, geteuid(), &p, err, sizeof(err)) != 0) {
		FUZZ_CHECK(p == NULL && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(p != NULL);
	json_t *shown = policy_to_json(p);
	FUZZ_CHECK(shown != NULL);
	json_decref(shown);
	(void)policy_uid_named(p, geteuid());
	static const char *const exes[] = { "/usr/bin/keyward", "/bin/sh",
		                            NULL };
	static const char *const names[] = { "github/token", "a", NULL };
	for (size_t e = 0; e < 3; e++) {
		for (int op = 0; op < POLICY_OP_COUNT; op++) {
			for (size_t n = 0; n < 3; n++)
				decide(p, exes[e], e == 2 ? "fuzz" : NULL, op,
				       names[n]);
		}
	}
	policy_free(p);
	return 0;
}
