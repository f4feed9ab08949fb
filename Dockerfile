# Trestle as a container: a static binary on a distroless base, running as
# a non-root user, with no shell.
#
#   docker build -t trestle .
#   docker run -p 8080:8080 -v $PWD/trestle.yaml:/etc/trestle.yaml trestle -config /etc/trestle.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/trestle .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/trestle /trestle
USER nonroot:nonroot
# GraphQL and webhooks; the admin listener (metrics, readiness, pprof) is
# for the orchestrator, not the internet.
EXPOSE 8080 9090
ENTRYPOINT ["/trestle", "-listen", "0.0.0.0:8080", "-admin-listen", "0.0.0.0:9090"]
