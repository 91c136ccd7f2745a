# syntax=docker/dockerfile:1
# Both functions from one multi-stage build; pick one with --target ingest or --target read.
# Runtime images are distroless (glibc, libssl, CA certificates; no shell) and run as nonroot.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ingest -p read \
    && mkdir -p /out && cp target/release/ingest target/release/read /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS ingest
COPY --from=build /out/ingest /usr/local/bin/ingest
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
