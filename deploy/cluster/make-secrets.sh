#!/bin/sh
# Makes the files compose.yaml hands to its containers as secrets, readable by their users only:
# PostgreSQL's password, the same password as a libpq passfile for the edges, and the cluster secret.
set -eu
umask 077
[ -e pg-password ] || openssl rand -hex 32 > pg-password
printf 'postgres:5432:postern:postern:%s\n' "$(cat pg-password)" > pgpass
[ -e cluster-secret ] || openssl rand -base64 48 > cluster-secret
# The image's edges run as uid 1000 (node); PostgreSQL's entrypoint reads its file as root.
chown 1000:1000 pgpass cluster-secret 2>/dev/null || echo "run as root (or sudo) so the edges' uid 1000 can read pgpass and cluster-secret" >&2
