/*
 * sockcompat.h - socket options newer than the C library's headers.
 *
 * Linux 6.5 added SO_PASSPIDFD, SO_PEERPIDFD and SCM_PIDFD; Debian 12's
 * headers predate them. These are the asm-generic values
 * (include/uapi/asm-generic/socket.h, linux/socket.h), which x86 and arm
 * use; alpha, mips, parisc and sparc number socket options differently
 * and are not built for. Kernels without them answer ENOPROTOOPT.
 */
#ifndef KW_SOCKCOMPAT_H
#define KW_SOCKCOMPAT_H

#include <sys/socket.h>

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

#endif
