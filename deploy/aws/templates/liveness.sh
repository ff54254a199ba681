#!/bin/bash
# Run every 30 s by homestead-liveness.timer. /health/live answers while the process serves HTTP, whatever
# the database does, so only a Homestead that has not answered at all for 5 minutes in a row gets this
# instance marked Unhealthy (the autoscaling group then replaces it). A database failover or outage only
# fails /health/ready: the load balancer stops routing here and the instance stays, to come back by itself.
set -euo pipefail
. /etc/homestead/aws.env

state=/run/homestead-liveness
limit=300
mkdir -p "$state"

if curl -fsS -o /dev/null -m 5 "http://127.0.0.1:$PORT/health/live"; then
  rm -f "$state/failing-since"
  exit 0
fi

now=$(date +%s)
[ -s "$state/failing-since" ] || echo "$now" >"$state/failing-since"
since=$(cat "$state/failing-since")
echo "homestead-liveness: /health/live has failed for $((now - since)) s" >&2
[ $((now - since)) -ge "$limit" ] || exit 0

token=$(curl -fsS -m 5 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
instance=$(curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)
echo "homestead-liveness: marking $instance Unhealthy" >&2
aws autoscaling set-instance-health --region "$REGION" --instance-id "$instance" --health-status Unhealthy --should-respect-grace-period
