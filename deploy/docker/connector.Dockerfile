# syntax=docker/dockerfile:1
# A Postern connector (the client commands, no edge) from the npm package `npm run release` makes:
# Node's slim image and one `npm i -g` of the tarball, with no compiler and nothing to fetch. The
# package is the same for every CPU, so the image builds for linux/amd64 and linux/arm64 alike.
# Not built in CI (no Docker engine there); its install is the one test/release-tarball.test.ts runs.
#
#   npm run release
#   docker build -f deploy/docker/connector.Dockerfile -t postern-connector .
#   docker run -d --restart always --network host \
#     -v /etc/postern/grafana.token:/run/secrets/token:ro postern-connector \
#     connect --socket sck_… --port 3000 --edge https://edge.example.com --token-file /run/secrets/token

FROM node:20-bookworm-slim
# The one tarball in release/ (the build empties the folder first).
COPY release/postern-*.tgz /tmp/postern.tgz
RUN npm i -g --no-audit --no-fund /tmp/postern.tgz \
 && rm /tmp/postern.tgz \
 && npm cache clean --force
# No state of its own: the token comes in as a read-only file, the rest as flags or POSTERN_* env.
USER node
# SIGTERM (docker stop) lets in-flight requests finish: give it --grace plus a margin (docker stop -t 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["postern"]
CMD ["connect", "--help"]
