/*
 * paths.c - resolve keyward's home and socket (see paths.h).
 */
#include "paths.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "keyward.h"

static int path_join(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= outsz)
		return KW_EINVAL;
	return 0;
}

static int path_copy(char *out, size_t outsz, const char *src)
{
	size_t n = strlen(src);
	if (n >= outsz)
		return KW_EINVAL;
	memcpy(out, src, n + 1);
	return 0;
}

/* An environment variable that, when set, must be a non-empty absolute
 * path. Returns NULL when unset, sets *bad when set but unusable. */
static const char *path_env(const char *var, int *bad)
{
	const char *v = getenv(var);
	if (!v)
		return NULL;
	if (v[0] != '/') {
		*bad = 1;
		return NULL;
	}
	return v;
}

int kw_path_home(char *out, size_t outsz)
{
	int bad = 0;
	const char *home = path_env("KEYWARD_HOME", &bad);
	if (bad)
		return KW_EINVAL;
	if (home)
		return path_copy(out, outsz, home);

	const char *user_home = path_env("HOME", &bad);
	if (!user_home) {
		struct passwd *pw = getpwuid(geteuid());
		if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
			return KW_EINVAL;
		user_home = pw->pw_dir;
	}
	return path_join(out, outsz, user_home, ".mcp");
}

int kw_path_in_home(const char *leaf, char *out, size_t outsz)
{
	char home[KW_PATH_MAX];
	int r = kw_path_home(home, sizeof(home));
	if (r < 0)
		return r;
	return path_join(out, outsz, home, leaf);
}

int kw_path_socket(char *out, size_t outsz)
{
	char tmp[KW_PATH_MAX];
	int bad = 0, r;
	const char *sock = path_env("KEYWARD_SOCKET", &bad);
	if (bad)
		return KW_EINVAL;

	if (sock) {
		r = path_copy(tmp, sizeof(tmp), sock);
	} else {
		const char *rt = path_env("XDG_RUNTIME_DIR", &bad);
		if (bad)
			return KW_EINVAL;
		if (rt)
			r = path_join(tmp, sizeof(tmp), rt,
			              "keyward/agent.sock");
		else
			r = kw_path_in_home("agent.sock", tmp, sizeof(tmp));
	}
	if (r < 0)
		return r;
	if (strlen(tmp) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return KW_EINVAL;
	return path_copy(out, outsz, tmp);
}
