# dm-bow: the kernel module, bow-restore, and the test entry points.
#
#   make            build dm-bow.ko, bow-restore and bowctl
#   make install    install the tools, units and man pages (DESTDIR)
#   make demo       install what is missing, build, show the story in a VM
#   make check      install what is missing, build, run every test
#   make fuzz       fuzz bow-restore (FUZZ_SECONDS, default 600)
#   make check-debug  the VM tests on a KASAN/lockdep/kmemleak kernel
#   make bench      dm-bow against dm-linear and dm-snapshot (build/bench)
#
# KDIR selects the kernel build tree.  By default: the running kernel's,
# else the newest installed Debian headers under /lib/modules/*/build.

KVER ?= $(shell tests/vm/kernel-version)
KDIR ?= /lib/modules/$(KVER)/build

.PHONY: all module test-module tool install clean demo check deps lint fuzz \
	check-debug bench

all: module tool

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# The module the VM tests load: the same code with the debug_* parameters
# (see Kbuild), in build/test-module.
test-module:
	tests/build-module.sh $(KDIR) $(CURDIR)/build/test-module BOW_TESTING=y

tool:
	$(MAKE) -C bow-restore
	$(MAKE) -C bowctl

# The tools, their man pages, the systemd units and generator (PREFIX,
# DESTDIR as usual).
install: tool
	$(MAKE) -C bow-restore install
	$(MAKE) -C bowctl install

lint: module
	tests/lint.sh

deps:
	tests/install-deps.sh

demo: deps
	$(MAKE) all test-module
	tests/vm/demo.sh

check: deps
	$(MAKE) all test-module
	tests/run-all.sh

check-debug: deps
	$(MAKE) all
	tests/debug-kernel/run.sh

bench: deps
	tests/install-deps.sh bench
	$(MAKE) all test-module
	tests/bench/run.sh

fuzz: deps
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run.sh

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	$(MAKE) -C bow-restore clean
	$(MAKE) -C bowctl clean
