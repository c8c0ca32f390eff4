/*
 * duration.h - durations ("30d", "1h30m") and daily windows ("02:00-04:00")
 * as the CLI and the agent accept them (docs/cli.md, docs/protocol.md).
 *
 * A duration is one or more <digits><unit> groups, units s m h d w (seconds,
 * minutes, hours, days, weeks), e.g. "90s", "1h30m", "2w". No sign, no
 * spaces, no fractions, no unit repeated or out of order (w d h m s).
 * A window is "HH:MM-HH:MM" in UTC, 24-hour; it may wrap midnight
 * ("22:00-02:00"); start and end must differ.
 */
#ifndef KW_DURATION_H
#define KW_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s into seconds. 0 or KW_EINVAL; *why (if why is not NULL) is then a
 * static sentence saying what was wrong, never quoting s. Overflow, zero
 * and values above max are KW_EINVAL too.
 */
int kw_duration_parse(const char *s, uint64_t max, uint64_t *ret_seconds,
                      const char **why);
/* Format seconds as a duration string, largest units first with days the
 * largest ("30d", "1h30m", "14d", "0s"); it parses back to seconds (except
 * "0s", which parse refuses). 0 or KW_ETOOBIG if it does not fit in out
 * (32 bytes always do); out is untouched then. */
int kw_duration_format(uint64_t seconds, char *out, size_t outsz);

/* Parse a window into seconds after midnight UTC [0, 86400), start != end.
 * 0 or KW_EINVAL with *why set as above. */
int kw_window_parse(const char *s, uint32_t *ret_start, uint32_t *ret_end,
                    const char **why);
/* "HH:MM-HH:MM"; out needs 12 bytes. */
void kw_window_format(uint32_t start, uint32_t end, char out[12]);

#endif
