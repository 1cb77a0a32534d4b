# syntax=docker/dockerfile:1
# Build stage: the same install and build steps CI runs.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Runtime: the single binary on a slim glibc base, as an unprivileged user (uid 10001). A new named
# volume on /data is created owned by it; a bind-mounted host directory must be (chown 10001).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data sluice \
 && mkdir -p /data && chown sluice /data
COPY --from=build /src/dist/sluice /usr/local/bin/sluice
USER sluice
WORKDIR /data
VOLUME ["/data"]
ENV SLUICE_HOST=0.0.0.0 SLUICE_PORT=8000 SLUICE_DB=file:/data/sluice.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${SLUICE_PORT}/health" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
