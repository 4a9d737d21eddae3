# syntax=docker/dockerfile:1
# The punctual image: a release build in the official Rust image, run from distroless/cc as a
# non-root user. Not built in this repository's CI (no container runtime there); see README.
#
#   docker build -t punctual:0.1.0 .
#   docker run --rm punctual:0.1.0 --help

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; the binary is copied out
# of the cached target directory because the mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin punctual \
 && install -D -m 0755 target/release/punctual /out/punctual

# distroless/cc: glibc, libgcc, CA certificates and /usr/share/zoneinfo, no shell, no package
# manager. Timezone rules do not depend on it anyway: chrono-tz compiles the IANA database into
# the binary.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/punctual /usr/local/bin/punctual
# 65532 is distroless's `nonroot` user; numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/punctual"]
CMD ["run"]
