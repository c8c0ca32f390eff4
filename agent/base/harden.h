/*
 * harden.h - process hardening applied before any key is loaded.
 */
#ifndef KW_HARDEN_H
#define KW_HARDEN_H

/*
 * No core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0, which also keeps
 * same-uid processes without CAP_SYS_PTRACE from ptrace-attaching), umask
 * 077, and the open-files limit raised to its hard limit. Returns 0 or
 * KW_EINTERNAL with *ret_what naming the step that failed.
 */
int harden_process(const char **ret_what);

#endif
