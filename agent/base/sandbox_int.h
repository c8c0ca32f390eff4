/*
 * sandbox_int.h - the parts of the sandbox module its files share.
 */
#ifndef KW_SANDBOX_INT_H
#define KW_SANDBOX_INT_H

#include "sandbox.h"

/* Sanitizer runtimes make calls and open files of their own (see
 * sandbox.h): gcc says so with __SANITIZE_ADDRESS__, clang with
 * __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif

/*
 * Load the seccomp filter of profile into the kernel (no_new_privs must
 * already be set). 0 with *ret_count set to the number of system calls
 * allowed, or KW_EINTERNAL.
 */
int sandbox_seccomp_load(enum sandbox_profile profile, unsigned *ret_count);

/*
 * Restrict the filesystem for profile with Landlock at ABI abi (>= 1).
 * 0, KW_EINVAL (*ret_what names the path that could not be opened) or
 * KW_EINTERNAL (*ret_what = "landlock").
 */
int sandbox_landlock_apply(enum sandbox_profile profile,
                           const struct sandbox_paths *paths, int abi,
                           const char **ret_what);

#endif
