#!/bin/sh
# Starts the node's Docker engine; arguments go to dockerd.
#
# The node runs with every capability the host's engine may grant, but not
# --privileged (which some hosts refuse): its cgroup mounts are made writable
# here so the engine inside can create its containers' cgroups. The storage
# driver is overlay2 where the kernel allows it on the volume, else
# fuse-overlayfs.
set -eu
for dir in /sys/fs/cgroup /sys/fs/cgroup/*; do
  mount -o remount,bind,rw "$dir" 2>/dev/null || true
done
probe=/var/lib/docker/overlay-probe
mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
driver=fuse-overlayfs
if mount -t overlay overlay \
     -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
  umount "$probe/merged"
  driver=overlay2
fi
rm -rf "$probe"
exec dockerd --host=unix:///var/run/docker.sock --storage-driver="$driver" "$@"
