/*
 * tty.h - reading secrets (passphrases, values) from the terminal or a
 * file descriptor without echo and without reading past what is asked for.
 *
 * Lines are returned without their '\n', NUL-terminated in the caller's
 * buffer (which the caller wipes). Errors:
 *   KW_EIO      no terminal (tty_read_secret) or a read error
 *   KW_ECLOSED  end of file before any byte of the line
 *   KW_ETOOBIG  the line does not fit in bufsz - 1 bytes
 *   KW_EINVAL   the line contains a NUL byte
 */
#ifndef KW_TTY_H
#define KW_TTY_H

#include <stddef.h>

/*
 * Write prompt to /dev/tty, read one line from it with echo off, restore the
 * terminal (also when interrupted by a signal, which is then re-raised).
 */
int tty_read_secret(const char *prompt, char *buf, size_t bufsz,
                    size_t *ret_len);

/* Read one line from fd, one byte at a time so that nothing after the
 * '\n' is consumed (a second line on the same fd stays readable). */
int tty_read_fd_line(int fd, char *buf, size_t bufsz, size_t *ret_len);

#endif
