#!/bin/bash
# The boot rehearsal's instance: run as PID 1 of new mount and PID namespaces (unshare --mount --pid --fork),
# it builds a root where the host's /usr is read-only and /etc, /usr/local, /opt, /var, /run, /tmp are the
# instance's own, then runs the user data there as cloud-init does (as root, output to
# /var/log/cloud-init-output.log), writes its exit status to /var/lib/cloud/instance/boot-finished and stays
# up: the services it started live in this PID namespace and end with it. The network is the host's, so the
# instance reaches moto_server, the fake metadata service and PostgreSQL on loopback.
#   boot-root.sh ROOT SEAM   (SEAM: a directory with bin/ (the stand-ins) and env, mounted at /seam)
set -euo pipefail
root=$1 seam=$2

mount --make-rprivate /
mkdir -p "$root"/{usr,etc,opt,tmp,proc,dev,run,root,seam,var/log,var/tmp,var/lib/cloud/instance}
for link in bin lib lib64 sbin; do [ -e "$root/$link" ] || ln -s "usr/$link" "$root/$link"; done
mount --bind /usr "$root/usr"
mount -o remount,bind,ro "$root/usr"
mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local"
cp -a /etc/. "$root/etc/"
rm -rf "$root/etc/homestead" "$root/etc/systemd/system/homestead"*
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount --bind "$seam" "$root/seam"
mount -o remount,bind,ro "$root/seam"
chmod 1777 "$root/tmp" "$root/var/tmp"

# The seam's endpoints reach the AWS SDK inside Homestead too (its own commands at boot, like db-bootstrap).
. "$seam/env"
status=0
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/seam/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \
  AWS_ENDPOINT_URL="$SEAM_AWS_ENDPOINT" AWS_EC2_METADATA_SERVICE_ENDPOINT="$SEAM_IMDS_ENDPOINT" \
  /bin/bash /var/lib/cloud/instance/user-data.txt >"$root/var/log/cloud-init-output.log" 2>&1 || status=$?
echo "$status" >"$root/var/lib/cloud/instance/boot-finished"
exec sleep infinity
