#!/bin/bash
# Writes /etc/homestead/env from Secrets Manager before each start of homestead.service: the database URL
# from the master secret that RDS keeps (and rotates), and the HOMESTEAD_* variables of the app secret.
# With --if-changed (run every minute by homestead-secrets.timer) it restarts Homestead only when they
# changed, so a rotated database password is picked up within a minute.
set -euo pipefail
. /etc/homestead/aws.env

tmp=$(mktemp /etc/homestead/.env.XXXXXX)
trap 'rm -f "$tmp"' EXIT

db=$(aws secretsmanager get-secret-value --region "$REGION" --secret-id "$DB_SECRET_ARN" --query SecretString --output text)
jq -r --arg host "$DB_HOST" --arg port "$DB_PORT" --arg name "$DB_NAME" \
  '"HOMESTEAD_DATABASE_URL=postgres://\(.username | @uri):\(.password | @uri)@\($host):\($port)/\($name)"' <<<"$db" >"$tmp"

# The app secret has no value until an operator puts one; that is not an error.
if app=$(aws secretsmanager get-secret-value --region "$REGION" --secret-id "$APP_SECRET_ARN" --query SecretString --output text 2>/dev/null); then
  jq -r 'to_entries[] | select(.key | test("^HOMESTEAD_[A-Z0-9_]+$")) | "\(.key)=\(.value | tostring | @json)"' <<<"$app" >>"$tmp"
fi

chmod 0640 "$tmp"
chgrp homestead "$tmp"
if [ "${1:-}" = --if-changed ]; then
  cmp -s "$tmp" /etc/homestead/env && exit 0
  mv "$tmp" /etc/homestead/env
  trap - EXIT
  systemctl try-restart homestead.service
else
  mv "$tmp" /etc/homestead/env
  trap - EXIT
fi
