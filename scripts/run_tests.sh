#!/usr/bin/env bash
# The whole test suite in two lanes, one per core of a 2-core CI machine: most of each pytest
# process is single-threaded (tracing, compiling, subprocess start-up), so two at once take about
# half the wall time of the same processes one after another (docs/LAYERS.md, "Backends").
#   lane tensorflow: the TensorFlow suite (everything but tests/tfmot and tests/backends)
#   lane backends:   tests/tfmot (TFMOT switches tf.keras for its whole process, so its own
#                    process), tests/backends (.keras files across backends), then the layer and
#                    model-builder tests (serialisation included) on torch and on JAX
# Each lane's output goes to a log printed when the lane ends; the exit status is non-zero when
# any part of either lane fails. Extra arguments go to every pytest call (e.g. -x, -q).
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)

lane_tensorflow() {
  python -m pytest -p no:cacheprovider tests --ignore=tests/tfmot --ignore=tests/backends "$@"
}
lane_backends() {
  python -m pytest -p no:cacheprovider tests/tfmot "$@" \
    && python -m pytest -p no:cacheprovider tests/backends "$@" \
    && KERAS_BACKEND=torch python -m pytest -p no:cacheprovider tests/layers tests/models "$@" \
    && KERAS_BACKEND=jax python -m pytest -p no:cacheprovider tests/layers tests/models "$@"
}

start=$SECONDS
lane_tensorflow "$@" > "$logs/tensorflow.log" 2>&1 &
tensorflow_pid=$!
lane_backends "$@" > "$logs/backends.log" 2>&1 &
backends_pid=$!

status=0
for lane in tensorflow backends; do
  pid_var="${lane}_pid"
  wait "${!pid_var}"
  rc=$?
  echo "===== lane $lane: exit $rc after $((SECONDS - start)) s (log: $logs/$lane.log) ====="
  cat "$logs/$lane.log"
  [ "$rc" -eq 0 ] || status=1
done
echo "===== test suite: exit $status after $((SECONDS - start)) s ====="
exit "$status"
