#!/bin/sh
# Entrypoint of the hqueue worker image: `hqueue worker` configured from the environment.
#
#   HQUEUE_URL          required  redis://[user:]password@host:6379/0, rediss:// for TLS
#   HQUEUE_SECRET       required  the secret shared with the driver (or HQUEUE_SECRET_FILE:
#                                 a file holding it, e.g. a mounted Docker/Kubernetes secret)
#   HQUEUE_CONCURRENCY  optional  trials at once per worker process (default 1)
#   HQUEUE_QUEUES       optional  comma-separated queues (default hqueue)
#   HQUEUE_GPUS         optional  one worker process per GPU, e.g. 0,1
#   HQUEUE_POOL         optional  prefork (default), solo or threads
#   HQUEUE_LOGLEVEL     optional  INFO (default), DEBUG, WARNING...
#   HQUEUE_BROKER_URL   optional  the Celery broker when not HQUEUE_URL (Redis or amqp://)
#
# `hqueue worker` reads these variables itself (click envvar=); this script only checks the
# required ones and `exec`s, so the worker replaces it and receives SIGTERM from tini.
# Any other command runs as given: `docker run IMAGE hqueue status`, `docker run IMAGE health`.
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- worker "$@"
fi

case "$1" in
    worker)
        shift
        if [ -z "${HQUEUE_URL:-}" ]; then
            echo "hqueue-entrypoint: set HQUEUE_URL, e.g. -e HQUEUE_URL=redis://:PASSWORD@redis:6379/0" >&2
            exit 64
        fi
        if [ -z "${HQUEUE_SECRET:-}" ] && [ -z "${HQUEUE_SECRET_FILE:-}" ]; then
            echo "hqueue-entrypoint: set HQUEUE_SECRET (the same value as the driver's) or HQUEUE_SECRET_FILE; a container's own key file would never match the driver's" >&2
            exit 64
        fi
        if [ -n "${HQUEUE_SECRET_FILE:-}" ] && [ ! -r "${HQUEUE_SECRET_FILE}" ]; then
            echo "hqueue-entrypoint: HQUEUE_SECRET_FILE=${HQUEUE_SECRET_FILE} is not a readable file: mount the secret there" >&2
            exit 64
        fi
        exec hqueue worker "$@"
        ;;
    health)
        shift
        exec python3 -m hqueue.worker.health "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
