#!/bin/sh
# First start of the compose.yaml database: the roles the API needs (README, "Scaling out").
#   timeline_owner  owns the schema and its tables; only migrations connect as it
#   timeline_app    what every replica connects as: SELECT and INSERT on events, no ownership,
#                   so it can neither disable the immutability triggers nor delete
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE timeline_owner LOGIN NOSUPERUSER NOCREATEROLE PASSWORD '${TIMELINE_OWNER_PASSWORD}';
CREATE ROLE timeline_app LOGIN NOSUPERUSER NOCREATEROLE PASSWORD '${TIMELINE_APP_PASSWORD}';
CREATE SCHEMA timeline AUTHORIZATION timeline_owner;
ALTER ROLE timeline_owner SET search_path = timeline;
ALTER ROLE timeline_app SET search_path = timeline;
SQL
