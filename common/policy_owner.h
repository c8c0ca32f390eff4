/*
 * policy_owner.h - the owner's part of the policy files: which exe paths a
 * policy's exe key takes, and the owner sections (policies/00-owner.ini)
 * that keyward init, policy init and policy owner write.
 *
 * Here rather than in the agent's policy module because the CLI writes
 * these files itself and must not link the agent's code (the parser, inih,
 * the store). The agent's policy.h includes this header, and its parser
 * checks exe keys with the same policy_exe_check.
 */
#ifndef KW_POLICY_OWNER_H
#define KW_POLICY_OWNER_H

#include <stddef.h>
#include <sys/types.h>

/* 0 if exe is an absolute, normalised path shorter than PATH_MAX (no
 * empty, "." or ".." component, no trailing '/', no control characters),
 * as an exe key takes it; else KW_EINVAL with a static reason. */
int policy_exe_check(const char *exe, const char **ret_why);

/* Longest exe an owner section takes: its "exe = " line must fit the
 * parser's line limit. */
#define POLICY_OWNER_EXE_MAX 150
/* Most keyward executables policy_write_default names. */
#define POLICY_OWNER_DEFAULT_MAX 8
/* Room for the default policy with that many sections. */
#define POLICY_OWNER_FILE_MAX 4096

/*
 * Render owner section number index (1: "owner-cli", then "owner-cli-2",
 * ...): uid owner, exe cli_exe, admin and every grant on everything, to
 * buf. Its length (without the NUL), or KW_EINVAL for index 0, an exe
 * policy files refuse or longer than POLICY_OWNER_EXE_MAX, or a buf too
 * small.
 */
int policy_owner_section(char *buf, size_t bufsz, unsigned index, uid_t owner,
                         const char *cli_exe);

/* Write the default policy to dir/00-owner.ini, creating dir 0700: a
 * comment saying what it is, then one owner section per exes[i] (nexes
 * of 1..POLICY_OWNER_DEFAULT_MAX, numbered from 1). KW_EEXIST if the file
 * exists, KW_EINVAL as policy_owner_section. */
int policy_write_default(const char *dir, uid_t owner, const char *const *exes,
                         size_t nexes);

#endif
