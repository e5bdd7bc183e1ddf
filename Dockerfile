# Sluice's image: a release build, then the binary alone on a distroless base (no shell, no
# package manager), run as a non-root user. `docker build -t sluice .`
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin sluice \
 && install -D target/release/sluice /out/sluice

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
USER 65532:65532
# The admin plane (health, readiness, status, metrics); listeners' ports come from Gateways.
EXPOSE 15000
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["run", "--kubernetes", "--admin=0.0.0.0:15000"]
