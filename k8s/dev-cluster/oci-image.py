#!/usr/bin/env python3
"""Pack a root-filesystem folder into a one-layer OCI image archive (an OCI image layout in a tar)
that `ctr images import` loads. No registry and no Docker are involved.

The archive is a function of the folder's contents and the arguments only: entries are sorted,
owned by root, dated 1970-01-01, and the JSON is written with sorted keys. Packing the same folder
twice gives the same image digest, so re-importing an unchanged image is a no-op for containerd.

usage: oci-image.py ROOTFS --ref docker.io/knit-test/busybox:1 --out image.tar
                    [--env PATH=/bin]... [--entrypoint JSON] [--cmd JSON] [--workdir DIR]
"""
import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile

EPOCH = "1970-01-01T00:00:00Z"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rootfs", help="folder that becomes the image's /")
    p.add_argument("--ref", required=True, help="full image name the archive carries, e.g. docker.io/library/x:1")
    p.add_argument("--out", required=True, help="archive to write")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE, repeatable")
    p.add_argument("--entrypoint", help="JSON list")
    p.add_argument("--cmd", help="JSON list")
    p.add_argument("--workdir")
    p.add_argument("--arch", default="amd64")
    a = p.parse_args()
    if not os.path.isdir(a.rootfs):
        p.error(f"rootfs: {a.rootfs} is not a folder")
    if ":" not in a.ref.rsplit("/", 1)[-1]:
        p.error(f"--ref: {a.ref} has no tag")
    for name, raw in (("--entrypoint", a.entrypoint), ("--cmd", a.cmd)):
        if raw is not None:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                p.error(f"{name}: not JSON: {e}")
            if not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
                p.error(f"{name}: must be a JSON list of strings")
    for e in a.env:
        if "=" not in e:
            p.error(f"--env: {e!r} is not NAME=VALUE")
    return a


def normalise(info):
    """Ownership and times of the image, not of whoever packed it."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.pax_headers = {}
    return info


def walk_sorted(root):
    """Every path below root, parents before children, in byte order: a stable entry order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            yield os.path.join(dirpath, name)


class HashingWriter(io.RawIOBase):
    """A file wrapper that hashes and counts what passes through it."""

    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.f.write(b)
        self.sha.update(b)
        self.size += len(b)
        return len(b)


def write_layer(rootfs, f):
    """The layer tar, streamed to f (an image can be larger than memory). Returns (digest, size)."""
    sink = HashingWriter(f)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as t:
        for path in walk_sorted(rootfs):
            mode = os.lstat(path).st_mode
            if stat.S_ISSOCK(mode):
                continue  # a socket cannot live in an image
            # add() records a second name of an inode as a hard link, as the rootfs had it.
            t.add(path, arcname=os.path.relpath(path, rootfs), recursive=False, filter=normalise)
    return "sha256:" + sink.sha.hexdigest(), sink.size


def blob(obj):
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def main():
    a = parse_args()
    out_dir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryFile(dir=out_dir) as layer:
        layer_digest, layer_size = write_layer(a.rootfs, layer)
        image_config = {"Env": a.env}
        if a.entrypoint is not None:
            image_config["Entrypoint"] = json.loads(a.entrypoint)
        if a.cmd is not None:
            image_config["Cmd"] = json.loads(a.cmd)
        if a.workdir:
            image_config["WorkingDir"] = a.workdir
        config_digest, config = blob({
            "architecture": a.arch, "os": "linux", "created": EPOCH, "config": image_config,
            # The layer is stored uncompressed, so its diff id is its digest.
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        })
        manifest_digest, manifest = blob({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
        })
        _, index = blob({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": len(manifest),
                "platform": {"architecture": a.arch, "os": "linux"},
                # containerd names the imported image after io.containerd.image.name.
                "annotations": {"io.containerd.image.name": a.ref,
                                "org.opencontainers.image.ref.name": a.ref.rsplit(":", 1)[1]},
            }],
        })

        partial = a.out + ".partial"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as t:
            def add(name, data=None, fileobj=None, size=None):
                info = normalise(tarfile.TarInfo(name))
                info.size = len(data) if data is not None else size
                t.addfile(info, io.BytesIO(data) if data is not None else fileobj)
            add("oci-layout", data=b'{"imageLayoutVersion":"1.0.0"}')
            add("index.json", data=index)
            add("blobs/sha256/" + config_digest[7:], data=config)
            add("blobs/sha256/" + manifest_digest[7:], data=manifest)
            layer.seek(0)
            add("blobs/sha256/" + layer_digest[7:], fileobj=layer, size=layer_size)
        os.replace(partial, a.out)  # never leave a half-written archive under the wanted name
    print(f"{a.ref} {manifest_digest} {a.out}")


if __name__ == "__main__":
    sys.exit(main())
