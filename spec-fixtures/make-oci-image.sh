#!/usr/bin/env bash
# make-oci-image.sh OUT.tar [NAME]
#
# Writes an OCI image archive (an OCI image layout in a tar: oci-layout, index.json,
# blobs/sha256/...) holding one layer: the busybox rootfs of make-bundle.sh.  No
# registry, no umoci or skopeo: the layout is small enough to write by hand, and
# `ctr images import OUT.tar` takes it as it is.  NAME (default
# localhost/apus-busybox:latest) goes into the index as io.containerd.image.name,
# which is the name containerd gives the imported image.
#
# The layer is reproducible (sorted entries, mtime 0, gzip -n), so the same busybox
# gives the same digests on every run.
set -euo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || {
    echo "usage: $0 OUT.tar [NAME]" >&2
    exit 2
}
out="$1"
name="${2:-localhost/apus-busybox:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$here/make-bundle.sh" "$work/bundle" >/dev/null
blobs="$work/layout/blobs/sha256"
mkdir -p "$blobs"

# Moves FILE into blobs/ under its digest and prints "DIGEST SIZE".
add_blob() {
    local digest size
    digest="$(sha256sum "$1" | cut -d' ' -f1)"
    size="$(stat -c %s "$1")"
    mv "$1" "$blobs/$digest"
    echo "$digest $size"
}

tar --sort=name --numeric-owner --mtime=@0 -C "$work/bundle/rootfs" -cf "$work/layer.tar" .
diff_id="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
gzip -n "$work/layer.tar"
read -r layer layer_size < <(add_blob "$work/layer.tar.gz")

printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(dpkg --print-architecture 2>/dev/null || echo amd64)" "$diff_id" >"$work/config.json"
read -r config config_size < <(add_blob "$work/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
read -r manifest manifest_size < <(add_blob "$work/manifest.json")

printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$name" "${name##*:}" >"$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$out" .
