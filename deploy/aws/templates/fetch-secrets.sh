#!/bin/bash
# The secrets a Homestead instance reads from Secrets Manager (with its instance role):
#   fetch-secrets bootstrap  at first boot: the master secret that RDS keeps becomes a connection URL, in this
#                            process's environment only (never on disk), for `homestead db-bootstrap`, which
#                            creates or updates Homestead's own role with the app database secret's password.
#   fetch-secrets env        before each start of homestead.service: the HOMESTEAD_* variables of the app
#                            secret into /etc/homestead/env. No database password goes there: Homestead reads
#                            its own from database.password_secret_arn and follows its rotation by itself.
set -euo pipefail
. /etc/homestead/aws.env

secret() {
  aws secretsmanager get-secret-value --region "$REGION" --secret-id "$1" --query SecretString --output text
}

case "${1:-}" in
bootstrap)
  # The cluster may still be coming up on a first apply: a few tries, a minute apart at most.
  for attempt in 1 2 3 4 5 6; do
    master=$(secret "$MASTER_SECRET_ARN")
    url=$(jq -r --arg host "$DB_HOST" --arg port "$DB_PORT" --arg name "$DB_NAME" \
      '"postgres://\(.username | @uri):\(.password | @uri)@\($host):\($port)/\($name)"' <<<"$master")
    if HOMESTEAD_BOOTSTRAP_DATABASE_URL="$url" /opt/homestead/current/bin/homestead db-bootstrap --config /etc/homestead/homestead.yaml; then
      exit 0
    fi
    [ "$attempt" = 6 ] || sleep $((attempt * 10))
  done
  echo "fetch-secrets: homestead db-bootstrap failed 6 times" >&2
  exit 1
  ;;
env)
  tmp=$(mktemp /etc/homestead/.env.XXXXXX)
  trap 'rm -f "$tmp"' EXIT
  # The app secret has no value until an operator puts one; that is not an error.
  if app=$(secret "$APP_SECRET_ARN" 2>/dev/null); then
    jq -r 'to_entries[] | select(.key | test("^HOMESTEAD_[A-Z0-9_]+$")) | "\(.key)=\(.value | tostring | @json)"' <<<"$app" >"$tmp"
  fi
  chmod 0640 "$tmp"
  chgrp homestead "$tmp"
  mv "$tmp" /etc/homestead/env
  trap - EXIT
  ;;
*)
  echo "usage: fetch-secrets bootstrap|env" >&2
  exit 2
  ;;
esac
