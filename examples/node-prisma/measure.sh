#!/usr/bin/env bash
# examples/node-prisma/measure.sh IMAGE SERVER_URL [RUNS]: the numbers in README.md, for one image.
# Each run: a fresh database on the PostgreSQL server at SERVER_URL (postgres://user:pw@host:port,
# no database; psql creates and drops it), `docker run -d --network host`, then the time from
# the container's start (its .State.StartedAt: what the image does, without the engine's own
# container set-up, which on the vfs storage driver copies the whole image) until the app first
# answers HTTP, then `docker stop` (default 10 s grace) with its time and the container's exit
# code. Prints the image size and one line per run. Needs docker, psql, curl.
set -euo pipefail
export PGOPTIONS='-c client_min_messages=warning'
IMAGE=$1 SERVER=$2 RUNS=${3:-3}
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "$IMAGE: $((size / 1000000)) MB"
for run in $(seq "$RUNS"); do
  db=node_prisma_measure_$run port=$((38000 + run)) name=node-prisma-measure-$$-$run
  psql -X -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  docker run -d --name "$name" --network host -e DATABASE_URL="$SERVER/$db" -e PORT=$port "$IMAGE" >/dev/null
  until answer=$(curl -sf "http://127.0.0.1:$port/"); do
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || { docker logs "$name"; exit 1; }
    sleep 0.02
  done
  answered=$(now)
  start=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$name")" +%s%N)
  docker stop "$name" >/dev/null
  stopped=$(now)
  echo "run $run: first answer ($answer) after $(ms "$start" "$answered") ms; docker stop $(ms "$answered" "$stopped") ms, exit $(docker inspect -f '{{.State.ExitCode}}' "$name")"
  docker rm -f "$name" >/dev/null
  psql -X -q "$SERVER/postgres" -c "DROP DATABASE $db WITH (FORCE)"
done
