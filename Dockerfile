# syntax=docker/dockerfile:1
# One image for both production processes:
#   docker run IMAGE operator [flags]      docker run IMAGE datapath [flags]
# Build:  docker build -t site-recovery-operator:dev .
# test/integration/packaging-image.test.ts runs this file's stages without Docker (it understands the
# instructions used here: ARG, FROM ... AS, WORKDIR, ENV, COPY [--from], RUN [--mount=type=cache],
# USER, EXPOSE, LABEL, ENTRYPOINT, CMD) and starts the result; keep RUN paths relative to WORKDIR.

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Compile TypeScript (dev dependencies: typescript, @types/node). --ignore-scripts: the `node` dev
#    dependency's install script would download a Node binary; the base image already is Node 24.
#    --workspaces=false, here and below: the sandbox (workspace `sandbox/`, a development tool) is not sent
#    to the builder, and npm is told to ignore the workspace altogether: no link to it, none of its
#    dependencies; package.json is still checked against the lockfile.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --workspaces=false --ignore-scripts --no-audit --no-fund --prefer-offline
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# 2. Production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --workspaces=false --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline

# 3. Runtime: compiled JavaScript, production node_modules, the bin shim. Runs as a non-root user and
#    writes nothing outside /tmp, so readOnlyRootFilesystem works (mount an emptyDir at /tmp).
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="site-recovery-operator" \
      org.opencontainers.image.description="Disaster recovery for Azure virtual machines, as a Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    HOME=/tmp \
    npm_config_cache=/tmp/.npm \
    npm_config_update_notifier=false
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/site-recovery.js"]
CMD ["--help"]
