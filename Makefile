# dm-bow: the kernel module, bow-restore, and the test entry points.
#
#   make            build dm-bow.ko, bow-restore and bowctl
#   make install    install the tools, units and man pages (DESTDIR)
#   make dkms-source  the module's sources for dkms (DESTDIR)
#   make deb        Debian packages in build/deb, checked by lintian
#   make demo       install what is missing, build, show the story in a VM
#   make check      install what is missing, build, run every test
#   make check-long  make check, with the lifecycle's repeats on 6.12
#   make fuzz       fuzz bow-restore and the module's walks (FUZZ_SECONDS)
#   make check-debug  the VM tests on a KASAN/lockdep/kmemleak kernel
#   make bench      dm-bow against dm-linear and dm-snapshot (build/bench)
#
# KDIR selects the kernel build tree.  By default: the running kernel's,
# else the newest installed Debian headers under /lib/modules/*/build.

KVER ?= $(shell tests/vm/kernel-version)
KDIR ?= /lib/modules/$(KVER)/build

.PHONY: all module test-module tool install install-hooks dkms-source module-sources deb version clean demo check deps lint fuzz \
	check-long check-debug bench

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

# The version is the newest debian/changelog entry's: one place.
VERSION := $(shell sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
DKMS_SRC := $(DESTDIR)/usr/src/dm-bow-$(VERSION)

# The module's sources: Kbuild's objects (one place names them) and the
# headers beside them.
MODULE_SOURCES := Kbuild \
	$(patsubst %.o,%.c,$(shell sed -n 's/^dm-bow-y *+= *//p' Kbuild)) \
	$(sort $(wildcard dm-bow*.h))

module-sources:
	@echo $(MODULE_SOURCES)

# The module's sources and dkms.conf where dkms looks for them; then
# 'dkms install dm-bow/$(VERSION)' builds it for every installed kernel.
dkms-source:
	install -d $(DKMS_SRC)
	install -m 0644 $(MODULE_SOURCES) $(DKMS_SRC)/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf

version:
	@echo $(VERSION)

# Debian packages, dm-bow-dkms and dm-bow-tools, in build/deb, built
# from the files git knows (not those it ignores) with dpkg-buildpackage and checked by lintian.
deb:
	tests/install-deps.sh deb
	rm -rf build/deb
	mkdir -p build/deb/dm-bow-$(VERSION)
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 cp --parents -t build/deb/dm-bow-$(VERSION)
	cd build/deb/dm-bow-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error build/deb/*.changes

# The tools, their man pages, the systemd units and generator, and the
# update clients' hooks (PREFIX, DESTDIR as usual).
install: tool install-hooks
	$(MAKE) -C bow-restore install
	$(MAKE) -C bowctl install

# What RAUC, SWUpdate and Mender call (hooks/, Documentation/
# dm-bow-lifecycle.rst), in $(PREFIX)/lib/dm-bow.
PREFIX ?= /usr
HOOKS := bow-hook rauc-pre-install swupdate-pre-install \
	mender-state-script mender-systemd-boot systemd-boot-slot
install-hooks:
	install -d $(DESTDIR)$(PREFIX)/lib/dm-bow
	install -m 0755 $(addprefix hooks/,$(HOOKS)) $(DESTDIR)$(PREFIX)/lib/dm-bow/
	install -m 0644 hooks/rauc-mark-good.conf $(DESTDIR)$(PREFIX)/lib/dm-bow/

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

check-long: deps
	$(MAKE) all test-module
	BOW_LONG=1 tests/run-all.sh

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
