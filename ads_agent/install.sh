#!/bin/sh
# Installs the ADS VMManager agent and a lab under one prefix, starts the agent, runs the
# lab's deploy sequence, waits until the lab answers its health probe and exits with the
# deploy's status. Sent by init_vm through SSM Run
# Command and run by the local provider; safe to run again (one agent, the same lab).
#
#   install.sh --prefix DIR --lab-id ID --plan FILE
#              [--source-git URL [--source-ref REF] | --source-archive PATH_OR_URL]
#              [--host H] [--port P] [--lab-port P] [--lab-bind ADDRESS]
#              [--service auto|systemd|background] [--python PATH] [--timeout S]
#              [--healthy-wait S] [--vm-name NAME --vm-role ROLE [--cluster-facts FILE]]
#
# --healthy-wait (default 30): after a deploy that succeeded, at most this many seconds
# until the agent's /health would answer 200 (the plan's health_probe passes); the
# script then exits 0 whether or not it did (ADS's Check Health keeps asking).
# --lab-bind (default 127.0.0.1) and --timeout (seconds per lab command unless the plan's
# timeouts say otherwise) are kept in state/lab.json: every lab command the agent runs,
# now or later under systemd, gets ADS_LAB_BIND and that default timeout. So are a lab of
# several VMs' --vm-name, --vm-role and --cluster-facts (the facts file's path): every
# step and action of the VM runs with ADS_VM_NAME, ADS_VM_ROLE and ADS_CLUSTER_FACTS.
#
# Layout: $PREFIX/agent/ads_agent (this directory), $PREFIX/lab (the lab's sources),
# $PREFIX/state (plan.json, lab.json, history.jsonl, pid files, logs/).
# Exit status: 0 deployed; 2 bad arguments; 3 install failed before the deploy ran;
# otherwise the deploy sequence's status (the failing command's exit status).
#
# POSIX sh on purpose: the local provider runs it with `sh`, which is dash on Debian.
set -eu
umask 022

UNIT_NAME=ads-agent.service
UNIT_PATH=/etc/systemd/system/$UNIT_NAME

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: %s\n' "$*" >&2; }
usage_error() { warn "$*"; warn "usage: install.sh --prefix DIR --lab-id ID --plan FILE [options]; see the header of this script"; exit 2; }
fail() { warn "$*"; exit 3; }

PREFIX='' LAB_ID='' PLAN='' SOURCE_GIT='' SOURCE_REF='' SOURCE_ARCHIVE=''
HOST=0.0.0.0 PORT=9089 LAB_PORT=80 LAB_BIND=127.0.0.1 SERVICE=auto PYTHON='' TIMEOUT='' HEALTHY_WAIT=30
VM_NAME='' VM_ROLE='' CLUSTER_FACTS=''

while [ $# -gt 0 ]; do
    option=$1
    case $option in
        --*=*) value=${option#*=}; option=${option%%=*}; shift ;;
        --prefix|--lab-id|--plan|--source-git|--source-ref|--source-archive|--host|--port|--lab-port|--lab-bind|--service|--python|--timeout|--healthy-wait|--vm-name|--vm-role|--cluster-facts)
            [ $# -ge 2 ] || usage_error "$option: needs a value"
            value=$2; shift 2 ;;
        -h|--help) sed -n '2,25s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) usage_error "$option: unknown option" ;;
    esac
    case $option in
        --prefix) PREFIX=$value ;;
        --lab-id) LAB_ID=$value ;;
        --plan) PLAN=$value ;;
        --source-git) SOURCE_GIT=$value ;;
        --source-ref) SOURCE_REF=$value ;;
        --source-archive) SOURCE_ARCHIVE=$value ;;
        --host) HOST=$value ;;
        --port) PORT=$value ;;
        --lab-port) LAB_PORT=$value ;;
        --lab-bind) LAB_BIND=$value ;;
        --service) SERVICE=$value ;;
        --python) PYTHON=$value ;;
        --timeout) TIMEOUT=$value ;;
        --healthy-wait) HEALTHY_WAIT=$value ;;
        --vm-name) VM_NAME=$value ;;
        --vm-role) VM_ROLE=$value ;;
        --cluster-facts) CLUSTER_FACTS=$value ;;
        *) usage_error "$option: unknown option" ;;
    esac
done

is_port() { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -le 65535 ]; }

[ -n "$PREFIX" ] || usage_error "--prefix: missing; allowed: a directory the agent and lab are installed under"
[ -n "$LAB_ID" ] || usage_error "--lab-id: missing; allowed: the lab id ADS generated"
printf '%s\n' "$LAB_ID" | grep -Eq '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$' ||
    usage_error "--lab-id: found '$LAB_ID'; allowed: lowercase letters, digits and inner hyphens, at most 64 characters"
