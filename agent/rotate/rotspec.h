/*
 * rotspec.h - rotator specifications (docs/protocol.md, "schedule.set"):
 *
 *   random:N[:FORMAT]       N random bytes (1..4096); FORMAT raw (default),
 *                           hex, base64url (no padding) or apikey
 *                           (apikey.h, N bytes of entropy, N >= 16)
 *   command:/abs/path       an executable run for the set and test steps
 *   webhook:https://...     an HTTPS endpoint POSTed for set and test
 *
 * For command and webhook rotators the new value itself comes from a
 * generator spec, which is a random: spec (default "random:32:base64url").
 * Parsing checks syntax only; rotspec_check_command checks the file.
 */
#ifndef KW_ROTSPEC_H
#define KW_ROTSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROTSPEC_MAX              1024u /* bytes of a spec */
#define ROTSPEC_RANDOM_MAX       4096u /* bytes a random: spec may ask for */
#define ROTSPEC_GENERATE_DEFAULT "random:32:base64url"

enum rotspec_kind { ROTSPEC_RANDOM = 1, ROTSPEC_COMMAND, ROTSPEC_WEBHOOK };
enum rotspec_format {
	ROTSPEC_RAW = 0,
	ROTSPEC_HEX,
	ROTSPEC_BASE64URL,
	ROTSPEC_APIKEY,
};

typedef struct rotspec {
	enum rotspec_kind kind;
	/* random: */
	uint32_t bytes;
	enum rotspec_format format;
	/* command: the path; webhook: the URL (NUL-terminated) */
	char target[ROTSPEC_MAX + 1];
} rotspec;

/*
 * Parse spec (len bytes, need not be NUL-terminated). 0 or KW_EINVAL with
 * *why (if why is not NULL) a static sentence naming the problem, never
 * quoting the input. A webhook URL must be http:// or https:// with a host,
 * no user:password part, no fragment, printable ASCII only; whether http:
 * is allowed is decided where allow_insecure is known.
 */
int rotspec_parse(const char *spec, size_t len, rotspec *ret, const char **why);
/* The canonical spelling of a parsed spec; out needs ROTSPEC_MAX + 1.
 * random: without ":raw" (the default) and N without leading zeros;
 * webhook: scheme and host in lower case, port without leading zeros. */
void rotspec_format_spec(const rotspec *r, char *out, size_t outsz);

/*
 * The executable of a command: rotator must be an absolute path to a
 * regular file, executable, owned by root or by `owner`, writable by
 * neither group nor others, in a directory writable by neither group nor
 * others (unless sticky and root-owned is not enough: refused). 0, or
 * KW_ENOTFOUND / KW_EPERM / KW_EINVAL (KW_EIO if the file system fails)
 * with *why set. Symbolic links are followed; every link followed and
 * every directory the resolution passes through (those holding the links
 * included, up to /) must be owned by root or `owner`, and those
 * directories writable by neither group nor others unless sticky (only
 * the command's own directory may not be sticky-writable either):
 * whoever can write one of them could swap the command. Cheap enough to
 * repeat before every run.
 */
int rotspec_check_command(const char *path, unsigned owner, const char **why);

/*
 * Generate a value for a random: spec into a new kw_wipealloc buffer
 * (*ret_len bytes; text formats are not NUL-terminated). 0, KW_EINVAL (not
 * a random: spec), KW_ENOMEM.
 */
int rotspec_generate(const rotspec *r, uint8_t **ret_value, size_t *ret_len);

#endif
