#!/bin/sh
# The lifecycle suite (tests/system/run.sh): the update lifecycle on a
# real Debian 12 system, booted under QEMU.  BOW_SYS_ONLY="good torn" runs
# some scenarios, BOW_SYS_KERNELS one kernel (tests/README.md).
top=$(cd "$(dirname "$0")/../.." && pwd)
exec sh "$top/tests/system/run.sh" "$@"
