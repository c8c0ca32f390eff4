/*
 * log.h - the daemon's log: one line per event on stderr, with a UTC
 * timestamp and level. Log identifiers and reasons, never values,
 * passphrases or tokens.
 */
#ifndef KW_LOG_H
#define KW_LOG_H

#include "config.h"

void log_set_level(int level);
/* The program named on each line ("keywardd" unless set; a static
 * string). Set once, before any thread starts. */
void log_set_name(const char *name);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(KW_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(KW_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(KW_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(KW_LOG_DEBUG, __VA_ARGS__)

#endif
