#!/usr/bin/env bash
# Install bfpdse into a virtual environment: scripts/install.sh [VENV] (default .venv).
#
# Finds a Python >= 3.12 the way a user's machine may offer one: python3.12 or python3.13 on the
# PATH (a pyenv shim counts only if it runs), or a 3.12/3.13 build under pyenv, or $PYTHON.
# EXTRAS (default "dev") names the optional dependencies: EXTRAS=dev,dask scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    local c root
    root=$(pyenv root 2>/dev/null || true)
    for c in "${PYTHON:-}" python3.12 python3.13 python3 \
        ${root:+"$root"/versions/3.12*/bin/python3} ${root:+"$root"/versions/3.13*/bin/python3}; do
        if [ -n "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    echo "bfpdse needs Python >= 3.12 (its ADC energy model, hwcomponents-adc, does); none found" \
         "on the PATH or under pyenv. Install one (e.g. pyenv install 3.12) or set PYTHON=/path/to/python3.12." >&2
    return 1
}

VENV=${1:-.venv}
PY=$(find_python)
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-dev}]"
echo "installed bfpdse with $("$VENV/bin/python" --version) into $VENV; activate it with: . $VENV/bin/activate"
