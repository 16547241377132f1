#!/bin/sh
# VM test: state changes refused while the device is suspended (see
# guest/suspended.sh).  The guest checks every outcome itself.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir suspended "$top/tests/vm/guest/suspended.sh"
head -c $((8 << 20)) /dev/urandom > "$work/data.img"

vm_run "$work/console.log" "$work/guest" "$work/data.img"
vm_results "$work/console.log"
