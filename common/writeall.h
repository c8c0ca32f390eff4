/*
 * writeall.h - write a whole buffer to a descriptor: the one loop every
 * blocking writer in keyward uses (files, pipes, stdout, a terminal).
 *
 * Decided once, here:
 *   - EINTR: the write is retried;
 *   - a partial write: the rest is written;
 *   - EAGAIN / EWOULDBLOCK (a non-blocking descriptor that is full): wait
 *     in poll(2) until it is writable, with no time limit, and carry on.
 *     The descriptor then behaves as a blocking one would. Code that must
 *     not block (the agent's event loop, the library's send with a
 *     deadline) keeps its own non-blocking writer and does not call this;
 *   - a write of 0 bytes: an error (EIO), never an endless loop.
 * SIGPIPE is left as the caller set it up.
 */
#ifndef KW_WRITEALL_H
#define KW_WRITEALL_H

#include <stddef.h>

/* Write the n bytes at p to fd. 0, or KW_EIO with errno saying why. On
 * failure an unknown part of the bytes may have been written. */
int kw_write_all(int fd, const void *p, size_t n);

#endif
