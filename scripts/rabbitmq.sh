#!/usr/bin/env bash
# Starts or stops Debian's rabbitmq-server on 127.0.0.1:5672 (DEPENDENCIES.md §3.8: no systemd, bound to loopback).
#   bash scripts/rabbitmq.sh start    no-op when a broker already answers on the node; waits until it is ready
#   bash scripts/rabbitmq.sh stop     no-op when none runs
#   bash scripts/rabbitmq.sh status   exit 0 when the broker answers
# Needs root (the Debian wrapper drops to user rabbitmq) and the rabbitmq-server package (scripts/install-deps.sh).
set -euo pipefail
# rabbitmqctl runs only as root or rabbitmq: elsewhere go through sudo (non-interactive), as install-deps.sh does.
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    exec sudo -n -E bash "$0" "$@"
fi
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
       ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672 \
       RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
node=rabbit@localhost

answers() { rabbitmqctl -n "$node" -q ping >/dev/null 2>&1; }

require() {
    command -v rabbitmq-server >/dev/null 2>&1 && command -v rabbitmqctl >/dev/null 2>&1 || {
        echo "rabbitmq.sh: rabbitmq-server is not installed; run: bash scripts/install-deps.sh" >&2
        exit 1
    }
}

case "${1:-}" in
    start)
        require
        if answers; then
            echo "rabbitmq.sh: a broker already answers on $node" >&2
            exit 0
        fi
        rabbitmq-server -detached
        # -detached returns at once, and await_startup straight after it fails with "node not running": ping first.
        for _ in $(seq 1 120); do
            answers && break
            sleep 0.5
        done
        rabbitmqctl -n "$node" -q await_startup --timeout 60
        echo "rabbitmq.sh: broker ready on 127.0.0.1:5672 (guest/guest, loopback only)" >&2
        ;;
    stop)
        require
        if answers; then
            rabbitmqctl -n "$node" -q shutdown >/dev/null
        fi
        epmd -kill >/dev/null 2>&1 || true
        echo "rabbitmq.sh: broker stopped" >&2
        ;;
    status)
        require
        answers
        ;;
    *)
        echo "usage: bash scripts/rabbitmq.sh start|stop|status" >&2
        exit 2
        ;;
esac
