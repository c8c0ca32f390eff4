#!/bin/sh
# make run: initialise the store on first use, then run the agent in the
# foreground.
set -eu

build=$(cd "${1:-build}" && pwd)
keyward="$build/cli/keyward"
keywardd="$build/agent/keywardd"
home=${KEYWARD_HOME:-$HOME/.mcp}

if [ ! -e "$home/secrets.db" ]; then
	"$keyward" init
fi

sock=$("$keywardd" --print-socket)
cat <<MSG

keywardd is starting in the foreground (Ctrl-C stops it).
  socket: $sock
  try, in another terminal:
    printf %s 'hello' | $keyward put demo/greeting
    $keyward get demo/greeting

MSG
exec "$keywardd"
