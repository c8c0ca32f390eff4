/*
 * paths.h - where keyward's files live. Shared so that keywardd, libkeyward
 * and the CLI resolve the same paths from the same environment.
 *
 *   home   : $KEYWARD_HOME, else $HOME/.mcp (HOME from the environment or,
 *            failing that, the password database)
 *   socket : $KEYWARD_SOCKET, else $XDG_RUNTIME_DIR/keyward/agent.sock,
 *            else <home>/agent.sock
 *
 * Each function writes a NUL-terminated path into out (size outsz) and
 * returns 0, KW_EINVAL if the result would not fit (or not fit a
 * sockaddr_un for sockets) or a variable is set but empty/relative.
 */
#ifndef KW_PATHS_H
#define KW_PATHS_H

#include <stddef.h>

#define KW_PATH_MAX 4096

int kw_path_home(char *out, size_t outsz);
int kw_path_socket(char *out, size_t outsz);
/* <home>/<leaf>, e.g. kw_path_in_home("secrets.db", ...). */
int kw_path_in_home(const char *leaf, char *out, size_t outsz);

#endif