[ -n "$PLAN" ] || usage_error "--plan: missing; allowed: the deployment plan JSON file"
is_port "$PORT" || usage_error "--port: found '$PORT'; allowed: 0-65535 (0 picks a free port)"
{ is_port "$LAB_PORT" && [ "$LAB_PORT" -ge 1 ]; } || usage_error "--lab-port: found '$LAB_PORT'; allowed: 1-65535"
case $LAB_BIND in ''|*[!0-9A-Fa-f.:]*) usage_error "--lab-bind: found '$LAB_BIND'; allowed: an IP address such as 127.0.0.1 or 0.0.0.0" ;; esac
case $SERVICE in auto|systemd|background) ;; *) usage_error "--service: found '$SERVICE'; allowed: auto, systemd, background" ;; esac
[ -z "$SOURCE_GIT" ] || [ -z "$SOURCE_ARCHIVE" ] || usage_error "--source-git and --source-archive: found both; allowed: at most one"
[ -z "$SOURCE_REF" ] || [ -n "$SOURCE_GIT" ] || usage_error "--source-ref: found without --source-git; allowed only with it"
if [ -n "$TIMEOUT" ]; then
    case $TIMEOUT in ''|*[!0-9.]*) usage_error "--timeout: found '$TIMEOUT'; allowed: seconds per command" ;; esac
fi
case $HEALTHY_WAIT in ''|*[!0-9.]*|*.*.*) usage_error "--healthy-wait: found '$HEALTHY_WAIT'; allowed: seconds (0 or more)" ;; esac

if [ -n "$VM_NAME$VM_ROLE$CLUSTER_FACTS" ]; then
    printf '%s\n' "$VM_NAME" | grep -Eq '^[a-z][a-z0-9-]{0,19}-[0-9]{1,2}$' ||
        usage_error "--vm-name: found '$VM_NAME'; allowed: <role>-<n> such as web-2"
    printf '%s\n' "$VM_ROLE" | grep -Eq '^[a-z][a-z0-9-]{0,19}$' ||
        usage_error "--vm-role: found '$VM_ROLE'; allowed: a role name such as web"
    case $CLUSTER_FACTS in ''|/*) ;; *) usage_error "--cluster-facts: found '$CLUSTER_FACTS'; allowed: an absolute path" ;; esac
fi

if [ -z "$PYTHON" ]; then
    PYTHON=$(command -v python3 || true)
    [ -n "$PYTHON" ] || fail "python3: not found on PATH; install Python 3.9 or newer, or pass --python"
fi
case $PYTHON in
    */*) ;;
    # A bare name (SSM sends `python3`) is resolved now: a systemd unit needs a full path.
    *) PYTHON=$(command -v "$PYTHON" || true); [ -n "$PYTHON" ] || fail "--python: not found on PATH" ;;
esac
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null ||
    fail "--python: '$PYTHON' cannot be run or is older than Python 3.9"

# How the agent will run is decided before anything is written, so a --service that
# cannot work here leaves the machine as it was.
systemd_usable() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 &&
        systemctl show-environment >/dev/null 2>&1
}
if [ "$SERVICE" = auto ]; then
    if systemd_usable && [ "$(id -u)" -eq 0 ]; then SERVICE=systemd; else SERVICE=background; fi
fi
if [ "$SERVICE" = systemd ]; then
    systemd_usable || fail "--service systemd: systemd is not running here; use --service background"
    [ "$(id -u)" -eq 0 ] || fail "--service systemd: needs root to install $UNIT_PATH; use --service background"
fi

absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac; }
mkdir -p "$PREFIX" || fail "--prefix: cannot create '$PREFIX'"
PREFIX=$(cd "$PREFIX" && pwd -P)
PLAN=$(absolute "$PLAN")
case $SOURCE_ARCHIVE in ''|http://*|https://*|s3://*) ;; *) SOURCE_ARCHIVE=$(absolute "$SOURCE_ARCHIVE") ;; esac
case $SOURCE_GIT in /*|*://*|*@*:*|'') ;; *) [ -e "$SOURCE_GIT" ] && SOURCE_GIT=$(absolute "$SOURCE_GIT") ;; esac

if [ "$SERVICE" = systemd ]; then
    for value in "$PYTHON" "$PREFIX" "$HOST"; do
        case $value in *[!A-Za-z0-9_./:-]*) fail "--service systemd: '$value' holds characters a unit file cannot take as is" ;; esac
    done
fi

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd -P)
AGENT_DIR=$PREFIX/agent
LAB_DIR=$PREFIX/lab
STATE_DIR=$PREFIX/state
LOG_DIR=$STATE_DIR/logs
mkdir -p "$AGENT_DIR" "$STATE_DIR" "$LOG_DIR"

# Every Python step runs from the installed copy, so what is tested here is what runs.
agent_python() { (cd "$AGENT_DIR" && "$PYTHON" "$@"); }
support() { agent_python -m ads_agent.install_support "$@"; }

# --- 1. the agent's code --------------------------------------------------------------
if [ "$SCRIPT_DIR" != "$AGENT_DIR/ads_agent" ]; then
    rm -rf "$AGENT_DIR/ads_agent.new" "$AGENT_DIR/ads_agent.old"
    cp -R "$SCRIPT_DIR" "$AGENT_DIR/ads_agent.new"
    find "$AGENT_DIR/ads_agent.new" -name __pycache__ -type d -prune -exec rm -rf {} +
    [ ! -e "$AGENT_DIR/ads_agent" ] || mv "$AGENT_DIR/ads_agent" "$AGENT_DIR/ads_agent.old"
    mv "$AGENT_DIR/ads_agent.new" "$AGENT_DIR/ads_agent"
    rm -rf "$AGENT_DIR/ads_agent.old"
fi

LAB_NAME=$(support check-plan "$PLAN" --copy-to "$STATE_DIR/plan.json") || exit 2

# --- 2. how the agent will run (decided above, before anything was installed) ---------
if [ "$SERVICE" != systemd ] && [ -f "$UNIT_PATH" ] && grep -qF -- "--state-dir $STATE_DIR " "$UNIT_PATH" 2>/dev/null && systemd_usable; then
    # Switching to a background agent: the service for this prefix must not come back.
    systemctl disable --now "$UNIT_NAME" >/dev/null 2>&1 || true
fi

# --- 3. the lab's sources -------------------------------------------------------------
# git gets a config of our own: a user like `nobody` may inherit a HOME it cannot read,
# and git refuses repositories owned by another user (the local provider hands a root-
# owned checkout to `nobody`). The sources were chosen by whoever runs this install, so
# trusting their owner is right here; the user's own global config is still included.
GIT_CONFIG_FILE=$STATE_DIR/gitconfig
{
    printf '[safe]\n\tdirectory = *\n'
    if [ -n "${HOME:-}" ] && [ -r "$HOME/.gitconfig" ]; then
        printf '[include]\n\tpath = %s\n' "$HOME/.gitconfig"
    fi
} >"$GIT_CONFIG_FILE"
git_() {
    if [ -n "${HOME:-}" ] && [ -r "$HOME" ] && [ -x "$HOME" ]; then
        GIT_CONFIG_GLOBAL=$GIT_CONFIG_FILE GIT_TERMINAL_PROMPT=0 git "$@"
    else
        HOME=$STATE_DIR GIT_CONFIG_GLOBAL=$GIT_CONFIG_FILE GIT_TERMINAL_PROMPT=0 git "$@"
    fi
}
if [ -n "$SOURCE_GIT" ]; then
    command -v git >/dev/null 2>&1 || fail "--source-git: git is not installed on this machine"
    SOURCE_KIND=git
    if [ ! -d "$LAB_DIR/.git" ]; then
        rm -rf "$LAB_DIR"
        git_ -c init.defaultBranch=main init -q "$LAB_DIR" || fail "--source-git: cannot create a repository in $LAB_DIR"
        git_ -C "$LAB_DIR" remote add origin "$SOURCE_GIT"
    fi
    git_ -C "$LAB_DIR" remote set-url origin "$SOURCE_GIT"
    if [ -n "$SOURCE_REF" ]; then
        # A branch or tag fetches by name; a commit id may only be reachable after a full fetch.
        if git_ -C "$LAB_DIR" fetch -q --tags origin "$SOURCE_REF" 2>/dev/null; then
            git_ -C "$LAB_DIR" checkout -q --force --detach FETCH_HEAD
        else
            git_ -C "$LAB_DIR" fetch -q --tags origin '+refs/heads/*:refs/remotes/origin/*' ||
                fail "--source-git: cannot fetch from '$SOURCE_GIT'"
            git_ -C "$LAB_DIR" checkout -q --force --detach "$SOURCE_REF" 2>/dev/null ||
                fail "--source-ref: found '$SOURCE_REF'; allowed: a branch, tag or commit of '$SOURCE_GIT'"
        fi
    else
        git_ -C "$LAB_DIR" fetch -q origin HEAD || fail "--source-git: cannot fetch from '$SOURCE_GIT'"
        git_ -C "$LAB_DIR" checkout -q --force --detach FETCH_HEAD
    fi
    REVISION=$(git_ -C "$LAB_DIR" rev-parse HEAD)
elif [ -n "$SOURCE_ARCHIVE" ]; then
    SOURCE_KIND=archive
    REVISION=$(support install-archive "$SOURCE_ARCHIVE" --lab-dir "$LAB_DIR" --state-dir "$STATE_DIR") || exit 3
else
    SOURCE_KIND=none
    REVISION=none
fi
mkdir -p "$LAB_DIR/scripts"
support write-lab --state-dir "$STATE_DIR" --lab-id "$LAB_ID" --lab-port "$LAB_PORT" \
    --lab-bind "$LAB_BIND" ${TIMEOUT:+--command-timeout "$TIMEOUT"} \
    ${VM_NAME:+--vm-name "$VM_NAME" --vm-role "$VM_ROLE"} \
    ${CLUSTER_FACTS:+--cluster-facts "$CLUSTER_FACTS"} \
    --source-kind "$SOURCE_KIND" --source-url "$SOURCE_GIT$SOURCE_ARCHIVE" \
    --source-ref "$SOURCE_REF" --revision "$REVISION"
say "lab ${LAB_NAME:-$LAB_ID} ($LAB_ID): $SOURCE_KIND source at revision $REVISION in $LAB_DIR"

# --- 4. the agent, before the deploy, so /health can tell how the deploy went ----------
# The previous agent keeps answering until here, so a failed fetch leaves it running.
support stop --state-dir "$STATE_DIR"
# The last deploy's outcome is stale from here on: until the deploy below takes over,
# /health reports this script's deploy as running (or failed, should the script die).
printf '{"status": "deploying", "pid": %s, "started": "%s"}\n' "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    >"$STATE_DIR/deploy.json.new"
mv "$STATE_DIR/deploy.json.new" "$STATE_DIR/deploy.json"
if [ "$SERVICE" = systemd ]; then
    sed -e "s|@PYTHON@|$PYTHON|g" -e "s|@AGENT_DIR@|$AGENT_DIR|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@LAB_DIR@|$LAB_DIR|g" -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@LAB_ID@|$LAB_ID|g" "$AGENT_DIR/ads_agent/ads-agent.service.in" >"$UNIT_PATH.new"
    mv "$UNIT_PATH.new" "$UNIT_PATH"
    systemctl daemon-reload
    systemctl enable "$UNIT_NAME" >/dev/null 2>&1
    systemctl restart "$UNIT_NAME" || fail "systemctl restart $UNIT_NAME failed; see journalctl -u $UNIT_NAME"
else
    # nohup: the supervisor outlives this script and the SSM or provider session.
    (
        cd "$AGENT_DIR" &&
            exec nohup "$PYTHON" -m ads_agent supervise --host "$HOST" --port "$PORT" \
                --state-dir "$STATE_DIR" --lab-dir "$LAB_DIR" --log-file "$LOG_DIR/agent.log" \
                </dev/null >>"$LOG_DIR/supervisor.out" 2>&1
    ) &
    echo $! >"$STATE_DIR/supervisor.pid"
fi
# Generous: with many labs starting at once on a small host (the local plane under load,
# a t3.micro still booting), the agent can take tens of seconds to answer; an agent that
# cannot start fails the install after this long, with its log named.
AGENT=$(support wait-agent --state-dir "$STATE_DIR" --timeout "${ADS_AGENT_START_TIMEOUT_S:-90}") || exit 3
set -- $AGENT
say "agent (pid $3, $SERVICE) answering on $1:$2"

# --- 5. the deploy sequence -----------------------------------------------------------
set +e
if [ -n "$TIMEOUT" ]; then
    agent_python -m ads_agent deploy --state-dir "$STATE_DIR" --lab-dir "$LAB_DIR" --timeout "$TIMEOUT"
else
    agent_python -m ads_agent deploy --state-dir "$STATE_DIR" --lab-dir "$LAB_DIR"
fi
status=$?
set -e
if [ "$status" -ne 0 ]; then
    warn "deploy sequence failed (exit $status); the agent keeps answering, its /health says why"
    exit "$status"
fi
# --- 6. until the lab answers its health probe -----------------------------------------
# A start step that launches a server in the background ends before the server listens:
# the script's end (what ADS waits for) comes once /health would answer 200, so that
# ADS's Check Health passes at once. A lab still unhealthy after this long is left to
# Check Health's own retries: the deploy itself succeeded.
if HEALTH=$(support wait-healthy --state-dir "$STATE_DIR" --timeout "$HEALTHY_WAIT"); then
    say "lab $HEALTH"
else
    warn "lab $HEALTH; ADS's Check Health keeps asking"
fi
exit 0
