#!/bin/sh
# Installs the portable build of oauth2-sendmail from this archive: runs
# packaging/install (the script `make install` and the packages use) with
# the binary of the archive. As root, into the running system:
#
#   ./install.sh                the program setgid to the oauth2-sendmail
#                               group, /usr/sbin/sendmail and the other
#                               links, the configuration from the example
#                               (kept if there is one), the cache and queue
#                               directories, the man pages, and the queue
#                               timer when systemd runs
#   ./install.sh --uninstall    removes the program, keeps the
#                               configuration, the credential and the queue
#
# DESTDIR, PREFIX, FORCE and the rest: see the top of packaging/install.
# Without systemd (most containers), run `oauth2-sendmail --queue-run`
# every minute or so from cron or the container's scheduler.
set -eu
cd "$(dirname "$0")"
BINARY=${BINARY:-bin/oauth2-sendmail}
export BINARY
exec packaging/install "$@"
