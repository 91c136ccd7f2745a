# syntax=docker/dockerfile:1
# Both functions from one multi-stage build; pick one with --target ingest or --target read.
# Runtime images are distroless (glibc, CA certificates; no shell) and run as nonroot. OpenSSL
# is linked in statically (scripts/lib/with-static-openssl): starts are about 1 ms faster.
#
# Dependencies are compiled in a layer of their own (cargo-chef), which changes only when
# Cargo.toml or Cargo.lock do. The Pulumi program exports the build's layers to the registry
# (cacheTo) and reads them back (cacheFrom), so a CI runner that starts empty compiles only
# this workspace's own crates, not every dependency again.

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
COPY scripts/lib/with-static-openssl /usr/local/bin/
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN with-static-openssl cargo chef cook --release --locked --recipe-path recipe.json -p ingest -p dead-letters -p read
COPY . .
RUN with-static-openssl cargo build --release --locked -p ingest -p dead-letters -p read \
    && mkdir -p /out && cp target/release/ingest target/release/dead-letters target/release/migrate target/release/read /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS ingest
# migrate: the deploy's migration job runs this image with it as the command.
COPY --from=build /out/ingest /out/dead-letters /out/migrate /usr/local/bin/
ENV FUNCTION_TARGET=ingest FUNCTION_SIGNATURE_TYPE=cloudevent PORT=8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ingest"]

FROM gcr.io/distroless/cc-debian12:nonroot AS read
COPY --from=build /out/read /usr/local/bin/read
ENV FUNCTION_TARGET=read FUNCTION_SIGNATURE_TYPE=http PORT=8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/read"]
