/*
 * fsguard.h - the modes of the agent's home, its socket's directory and
 * the socket itself, checked at start-up and again on every sweep.
 *
 * The home holds the store, the keyfile and the policies: it must be a
 * directory owned by the agent's uid that nobody else may enter (no group
 * or other bits). The socket's directory is held to the same rule, except
 * that with [agent] socket_mode = 0660 it may also be 0750 (read and
 * search, never write) for the one group socket_group names; the socket is
 * then 0660 with that group, else 0600.
 *
 * Pure checks: no logging, nothing changed. Each returns 0, or KW_EPERM
 * (wrong owner, type, group or mode), KW_ENOTFOUND (missing) or KW_EIO,
 * with a sentence in why that names the path and the fix.
 */
#ifndef KW_FSGUARD_H
#define KW_FSGUARD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * path is a directory owned by uid, with no permission bits outside
 * 0700 | group_bits (group_bits: 0, or a subset of 050), and, if it has
 * any group bit, of group gid.
 */
int fsguard_dir(const char *path, uid_t uid, unsigned group_bits, gid_t gid,
                char *why, size_t whysz);
/* path is a socket owned by uid with exactly mode (0600 or 0660) and, for
 * 0660, group gid. */
int fsguard_socket(const char *path, uid_t uid, unsigned mode, gid_t gid,
                   char *why, size_t whysz);

#endif
