# syntax=docker/dockerfile:1
# The `postern` command (edge, connector, CLI) in one image. See docs/DEPLOY.md.
# Not built in CI (no Docker engine there); the commands it runs are the ones CI runs.
#
#   docker build -t postern .
#   docker run -v postern-data:/data -p 8080:8080 -e POSTERN_DOMAIN=edge.example.com postern
#   docker run --rm postern connect --help

FROM node:20-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# Manifests first: dependencies are a cached layer until package-lock.json changes.
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY connector/package.json connector/
COPY edge/package.json edge/
COPY cli/package.json cli/
# No lifecycle scripts yet (the root `prepare` builds sources that are not copied yet), then the
# one native module.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.base.json ./
COPY shared shared
COPY connector connector
COPY edge edge
COPY cli cli
# The four packages the command needs (the end-to-end tests and the benchmark are not shipped);
# then dev dependencies, sources and compiled unit tests go.
RUN npx tsc -b cli \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf shared/src connector/src edge/src cli/src */test */dist/test */tsconfig.json */*.tsbuildinfo tsconfig.base.json

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    POSTERN_LISTEN=0.0.0.0:8080 \
    POSTERN_DB=/data/postern.db
WORKDIR /app
COPY --from=build /src /app
COPY deploy/docker/healthcheck.mjs /app/healthcheck.mjs
# The image's `node` user (uid 1000) owns the database volume and nothing else.
RUN mkdir /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Plain HTTP on 8080 (TLS ends at a proxy in front, or use --tls-cert and adjust this check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/cli/bin/postern.js"]
CMD ["edge"]
