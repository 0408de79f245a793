# zk2etcd container image.
#   docker build -t zk2etcd:2.0.0-alpha.1 --build-arg GIT_COMMIT="$(git rev-parse --short HEAD)" .
# Build stage: the full Debian image has g++, make and python3 for the native `zookeeper` addon,
# which compiles during `npm ci` from the ZooKeeper C client bundled in the npm package (no download).

FROM node:20-bookworm AS build
# The runtime's directory too: the build's code cache for the CLI bundle holds only at the path it was
# made at (bin/load-bundle.ts).
WORKDIR /app
# Dependencies first: this layer is reused until package.json or package-lock.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY common ./common
COPY functions ./functions
COPY watcher ./watcher
COPY scripts/build-info.mjs scripts/bundle.mjs scripts/code-cache.mjs ./scripts/
# No .git in the build context: `zk2etcd version` takes the commit from GIT_COMMIT.
ARG GIT_COMMIT=unknown
RUN npm run build \
 && node -e 'const fs = require("fs"); const f = "dist/build-info.json"; const i = JSON.parse(fs.readFileSync(f, "utf8")); i.commit = process.env.GIT_COMMIT; fs.writeFileSync(f, JSON.stringify(i) + "\n");' \
 && npm prune --omit=dev

# Runtime stage: Node 20 (the same major as the build, so the addon's ABI matches) and nothing else.
FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="zk2etcd" \
      org.opencontainers.image.description="Keeps etcd in sync with ZooKeeper (one-way mirror)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the process: it runs with a read-only root filesystem.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A numeric uid:gid (no passwd entry needed) so Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/cli/zk2etcd.js"]
CMD ["--help"]
